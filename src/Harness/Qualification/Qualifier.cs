using System.Collections.Immutable;
using System.Security.Cryptography;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Images;
using Harness.Kubernetes;
using Harness.Manifests;
using Harness.NetworkPolicies;
using Harness.Preflight;
using Harness.Probes;
using Harness.Processes;
using Harness.Rbac;
using Harness.Runs;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s;
using k8s.Models;

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

    /// <summary>Where cosign is looked for (PATH by default).</summary>
    public string? SearchPath { get; init; } = Environment.GetEnvironmentVariable("PATH");
}

/// <summary>Runs a qualification and builds its report. The CLI's <c>qualify</c> command is a thin layer over it.</summary>
public static class Qualifier
{
    /// <summary>The harness version in reports.</summary>
    public const string Version = "0.1.0";

    /// <summary>Runs the scenario. Progress goes to <paramref name="log"/>, one line per step and per probe.</summary>
    /// <exception cref="PrerequisiteException">Docker, a cluster, a kubeconfig, the probe image is missing.</exception>
    /// <exception cref="ManifestException">A manifest cannot be read.</exception>
    /// <exception cref="TargetNotFoundException">The operator is not there.</exception>
    public static Task<QualificationReport> RunAsync(QualifyRequest request, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        return request.Scenario.Vehicle == "docker" ? RunDockerAsync(request, log, ct) : RunClusterAsync(request, log, ct);
    }

    private static async Task<QualificationReport> RunDockerAsync(QualifyRequest request, TextWriter log, CancellationToken ct)
    {
        var scenario = request.Scenario;
        var started = DateTimeOffset.UtcNow;
        if (scenario.Manifests.IsEmpty)
        {
            throw new ArgumentException("the docker vehicle reads the operator's pod spec from its manifests: give operator.manifests (or --manifests).");
        }
        var documents = scenario.Manifests.SelectMany(ManifestLoader.LoadPath).ToList();
        var workload = FindWorkload(documents, scenario);
        PodTemplates.TryGet(workload.Object, out var templateMeta, out var spec);
        var ns = workload.Namespace ?? scenario.Namespace ?? "default";
        var container = TargetDiscovery.ChooseContainer(spec!, templateMeta, scenario.Container, workload.DisplayName);
        await log.WriteLineAsync($"[1/4] {workload.DisplayName} from {string.Join(", ", scenario.Manifests)}: probing container \"{container}\" with the docker vehicle").ConfigureAwait(false);

        var docker = await HarnessCluster.ConnectDockerAsync(null, "The docker vehicle runs the pod spec in a local container.", ct).ConfigureAwait(false);
        await using (docker.ConfigureAwait(false))
        {
            string image;
            try
            {
                image = await ProbeImage.BuildAsync(docker, ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
            }
            catch (FileNotFoundException e)
            {
                throw new PrerequisiteException("probe agent", e.Message, "Build it with `bash eng/build-probe.sh`.", e);
            }
            var clock = new PhaseClock();
            var podNet = await docker.CreateNetworkAsync("qualify-pod", isolated: true, ct).ConfigureAwait(false);
            var sinkNet = await docker.CreateNetworkAsync("qualify-sink", isolated: true, ct).ConfigureAwait(false);
            await using var sink = await clock.TimeAsync(RunPhase.Sink, () => EgressSink.StartAsync(docker, image, sinkNet, ct: ct)).ConfigureAwait(false);
            await using var outside = await DockerVehicle.StartAsync(docker, new ContainerRunSpec { Image = image, Networks = [sinkNet] }, "outside", ct).ConfigureAwait(false);
            // NetworkPolicy is approximated from the manifests: egress open (no default deny) puts the pod on the sink's network.
            var netpol = NetworkPolicyAnalyzer.Analyze(documents, workload, ns);
            var egressOpen = netpol.Any(f => f.Id is "NETPOL-EGRESS-OPEN" or "NETPOL-EGRESS-ANY");
            var runSpec = ContainerRunSpec.FromPodSpec(spec!, container, image) with { Networks = egressOpen ? [podNet, sinkNet] : [podNet] };
            await using var vehicle = await clock.TimeAsync(RunPhase.Vehicle, () => DockerVehicle.StartAsync(docker, runSpec, ct: ct)).ConfigureAwait(false);
            await log.WriteLineAsync($"[2/4] sink at {sink.Target.Address}; egress {(egressOpen ? "open (no default-deny policy in the manifests)" : "default-deny (per the manifests' NetworkPolicies)")}").ConfigureAwait(false);

            var options = scenario.ProbeOptions("docker");
            // The probe image is the container's root filesystem, as in a twin pod.
            var plan = options.Adjust(StandardProbes.Create(options.StandardOptions([sink.Target, sink.HttpsTarget, .. scenario.EgressTargets], ClusterVehicleKind.TwinPod, includeKubernetesApi: false)));
            var probes = await clock.TimeAsync(RunPhase.Probes, () => ProbeRunner.RunAsync(plan, vehicle, outside, ct: ct)).ConfigureAwait(false);
            await PrintProbesAsync(log, probes).ConfigureAwait(false);

            var images = documents.Select(d => PodTemplates.TryGet(d.Object, out _, out var s) ? s : null).Where(s => s is not null).SelectMany(s => Pods.Images(s!)).Distinct(StringComparer.Ordinal).ToList();
            var inputs = await InputsAsync(request, documents, workload, ns, images, ManifestNamespaceEnforce(documents, workload.Namespace ?? ns), ct).ConfigureAwait(false);
            // All four checks, the untested one included: a report never drops a check it could not test.
            var mission = CheckOutcome.Mission.Select(c => CheckOutcome.Of(c, probes.Results)).ToImmutableArray();
            inputs = inputs with
            {
                Approximations = ImmutableDictionary<string, string>.Empty.Add("egress-default-deny",
                    $"NetworkPolicy read from the manifests ({(egressOpen ? "egress open" : "egress default-deny")}) and modelled by Docker networks, not enforced by a CNI"),
            };
            ImmutableArray<string> notes =
            [
                .. probes.Notes,
                $"NetworkPolicy approximated from the manifests: {(egressOpen ? "egress open" : "egress default-deny")}",
                "ServiceAccountCannotReadSecrets and the access matrix need a cluster; they are not part of a docker-vehicle verdict",
            ];
            var report = new QualificationReport(
                new QualificationContext($"{workload.Kind} {ns}/{workload.Name}", "docker (local approximation, no cluster)", "docker", Version),
                started, DateTimeOffset.UtcNow - started, Checklist.Build(probes.Results, [], inputs), mission, [.. probes.Results], [], notes)
            {
                Timings = clock.Timings,
                Waived = scenario.Waive,
                Approximation = "docker vehicle, no cluster",
            };
            await log.WriteLineAsync($"[4/4] {report.Verdict}").ConfigureAwait(false);
            return report;
        }
    }

    private static async Task<QualificationReport> RunClusterAsync(QualifyRequest request, TextWriter log, CancellationToken ct)
    {
        var scenario = request.Scenario;
        var started = DateTimeOffset.UtcNow;
        var session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var options = request.CreateKind
            ? ClusterOptions.ForKind() with { SessionId = session }
            : ClusterOptions.ForExisting(request.Kubeconfig, request.Context) with { SessionId = session, ProbeImage = request.ProbeImage };
        await log.WriteLineAsync($"[1/4] {(request.CreateKind ? "creating a kind cluster" : $"connecting to {request.Context ?? "the current context"} ({options.ResolveKubeconfig()})")} and verifying it").ConfigureAwait(false);
        var clock = new PhaseClock();
        await using var cluster = await clock.TimeAsync(RunPhase.Cluster, () => HarnessCluster.StartAsync(options, log, ct)).ConfigureAwait(false);
        try
        {
            return await RunOnClusterAsync(cluster, request, session, started, clock, log, ct).ConfigureAwait(false);
        }
        catch
        {
            cluster.MarkFailed();
            throw;
        }
    }

    /// <summary>Qualifies on a cluster the caller already has (the xUnit layer's, for data-driven scenario tests).</summary>
    public static Task<QualificationReport> RunOnClusterAsync(HarnessCluster cluster, QualificationScenario scenario, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(log);
        return RunOnClusterAsync(cluster, new QualifyRequest { Scenario = scenario }, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)), DateTimeOffset.UtcNow, new PhaseClock(), log, ct);
    }

    private static async Task<QualificationReport> RunOnClusterAsync(HarnessCluster cluster, QualifyRequest request, string session, DateTimeOffset started, PhaseClock clock, TextWriter log, CancellationToken ct)
    {
        var scenario = request.Scenario;
        scenario.ProbeOptions(session).Validate();
        DeployedOperator? deployed = null;
        QualificationReport report;
        try
        {
            report = await QualifyAsync().ConfigureAwait(false);
        }
        finally
        {
            if (deployed is not null)
            {
                await clock.TimeAsync(RunPhase.Teardown, () => deployed.DisposeAsync().AsTask()).ConfigureAwait(false);
            }
        }
        report = report with { Timings = clock.Timings };
        await log.WriteLineAsync($"timings: {PhaseClock.Format(report.Timings)}").ConfigureAwait(false);
        return report;

        async Task<QualificationReport> QualifyAsync()
        {
        IReadOnlyList<ManifestDocument> documents = [];
        OperatorTarget target;
        if (!scenario.Manifests.IsEmpty)
        {
            deployed = await clock.TimeAsync(RunPhase.Deploy, () => OperatorDeployment.DeployAsync(cluster, new OperatorSpec
            {
                Manifests = scenario.Manifests,
                Workload = scenario.Deployment ?? throw new ArgumentException("deploying from manifests needs operator.deployment"),
                Container = scenario.Container,
                LocalImages = scenario.LocalImages,
                Namespace = scenario.Namespace,
            }, session, log, ct: ct)).ConfigureAwait(false);
            target = deployed.Target;
            documents = deployed.Manifests; // loaded once, by the deployment
        }
        else
        {
            target = await TargetDiscovery.FindAsync(cluster.Client, scenario.Namespace ?? "default", scenario.Deployment, scenario.Selector, scenario.Container, ct).ConfigureAwait(false);
        }
        await log.WriteLineAsync($"[2/4] probing {target.Workload} in {target.Namespace} (pod {target.PodName}, container {target.Container}) with the {scenario.Vehicle}").ConfigureAwait(false);

        var probeOptions = scenario.ProbeOptions(session) with
        {
            Vehicle = ScenarioParser.ClusterVehicle(scenario.Vehicle) ?? ClusterVehicleKind.TwinPod,
        };
        var pod = await cluster.Client.CoreV1.ReadNamespacedPodAsync(target.PodName, target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        var images = Pods.Images(pod.Spec).ToList();
        // One vantage for every kind of cluster: a sink beside it on Docker, the scenario's targets, or an in-cluster sink.
        var vantage = await clock.TimeAsync(RunPhase.Sink, () => EgressVantage.StartAsync(cluster, session, scenario.EgressTargets, log, ct)).ConfigureAwait(false);
        OperatorHardeningReport hardening;
        await using (vantage.ConfigureAwait(false))
        {
            hardening = await OperatorProbes.RunAsync(cluster, target, documents, [.. images.Where(i => !Pods.IsPinned(i))], vantage, probeOptions, clock, ct).ConfigureAwait(false);
        }
        await PrintProbesAsync(log, hardening.Probes).ConfigureAwait(false);
        foreach (var a in hardening.Access)
        {
            await log.WriteLineAsync($"  {Label(a.Status),-12} {a.Question.Id,-32} {a.Question.Description}: {a.Evidence}").ConfigureAwait(false);
        }
        var ns = await cluster.Client.CoreV1.ReadNamespaceAsync(target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        var enforce = ns.Metadata.Labels is { } l && l.TryGetValue("pod-security.kubernetes.io/enforce", out var level) ? level : "";
        var workloadDoc = documents.FirstOrDefault(d => d.DisplayName == target.Workload);
        var inputs = await InputsAsync(request, documents, workloadDoc, target.Namespace, images, enforce, ct).ConfigureAwait(false);
        var result = new QualificationReport(
            new QualificationContext($"{target.Workload} in {target.Namespace}", $"{cluster.Provider} {cluster.Name}", scenario.Vehicle, Version),
            started, DateTimeOffset.UtcNow - started,
            Checklist.Build(hardening.Probes.Results, hardening.Access, inputs), hardening.Mission, [.. hardening.Probes.Results], hardening.Access,
            [.. hardening.Probes.Notes, .. hardening.EgressCaveats, .. cluster.Verification is { } v ? new[] { $"verified: {v.PodSecurity}", $"verified: {v.NetworkPolicy}" } : []])
        {
            Waived = scenario.Waive,
        };
        await log.WriteLineAsync($"[4/4] {result.Verdict}").ConfigureAwait(false);
        return result;
        }
    }

    private static ManifestDocument FindWorkload(IReadOnlyList<ManifestDocument> documents, QualificationScenario scenario)
    {
        var workloads = documents.Where(d => PodTemplates.TryGet(d.Object, out _, out _) && d.Kind != "Pod").ToList();
        if (scenario.Deployment is { } name)
        {
            return workloads.FirstOrDefault(d => d.Name == name)
                ?? throw new TargetNotFoundException($"no workload named \"{name}\" in {string.Join(", ", scenario.Manifests)}; they have {string.Join(", ", workloads.Select(w => w.DisplayName).DefaultIfEmpty("none"))}.");
        }
        var selector = (scenario.Selector ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim() : "");
        return workloads.FirstOrDefault(d => PodTemplates.TryGet(d.Object, out var m, out _) && Labels.Matches(new V1LabelSelector { MatchLabels = selector }, m?.Labels))
            ?? throw new TargetNotFoundException($"no workload in {string.Join(", ", scenario.Manifests)} has pod labels matching \"{scenario.Selector}\".");
    }

    /// <summary>The enforce label of the manifests' Namespace object for <paramref name="ns"/>: null when the manifests have none, "" when unlabelled.</summary>
    private static string? ManifestNamespaceEnforce(IReadOnlyList<ManifestDocument> documents, string ns) =>
        documents.FirstOrDefault(d => d.Kind == "Namespace" && d.Name == ns)?.Object?.Metadata?.Labels is { } labels
            ? (labels.TryGetValue("pod-security.kubernetes.io/enforce", out var l) ? l : "")
            : null;

    /// <summary>What the checklist needs besides the probes, for the images the operator runs (as deployed, or as declared).</summary>
    private static async Task<ChecklistInputs> InputsAsync(
        QualifyRequest request, IReadOnlyList<ManifestDocument> documents, ManifestDocument? workload, string ns, IReadOnlyList<string> images, string? namespaceEnforce, CancellationToken ct)
    {
        var scenario = request.Scenario;
        ImmutableArray<string> unpinned = [.. images.Where(i => !Pods.IsPinned(i)).Order(StringComparer.Ordinal)];
        var (signatures, skipped) = await ImagePolicy.VerifyAsync(images, scenario.CosignKey, request.SearchPath, ct).ConfigureAwait(false);
        ImmutableArray<string> patchers = [];
        if (workload is not null && PodTemplates.TryGet(workload.Object, out _, out var spec))
        {
            var account = new ServiceAccountRef(workload.Namespace ?? ns, string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName);
            patchers = [.. RbacAnalyzer.Analyze(RbacModel.From(documents, ns), account)
                .Where(f => f.Id == "RBAC-WEBHOOKS" && f.Severity == FindingSeverity.Error)
                .Select(f => $"{f.Subject} ({f.Message})")];
        }
        return new ChecklistInputs(namespaceEnforce, unpinned, signatures, skipped, patchers) { RequireDigest = scenario.RequireDigest };
    }

    private static async Task PrintProbesAsync(TextWriter log, ProbeRunReport probes)
    {
        await log.WriteLineAsync($"[3/4] {probes.Results.Count} probes in {probes.Duration.TotalSeconds:0.0} s").ConfigureAwait(false);
        foreach (var r in probes.Results)
        {
            await log.WriteLineAsync($"  {Label(r.Status),-12} {r.Probe.Id,-32} {r.Verdict}").ConfigureAwait(false);
        }
    }

    private static string Label(ProbeStatus s) => s switch
    {
        ProbeStatus.Passed => "PASS",
        ProbeStatus.Failed => "FAIL",
        _ => "INCONCLUSIVE",
    };

}

/// <summary>Image signature verification with cosign, when a cosign binary and a key are given.</summary>
public static class ImagePolicy
{
    /// <summary>Verifies each image; returns per-image results, or why verification was skipped.</summary>
    public static async Task<(ImmutableDictionary<string, string> Results, string? Skipped)> VerifyAsync(IReadOnlyList<string> images, string? key, string? searchPath, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (key is null)
        {
            return (ImmutableDictionary<string, string>.Empty, "no signature policy given (imagePolicy.cosign.key in the scenario, or --cosign-key)");
        }
        if (KindBinary.FindOnPath("cosign", searchPath) is not { } cosign)
        {
            return (ImmutableDictionary<string, string>.Empty, "cosign is not on PATH; install it to verify signatures");
        }
        if (!File.Exists(key))
        {
            return (ImmutableDictionary<string, string>.Empty, $"the cosign key {key} does not exist");
        }
        var results = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var run = await ProcessRunner.RunAsync(cosign, ["verify", "--key", key, image], TimeSpan.FromMinutes(2), ct: ct).ConfigureAwait(false);
            results[image] = run.ExitCode == 0 ? "verified" : $"failed: {run.Stderr.Trim().Split('\n').LastOrDefault()}";
        }
        return (results.ToImmutable(), null);
    }
}
