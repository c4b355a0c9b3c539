using Harness.Images;
using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Rbac;
using Harness.Runs;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Probes;

/// <summary>Options for probing an operator on a cluster.</summary>
public sealed record OperatorProbeOptions
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>
    /// These options with what the environment adds (<c>HARNESS_EGRESS_TARGETS</c>: egress destinations you control),
    /// after those already given. The one path through which every entry point (the xUnit fixture, <c>harness qualify</c>,
    /// scenario files) reads the environment.
    /// </summary>
    /// <exception cref="ArgumentException">HARNESS_EGRESS_TARGETS is malformed (the message names it).</exception>
    public OperatorProbeOptions WithEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        var fromEnvironment = EgressTargetList.Parse(read(EgressTargetList.Variable), read(EgressTargetList.AllowPublicVariable) == "1");
        return this with { ExtraEgressTargets = [.. ExtraEgressTargets, .. fromEnvironment.Where(t => !ExtraEgressTargets.Any(e => e.Name == t.Name))] };
    }

    /// <summary>The vehicle (twin pod by default).</summary>
    public VehicleKind Vehicle { get; init; } = VehicleKind.TwinPod;

    /// <summary>Egress destinations the user gives (addresses they control outside the cluster); handed to the <see cref="EgressVantage"/>, which proves them reachable.</summary>
    public ImmutableArray<EgressTarget> ExtraEgressTargets { get; init; } = [];

    /// <summary>
    /// Destinations outside the cluster the operator is meant to reach (CIDRs, e.g. a cloud API's range): a NetworkPolicy
    /// rule allowing them does not fail the egress check; anything wider still does.
    /// </summary>
    public ImmutableArray<string> AllowedEgressCidrs { get; init; } = [];

    /// <summary><see cref="AllowedEgressCidrs"/> as a set.</summary>
    internal NetworkPolicies.AddressRanges DeclaredEgress => NetworkPolicies.AddressRanges.Parse(AllowedEgressCidrs);

    /// <summary>Namespace used for the "elsewhere" questions (pods, NetworkPolicies in another namespace).</summary>
    public string OtherNamespace { get; init; } = "kube-system";

    /// <summary>Probe ids to leave out.</summary>
    public ImmutableArray<string> SkipProbes { get; init; } = [];

    /// <summary>Expectation overrides by probe id: true for allowed, false for denied.</summary>
    public ImmutableDictionary<string, bool> ExpectAllowed { get; init; } = ImmutableDictionary<string, bool>.Empty;

    /// <summary>
    /// A directory the operator must be able to write (its emptyDir), probed as required access. Null (the default): the
    /// first writable emptyDir the operator's container mounts, if any; an operator that mounts none writes nowhere, and
    /// that is not a failure. The filesystem probes' control never depends on it (it writes where the harness knows it can).
    /// </summary>
    public string? WritableDirectory { get; init; }

    /// <summary>
    /// The operator's uid when its image's USER decides it and it cannot be learned (a manual override); with
    /// <see cref="ImageGroup"/> and <see cref="ImageGroups"/> it replaces the identity the vehicle would learn.
    /// </summary>
    public long? ImageUser { get; init; }

    /// <summary>The operator's primary gid, with <see cref="ImageUser"/> (default: equal to it).</summary>
    public long? ImageGroup { get; init; }

    /// <summary>The operator's supplementary groups, with <see cref="ImageUser"/>.</summary>
    public ImmutableArray<long> ImageGroups { get; init; } = [];

    /// <summary>The identity given by <see cref="ImageUser"/>, or null.</summary>
    internal ContainerIdentity? GivenIdentity => ImageUser is { } uid
        ? new ContainerIdentity(uid, ImageGroup ?? uid, [.. ImageGroups.Append(ImageGroup ?? uid).Distinct().Order()], "given: imageUser")
        : null;

    /// <summary>Directories that must refuse writes with EROFS; null for <c>/</c>, <c>/etc</c>, <c>/usr</c> (and the probe image's world-writable canary where the probe image is the root filesystem).</summary>
    public ImmutableArray<string>? ReadOnlyPaths { get; init; }

    /// <summary>Capabilities the bounding set may keep; default NET_BIND_SERVICE (what restricted allows adding).</summary>
    public ImmutableArray<string> AllowedCapabilities { get; init; } = ["CAP_NET_BIND_SERVICE"];

    /// <summary>Timeout of filesystem, process and kernel steps, in milliseconds.</summary>
    public int LocalTimeoutMs { get; init; } = 5000;

    /// <summary>Timeout of network steps (a dropped connection takes this long to be classified), in milliseconds.</summary>
    public int NetworkTimeoutMs { get; init; } = 3000;

    /// <summary>
    /// How long a network plugin may take to enforce the policies of a pod that has just started, in milliseconds (default
    /// 10000). Kubernetes lets a new pod run unprotected until its plugin has programmed the policies that select it: an
    /// egress denial probe that was allowed while the policies in force deny it is repeated until the observation matches,
    /// within this window, and the pass says how long enforcement took; an attempt still allowed after it is the failure
    /// it is. With the outside open by the policies, nothing is repeated. 0 turns the repetition off.
    /// </summary>
    public int EnforcementWindowMs { get; init; } = 10000;

    /// <summary>
    /// The operator's declared rights (a rights file, <c>harness rights lock</c>): on a cluster, the <c>rights-declared</c>
    /// item checks its account against it (every binding that reaches it); without one the item is untested.
    /// </summary>
    public Rbac.OperatorRights? DeclaredRights { get; init; }

    /// <summary>
    /// How long to wait for the operator to act on its custom resources before taking the payload inventory (seconds,
    /// default 60); the inventory ends earlier once what it created stops changing.
    /// </summary>
    public int PayloadWaitSeconds { get; init; } = 60;

    /// <summary>
    /// The operator's field managers (<c>metadata.managedFields[].manager</c>), when known. More are learned from what its
    /// custom resources own; give them for an operator that sets no owner references.
    /// </summary>
    public ImmutableArray<string> PayloadFieldManagers { get; init; } = [];

    /// <summary>The standard catalog's options for these settings, egress to <paramref name="targets"/>, as seen through <paramref name="vehicle"/>.</summary>
    /// <exception cref="ArgumentException">A path is not absolute, a timeout is not positive, or a capability is unknown.</exception>
    public StandardProbeOptions StandardOptions(IEnumerable<EgressTarget> targets, VehicleKind vehicle, bool includeKubernetesApi = true) =>
        StandardOptions(targets, vehicle, includeKubernetesApi, null, null);

    /// <summary>As <see cref="StandardOptions(IEnumerable{EgressTarget}, VehicleKind, bool)"/>, with the writable directory derived from the operator's container when not set.</summary>
    internal StandardProbeOptions StandardOptions(IEnumerable<EgressTarget> targets, VehicleKind vehicle, bool includeKubernetesApi, k8s.Models.V1PodSpec? pod, string? container)
    {
        ArgumentNullException.ThrowIfNull(targets);
        Validate();
        // The canary is a directory of the probe image: only where the probe image is the root filesystem.
        ImmutableArray<string> defaultPaths = vehicle.HasProbeRootfs() ? ["/", "/etc", "/usr", ProbeImageLayout.RootfsCanary] : ["/", "/etc", "/usr"];
        return new StandardProbeOptions
        {
            EgressTargets = [.. targets],
            IncludeKubernetesApi = includeKubernetesApi,
            OtherNamespace = OtherNamespace,
            WritableDirectory = WritableDirectory ?? (pod is null ? null : WritableMount(pod, container)),
            ControlDirectory = vehicle == VehicleKind.TwinPod ? ProbeImageLayout.Scratch : "/dev/shm",
            ReadOnlyPaths = ReadOnlyPaths ?? defaultPaths,
            AllowedCapabilities = AllowedCapabilities,
            LocalTimeoutMs = LocalTimeoutMs,
            NetworkTimeoutMs = NetworkTimeoutMs,
        };
    }

    /// <summary>The first writable emptyDir mount of the container (<c>/tmp</c> first), or null. Pure.</summary>
    internal static string? WritableMount(k8s.Models.V1PodSpec pod, string? container)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var c = container is null ? pod.Containers?.FirstOrDefault() : pod.Containers?.FirstOrDefault(x => x.Name == container);
        var emptyDirs = (pod.Volumes ?? []).Where(v => v.EmptyDir is not null).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        var mounts = (c?.VolumeMounts ?? []).Where(m => m.ReadOnlyProperty != true && emptyDirs.Contains(m.Name)).Select(m => m.MountPath).ToList();
        return mounts.FirstOrDefault(m => m == "/tmp") ?? mounts.FirstOrDefault();
    }

    /// <summary>Checks the settings; the message names the setting.</summary>
    /// <exception cref="ArgumentException">A path is not absolute, a timeout is not positive, or a capability is unknown.</exception>
    public void Validate()
    {
        if (WritableDirectory is not null && !WritableDirectory.StartsWith('/'))
        {
            throw new ArgumentException($"writableDirectory must be an absolute path, got '{WritableDirectory}'.");
        }
        if (ReadOnlyPaths is { } paths && paths.FirstOrDefault(p => !p.StartsWith('/')) is { } relative)
        {
            throw new ArgumentException($"readOnlyPaths must hold absolute paths, got '{relative}'.");
        }
        if (AllowedEgressCidrs.FirstOrDefault(c => !NetworkPolicies.AddressRanges.TryParse(c, out _)) is { } bad)
        {
            throw new ArgumentException($"allowedEgressCidrs: '{bad}' is not a CIDR (such as 203.0.113.0/24).");
        }
        if (PayloadWaitSeconds <= 0)
        {
            throw new ArgumentException($"payloadWaitSeconds must be positive, got {PayloadWaitSeconds}.");
        }
        if (EnforcementWindowMs < 0)
        {
            throw new ArgumentException($"enforcementWindowMs must be 0 or more, got {EnforcementWindowMs}.");
        }
        if (LocalTimeoutMs <= 0 || NetworkTimeoutMs <= 0)
        {
            throw new ArgumentException($"localTimeoutMs and networkTimeoutMs must be positive, got {LocalTimeoutMs} and {NetworkTimeoutMs}.");
        }
        try
        {
            _ = Capabilities.MaskOf(AllowedCapabilities);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"allowedCapabilities: {e.Message}", e);
        }
    }

    /// <summary>Applies <see cref="SkipProbes"/> and <see cref="ExpectAllowed"/> to a plan.</summary>
    public ProbePlan Adjust(ProbePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var adjusted = plan.Where(p => !SkipProbes.Contains(p.Id));
        foreach (var (id, allowed) in ExpectAllowed)
        {
            if (adjusted.Probes.FirstOrDefault(p => p.Id == id) is { } probe)
            {
                // Turned to "denied": the probe's own mechanisms, or the named ones its reading can prove; never "any error".
                var expectation = allowed ? Expectation.Allowed()
                    : probe.Expectation.ExpectDenied ? probe.Expectation
                    : Expectation.DeniedByDefaultFor(probe.Interpretation);
                adjusted = adjusted.With(probe with { Expectation = expectation });
            }
        }
        return adjusted;
    }
}

/// <summary>Everything learned about one operator on a cluster.</summary>
/// <param name="Target">The operator.</param>
/// <param name="Probes">Probe results from inside its security context.</param>
/// <param name="Access">The SubjectAccessReview answers for its ServiceAccount.</param>
/// <param name="UnpinnedImages">Images not pinned by digest.</param>
public sealed record OperatorHardeningReport(OperatorTarget Target, ProbeRunReport Probes, ImmutableArray<AccessAnswer> Access, ImmutableArray<string> UnpinnedImages)
{
    /// <summary>What the egress verdicts do not prove (an in-cluster sink); part of the egress check's evidence.</summary>
    public ImmutableArray<string> EgressCaveats { get; init; } = [];

    /// <summary>
    /// What the NetworkPolicies in force let the operator's pod reach outside the cluster; with the probes, it decides the
    /// egress check. Null when not analysed: then an egress pass is Inconclusive.
    /// </summary>
    public NetworkPolicies.EgressReach? EgressPolicy { get; init; }

    /// <summary>How long each phase took.</summary>
    public ImmutableArray<PhaseTiming> Timings { get; init; } = [];

    /// <summary>What the operator created for its custom resources and the verdict on it; null when not inventoried (no cluster).</summary>
    public Payload.PayloadReport? Payload { get; init; }

    /// <summary>Secrets the running pod mounts that are another ServiceAccount's token (from the API server); they fail the token check.</summary>
    public ImmutableArray<Preflight.Finding> ForeignTokens { get; init; } = [];

    /// <summary>A finding as one evidence line: <c>subject message (ID)</c>.</summary>
    internal static string FindingLine(Preflight.Finding finding) => $"{finding.Subject} {finding.Message} ({finding.Id})";

    /// <summary>The operator's webhook TLS as checked from the cluster vantage; null when not checked (no cluster).</summary>
    public Webhooks.WebhookTlsReport? WebhookTls { get; init; }

    /// <summary>The operator's account against its declared rights on the cluster; null when not checked (no cluster).</summary>
    public Rbac.DeclaredRightsReport? DeclaredRights { get; init; }

    /// <summary>
    /// PodSecurity admission refused the operator's pods (its own, or the twin cloned from its spec): the checks the refusal
    /// names fail with the server's words, and the probes did not run. Null when nothing was refused.
    /// </summary>
    public Verdicts.PodSecurityRefusal? PodSecurityRefusal { get; init; }

    /// <summary>The outcome of one check.</summary>
    public CheckOutcome this[HardeningCheck check]
    {
        get
        {
            if (PodSecurityRefusal is { } refusal && refusal.Checks.Contains(check))
            {
                var probed = CheckOutcome.Of(check, Probes.Results, Access);
                return new CheckOutcome(check, ProbeStatus.Failed, [refusal.Evidence, .. probed.Tested ? probed.Evidence : []]) { Tested = true };
            }
            if (check is HardeningCheck.PayloadSeparated or HardeningCheck.WebhookTlsVerified or HardeningCheck.RightsDeclared)
            {
                (ILiveCheckReport? live, string name) = check switch
                {
                    HardeningCheck.PayloadSeparated => ((ILiveCheckReport?)Payload, "payload inventory"),
                    HardeningCheck.WebhookTlsVerified => (WebhookTls, "webhook TLS check"),
                    _ => (DeclaredRights, "declared-rights check"),
                };
                return live is not null
                    ? new CheckOutcome(check, live.Status, live.Evidence) { Tested = live.Tested }
                    : new CheckOutcome(check, ProbeStatus.Inconclusive, [$"no {name} ran (it needs a cluster)"]) { Tested = false };
            }
            var outcome = CheckOutcome.Of(check, Probes.Results, Access);
            if (check == HardeningCheck.TokenBound && !ForeignTokens.IsEmpty)
            {
                outcome = outcome with
                {
                    Status = ProbeStatus.Failed,
                    Evidence = [.. outcome.Evidence, .. ForeignTokens.Select(f => $"on the cluster: {FindingLine(f)}")],
                    Tested = true,
                };
            }
            if (check != HardeningCheck.EgressDenied)
            {
                return outcome;
            }
            outcome = EgressPolicyVerdict.Combine(outcome, EgressPolicy);
            return EgressCaveats.IsEmpty ? outcome : outcome with { Evidence = [.. outcome.Evidence, .. EgressCaveats.Select(c => "caveat: " + c)] };
        }
    }

    /// <summary>The mission's four checks.</summary>
    public ImmutableArray<CheckOutcome> Mission => [.. CheckOutcome.Mission.Select(c => this[c])];

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Target.Workload} in {Target.Namespace} ({Probes.Vehicle}): {string.Join(", ", Mission.Select(m => $"{m.Check} {m.Status}"))}; {PhaseClock.Format(Timings)}";
}
