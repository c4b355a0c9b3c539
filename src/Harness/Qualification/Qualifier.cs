// Qualification: a run turned into a checklist, a verdict with exit code, waivers and the four report formats.
using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Preflight;
using Harness.Probes;
using Harness.Rbac;
using Harness.Runs;
using Harness.ServiceAccounts;
using Harness.Vehicles;
using Harness.Webhooks;

namespace Harness.Qualification;

/// <summary>Where to qualify: an existing cluster, a fresh kind cluster, or (without a cluster) the docker vehicle.</summary>
public sealed record QualifyRequest
{
    /// <summary>The scenario (from a file or from command-line flags).</summary>
    public required QualificationScenario Scenario { get; init; }

    /// <summary>Existing cluster: kubeconfig.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>Existing cluster: context.</summary>
    public string? Context { get; init; }

    /// <summary>Create a kind cluster instead of using an existing one.</summary>
    public bool CreateKind { get; init; }

    /// <summary>Existing cluster: the probe image as it can pull it.</summary>
    public string? ProbeImage { get; init; }

    /// <summary>Existing cluster: the command that loads local images onto its nodes (<see cref="ClusterOptions.ImageLoader"/>).</summary>
    public string? ImageLoader { get; init; }

    /// <summary>Existing cluster: the Docker network beside it, where the egress sink runs (<see cref="ClusterOptions.DockerNetwork"/>).</summary>
    public string? DockerNetwork { get; init; }

    /// <summary>Where cosign is looked for (PATH by default).</summary>
    public string? SearchPath { get; init; } = Environment.GetEnvironmentVariable("PATH");
}

/// <summary>
/// Qualifies an operator: one <see cref="OperatorRun"/> (on a fresh kind cluster, an existing cluster, or locally with
/// the docker vehicle), then the checklist and the report. The CLI's <c>qualify</c> command is a thin layer over it.
/// </summary>
public static class Qualifier
{
    /// <summary>The harness version in reports.</summary>
    public const string Version = "0.1.0";

    /// <summary>Runs the scenario. Progress goes to <paramref name="log"/>, one line per step and per probe.</summary>
    /// <exception cref="PrerequisiteException">Docker, a cluster, a kubeconfig, the probe image is missing.</exception>
    /// <exception cref="ManifestException">A manifest cannot be read.</exception>
    /// <exception cref="TargetNotFoundException">The operator is not there.</exception>
    public static async Task<QualificationReport> RunAsync(QualifyRequest request, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        var scenario = request.Scenario;
        var session = new RunSession(log, ct: ct);
        await session.LogAsync($"session {session.Id} (every object and container of this run carries the label {Runs.SessionLabels.Session}={session.Id})").ConfigureAwait(false);
        if (!scenario.Vehicle.OnCluster())
        {
            await session.LogAsync($"qualifying {scenario.Deployment ?? scenario.Selector} from {string.Join(", ", scenario.Manifests)} with the docker vehicle (no cluster)").ConfigureAwait(false);
            var result = await OperatorRun.Local(Lookup(scenario), scenario.ProbeOptions()).RunAsync(session).ConfigureAwait(false);
            return await ReportAsync(request, result, "docker (local approximation, no cluster)",
                ["ServiceAccountCannotReadSecrets and the access matrix need a cluster; they are not part of a docker-vehicle verdict"], session).ConfigureAwait(false);
        }

        await using var cluster = await ConnectAsync(request, session).ConfigureAwait(false);
        try
        {
            return await QualifyOnClusterAsync(cluster, request, session).ConfigureAwait(false);
        }
        catch
        {
            cluster.MarkFailed();
            throw;
        }
    }

    /// <summary>
    /// The cluster a request names, connected (or created) and verified beside what follows: the deploy, the vantage and
    /// the twin pod do not wait for the canaries; the verdict does. On a cluster it did not create, the harness first asks
    /// whether this credential holds every right the run needs, and names the mode and the missing rule before anything
    /// is created (issue #27 item 4).
    /// </summary>
    internal static async Task<HarnessCluster> ConnectAsync(QualifyRequest request, RunSession session, IReadOnlyList<ManifestDocument>? alsoApplied = null)
    {
        var (log, ct) = (session.Log, session.Cancellation);
        var options = request.CreateKind
            ? ClusterOptions.ForKind() with { SessionId = session.Id }
            : ClusterOptions.ForExisting(request.Kubeconfig, request.Context) with { SessionId = session.Id, ProbeImage = request.ProbeImage, ImageLoader = request.ImageLoader, DockerNetwork = request.DockerNetwork };
        await session.LogAsync(request.CreateKind ? "creating a kind cluster and verifying it" : $"connecting to {request.Context ?? "the current context"} ({options.ResolveKubeconfig()}) and verifying it").ConfigureAwait(false);
        var modes = await ModesAsync(request.Scenario, options.Verify, log, alsoApplied).ConfigureAwait(false);
        return await session.Clock.TimeAsync(RunPhase.Cluster,
            () => HarnessCluster.StartAsync(HarnessCluster.BuiltInProvider.For(options.Provider), options, log, ct, verifyBeside: session.Clock,
                precheck: (client, t) => SelfRights.RequireAsync(client, modes, t))).ConfigureAwait(false);
    }

    /// <summary>The modes a qualification on a cluster runs in, with the rights each needs (<see cref="SelfRights.For"/>).</summary>
    internal static async Task<ImmutableArray<(HarnessMode Mode, ImmutableArray<SelfRight> Rights)>> ModesAsync(QualificationScenario scenario, bool verify, TextWriter log, IReadOnlyList<ManifestDocument>? alsoApplied = null)
    {
        List<ManifestDocument> manifests = scenario.Manifests.IsEmpty ? [] : (await OperatorDeployment.LoadManifestsAsync(scenario.Manifests, scenario.Helm, TextWriter.Null).ConfigureAwait(false)).Documents;
        manifests = [.. manifests, .. alsoApplied ?? []];
        var ns = scenario.Manifests.IsEmpty ? scenario.Namespace ?? "default" : scenario.Namespace;
        var modes = new List<HarnessMode> { scenario.Manifests.IsEmpty ? HarnessMode.Find : HarnessMode.Deploy };
        if (verify)
        {
            modes.Add(HarnessMode.Verification);
        }
        if (manifests.Any(d => d.Kind == "CustomResourceDefinition"))
        {
            modes.Add(HarnessMode.Payload);
        }
        if (manifests.Any(d => d.Kind is "ValidatingWebhookConfiguration" or "MutatingWebhookConfiguration"))
        {
            modes.Add(HarnessMode.WebhookTls);
        }
        await log.WriteLineAsync($"rights: checking this credential for mode{(modes.Count > 1 ? "s" : "")} {string.Join(", ", modes.Select(SelfRights.Name))} before anything is created").ConfigureAwait(false);
        return [.. modes.Select(m => (m, SelfRights.For(m, ns, manifests)))];
    }

    /// <summary>Qualifies on a cluster the caller already has (the xUnit layer's, for data-driven scenario tests).</summary>
    public static Task<QualificationReport> RunOnClusterAsync(HarnessCluster cluster, QualificationScenario scenario, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(log);
        return QualifyOnClusterAsync(cluster, new QualifyRequest { Scenario = scenario }, new RunSession(log, ct: ct));
    }

    /// <summary>The run a scenario asks for on a cluster: deploy from its manifests, or find the operator already there. Pure.</summary>
    /// <exception cref="ArgumentException">Manifests without a Deployment name, the docker vehicle, or invalid probe settings.</exception>
    public static OperatorRun Plan(HarnessCluster cluster, QualificationScenario scenario)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(scenario);
        var options = scenario.ProbeOptions();
        return scenario.Manifests.IsEmpty
            ? OperatorRun.Find(cluster, Lookup(scenario), options)
            : OperatorRun.Deploy(cluster, new OperatorSpec
            {
                Manifests = scenario.Manifests,
                Workload = scenario.Deployment ?? throw new ArgumentException("deploying from manifests needs operator.deployment"),
                Container = scenario.Container,
                LocalImages = scenario.LocalImages,
                Namespace = scenario.Namespace,
                Helm = scenario.Helm,
            }, options);
    }

    internal static async Task<QualificationReport> QualifyOnClusterAsync(HarnessCluster cluster, QualifyRequest request, RunSession session)
    {
        var result = await Plan(cluster, request.Scenario).RunAsync(session).ConfigureAwait(false);
        var verified = cluster.Verification is { } v ? new[] { $"verified: {v.PodSecurity}", $"verified: {v.NetworkPolicy}" } : [];
        return await ReportAsync(request, result, $"{cluster.Provider} {cluster.Name}", verified, session).ConfigureAwait(false);
    }

    private static OperatorLookup Lookup(QualificationScenario scenario) => new()
    {
        Namespace = scenario.Namespace,
        Deployment = scenario.Deployment,
        Selector = scenario.Selector,
        Container = scenario.Container,
        Manifests = scenario.Manifests,
        Helm = scenario.Helm,
    };

    /// <summary>What the cluster showed besides the probes: another account's mounted token; each item a PodSecurity refusal names. Pure.</summary>
    internal static ImmutableDictionary<HardeningItem, ImmutableArray<string>> ClusterFindings(OperatorHardeningReport hardening)
    {
        var findings = ImmutableDictionary<HardeningItem, ImmutableArray<string>>.Empty;
        if (!hardening.ForeignTokens.IsEmpty)
        {
            findings = findings.Add(HardeningItem.ServiceAccountToken, [.. hardening.ForeignTokens.Select(OperatorHardeningReport.FindingLine)]);
        }
        if (hardening.PodSecurityRefusal is { } refusal)
        {
            foreach (var item in refusal.Items)
            {
                findings = findings.SetItem(item, findings.TryGetValue(item, out var had) ? had.Add(refusal.Evidence) : [refusal.Evidence]);
            }
        }
        return findings;
    }

    private static async Task<QualificationReport> ReportAsync(QualifyRequest request, OperatorRunResult result, string where, IEnumerable<string> notes, RunSession session)
    {
        var (hardening, op) = (result.Report, result.Operator);
        var inputs = await InputsAsync(request, op, session.Cancellation).ConfigureAwait(false) with
        {
            Payload = hardening.Payload,
            WebhookTls = hardening.WebhookTls,
            DeclaredRights = hardening.DeclaredRights,
            EgressPolicy = hardening.EgressPolicy,
            ClusterFindings = ClusterFindings(hardening),
        };
        if (result.Approximation is { } approximation)
        {
            inputs = inputs with
            {
                Approximations = ImmutableDictionary<string, string>.Empty.Add("egress-default-deny", approximation)
                    .Add(HardeningItem.RightsDeclared.Id(), "the manifests' RBAC against the rights file; on a cluster, every binding that reaches the account counts"),
            };
        }
        var report = new QualificationReport(
            new QualificationContext($"{op.Target.Workload} in {op.Target.Namespace}", where, hardening.Probes.Vehicle, Version),
            session.Started, session.Time.GetUtcNow() - session.Started,
            Checklist.Build(hardening.Probes.Results, hardening.Access, inputs), hardening.Mission, [.. hardening.Probes.Results], hardening.Access,
            [.. op.InputNotes, .. hardening.Probes.Notes, .. hardening.EgressCaveats, .. notes])
        {
            Timings = hardening.Timings,
            Waived = request.Scenario.Waive,
            Approximation = result.Approximation is null ? null : "docker vehicle, no cluster",
        };
        await session.LogAsync($"timings: {PhaseClock.Format(report.Timings)}").ConfigureAwait(false);
        await session.LogAsync(report.Verdict).ConfigureAwait(false);
        return report;
    }

    /// <summary>What the checklist needs besides the probes, for the images the operator runs (as deployed, or as declared).</summary>
    private static async Task<ChecklistInputs> InputsAsync(QualifyRequest request, OperatorUnderTest op, CancellationToken ct)
    {
        var scenario = request.Scenario;
        var (signatures, skipped) = await ImagePolicy.VerifyAsync(op.Images, scenario.CosignKey, request.SearchPath, ct).ConfigureAwait(false);
        var rbac = RbacModel.From(op.Manifests, op.Target.Namespace);
        var errors = TokenExposureAnalyzer.Analyze(op.Manifests, rbac, op.Target.Namespace).ToList();
        errors.AddRange(WebhookAnalyzer.Analyze(op.Manifests, op.Target.Namespace));
        if (op.WorkloadDocument is { } workload && PodTemplates.TryGet(workload.Object, out _, out var spec))
        {
            var account = new ServiceAccountRef(workload.Namespace ?? op.Target.Namespace, string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName);
            errors.AddRange(RbacAnalyzer.Analyze(rbac, account));
        }
        var findings = errors.Where(f => f.Severity == FindingSeverity.Error)
            .Select(f => (Item: ItemOf(f.Id), Line: $"{f.Subject} {f.Message} ({f.Id}, {f.Location})"))
            .Where(f => f.Item is not null)
            .GroupBy(f => f.Item!.Value)
            .ToImmutableDictionary(g => g.Key, g => g.Select(f => f.Line).ToImmutableArray());
        return new ChecklistInputs(op.NamespaceEnforce, [.. op.UnpinnedImages.Order(StringComparer.Ordinal)], signatures, skipped)
        {
            RequireDigest = scenario.RequireDigest,
            ManifestFindings = findings,
        };
    }

    /// <summary>The checklist item a manifest finding counts against, if any.</summary>
    private static HardeningItem? ItemOf(string findingId) =>
        findingId == RbacAnalyzer.WebhookPatch ? HardeningItem.WebhookCaPatch
        : RbacAnalyzer.QuarantineFindings.Contains(findingId) ? HardeningItem.ApiQuarantine
        : findingId is TokenExposureAnalyzer.LegacyToken or TokenExposureAnalyzer.ForeignToken ? HardeningItem.ServiceAccountToken
        : findingId is RbacAnalyzer.PodsElsewhere or RbacAnalyzer.WorkloadsElsewhere ? HardeningItem.PayloadSeparation
        : findingId is WebhookAnalyzer.ServiceMissing or WebhookAnalyzer.PortMissing or WebhookAnalyzer.CaBundleMissing ? HardeningItem.WebhookTls
        : null;
}
