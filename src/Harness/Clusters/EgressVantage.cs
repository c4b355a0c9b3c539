using Harness.Docker;
using Harness.Runs;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using Harness.Kubernetes;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using k8s;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>Where the "internet" stand-in comes from.</summary>
public enum EgressVantageKind
{
    /// <summary>The harness's sink on the cluster's Docker network, outside the cluster (kind, K3s).</summary>
    DockerNetworkSink,

    /// <summary>Only destinations the user gave (staging clusters with addresses they control).</summary>
    UserTargets,

    /// <summary>A sink pod inside the cluster, in a namespace without NetworkPolicy: proves less, and says what.</summary>
    InClusterSink,

    /// <summary>No cluster: a sink on an isolated Docker network; the manifests' NetworkPolicy decides whether the pod joins it (an approximation).</summary>
    LocalDockerSink,
}

/// <summary>
/// The outside vantage of a run: the egress destinations the operator must not reach, and the control pod (in a
/// namespace without NetworkPolicy) that proves each is reachable where nothing polices it. One type for every way to
/// get them, chosen by what the cluster offers: a sink on the cluster's Docker network when there is one, plus any
/// targets the user gives; with neither, a sink pod inside the cluster, with its caveat in every report.
/// </summary>
public sealed class EgressVantage : IAsyncDisposable
{
    private readonly Func<ValueTask> cleanup;
    private int disposed;

    private EgressVantage(EgressVantageKind kind, ImmutableArray<EgressTarget> targets, IProbeVehicle control, ImmutableArray<string> caveats, string evidence, Func<ValueTask> cleanup)
    {
        VehicleNetworks = [];
        Kind = kind;
        Targets = targets;
        Control = control;
        Caveats = caveats;
        Evidence = evidence;
        this.cleanup = cleanup;
    }

    /// <summary>How the destinations were obtained.</summary>
    public EgressVantageKind Kind { get; }

    /// <summary>The destinations egress to which must be denied.</summary>
    public ImmutableArray<EgressTarget> Targets { get; }

    /// <summary>The control pod: egress controls run here.</summary>
    public IProbeVehicle Control { get; }

    /// <summary>What egress verdicts from this vantage do not prove; shown in every report.</summary>
    public ImmutableArray<string> Caveats { get; }

    /// <summary>What the control pod saw when the vantage was proven.</summary>
    public string Evidence { get; }

    /// <summary>What this vantage models instead of enforcing (the local Docker sink); null on a cluster.</summary>
    public string? Approximation { get; private init; }

    /// <summary>The Docker networks a local vehicle joins (the local Docker sink); empty on a cluster.</summary>
    public ImmutableArray<string> VehicleNetworks { get; private init; }

    /// <summary>A vantage from parts already started (tests, and strategies outside this file).</summary>
    internal static EgressVantage Of(EgressVantageKind kind, ImmutableArray<EgressTarget> targets, IProbeVehicle control, Func<ValueTask> cleanup) =>
        new(kind, targets, control, [], "", cleanup);

    /// <summary>This vantage for a run that shares it: the same destinations and control; disposing it removes nothing.</summary>
    internal EgressVantage Borrowed() =>
        new(Kind, Targets, Control, Caveats, Evidence, static () => ValueTask.CompletedTask) { Approximation = Approximation, VehicleNetworks = VehicleNetworks };

    /// <summary>The caveat of an in-cluster sink, in words a report reader can act on.</summary>
    public static string InClusterCaveat(string address, string ns) =>
        $"egress sink inside the cluster (pod {address} in namespace {ns}, no NetworkPolicy there): a denial proves the operator cannot reach a pod outside its allow-list. " +
        "The probes alone do not prove that traffic leaving the cluster is blocked: a policy allowing 0.0.0.0/0 except the pod network would pass them, so the egress check also " +
        "analyses the NetworkPolicies in force. A CNI that polices only pod-to-pod traffic would still pass both: give destinations you control outside the cluster " +
        "(HARNESS_EGRESS_TARGETS, egress.targets in a scenario) to prove that.";

    /// <summary>Chooses and starts the vantage for <paramref name="cluster"/>, and proves the control pod reaches every destination.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="session">Session id (names and labels).</param>
    /// <param name="userTargets">Destinations the user gave; the control must reach them.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="PrerequisiteException">No probe image for the cluster, or Docker is needed and missing.</exception>
    /// <exception cref="ClusterVerificationException">The control pod cannot reach a destination: egress denials would prove nothing.</exception>
    public static async Task<EgressVantage> StartAsync(HarnessCluster cluster, SessionId session, ImmutableArray<EgressTarget> userTargets, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        log ??= TextWriter.Null;
        var probeImage = cluster.ProbeImage ?? throw HarnessCluster.NoProbeImage();
        if (cluster.DockerNetwork is not null)
        {
            var docker = await HarnessCluster.ConnectDockerAsync(null, "The egress sink runs beside the cluster on its Docker network.", ct).ConfigureAwait(false);
            try
            {
                var sink = await ClusterEgressSink.StartAsync(cluster, docker, probeImage, session, ct: ct).ConfigureAwait(false);
                try
                {
                    var evidence = sink.Evidence;
                    if (!userTargets.IsEmpty)
                    {
                        evidence += "; " + await ProveReachableAsync(sink.Control, userTargets, "the given egress targets", ct).ConfigureAwait(false);
                    }
                    await log.WriteLineAsync($"egress: the harness's sink on Docker network {cluster.DockerNetwork}{(userTargets.IsEmpty ? "" : $" and {userTargets.Length} given target(s)")}").ConfigureAwait(false);
                    return new EgressVantage(EgressVantageKind.DockerNetworkSink, [sink.Http, sink.Https, .. userTargets], sink.Control, [], evidence, async () =>
                    {
                        await sink.DisposeAsync().ConfigureAwait(false);
                        await docker.DisposeAsync().ConfigureAwait(false);
                    });
                }
                catch
                {
                    await sink.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch
            {
                await docker.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        var control = await ControlPod.StartAsync(cluster.Client, probeImage, session, ct: ct).ConfigureAwait(false);
        try
        {
            if (!userTargets.IsEmpty)
            {
                var evidence = await ProveReachableAsync(control, userTargets, "the given egress targets", ct).ConfigureAwait(false);
                await log.WriteLineAsync($"egress: {userTargets.Length} given target(s), reachable from {control.Namespace}").ConfigureAwait(false);
                return new EgressVantage(EgressVantageKind.UserTargets, userTargets, control, [], evidence, control.DisposeAsync);
            }
            var sink = await InClusterSink.StartAsync(cluster.Client, probeImage, session, ct).ConfigureAwait(false);
            try
            {
                var evidence = await ProveReachableAsync(control, [sink.Http, sink.Https], "the in-cluster sink", ct).ConfigureAwait(false);
                await log.WriteLineAsync($"egress: no Docker network beside this cluster and no given targets: an in-cluster sink at {sink.Http.Address} (see the caveat in the report)").ConfigureAwait(false);
                return new EgressVantage(EgressVantageKind.InClusterSink, [sink.Http, sink.Https], control,
                    [InClusterCaveat(sink.Http.Address, sink.Namespace)], evidence, async () =>
                    {
                        await control.DisposeAsync().ConfigureAwait(false);
                        await sink.DisposeAsync().ConfigureAwait(false);
                    });
            }
            catch
            {
                await sink.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            await control.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Starts the local vantage (no cluster): a sink and a control container on an isolated Docker network, and the
    /// network the vehicle joins. NetworkPolicy is not enforced here but read from the manifests: with egress open
    /// (<paramref name="egressOpen"/>) the vehicle also joins the sink's network. Either way, the result is an approximation.
    /// </summary>
    /// <exception cref="InvalidOperationException">A container did not start.</exception>
    internal static async Task<EgressVantage> StartLocalAsync(DockerHost docker, string probeImage, bool egressOpen, ImmutableArray<EgressTarget> userTargets, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        log ??= TextWriter.Null;
        var podNet = await docker.CreateNetworkAsync("pod", isolated: true, ct).ConfigureAwait(false);
        var sinkNet = await docker.CreateNetworkAsync("sink", isolated: true, ct).ConfigureAwait(false);
        var sink = await EgressSink.StartAsync(docker, probeImage, sinkNet, ct: ct).ConfigureAwait(false);
        try
        {
            var outside = await DockerVehicle.StartAsync(docker, new ContainerRunSpec { Image = probeImage, Networks = [sinkNet] }, "outside", ct).ConfigureAwait(false);
            var policy = egressOpen ? "egress open (no default-deny policy in the manifests)" : "egress default-deny (per the manifests' NetworkPolicies)";
            await log.WriteLineAsync($"egress: a local sink at {sink.Target.Address}; {policy}").ConfigureAwait(false);
            return new EgressVantage(EgressVantageKind.LocalDockerSink, [sink.Target, sink.HttpsTarget, .. userTargets], outside,
                [$"NetworkPolicy approximated from the manifests: {(egressOpen ? "egress open" : "egress default-deny")}"],
                $"local sink {sink.Target.Address} on {sinkNet}", async () =>
                {
                    await outside.DisposeAsync().ConfigureAwait(false);
                    await sink.DisposeAsync().ConfigureAwait(false);
                })
            {
                Approximation = $"NetworkPolicy read from the manifests ({(egressOpen ? "egress open" : "egress default-deny")}) and modelled by Docker networks, not enforced by a CNI",
                VehicleNetworks = egressOpen ? [podNet, sinkNet] : [podNet],
            };
        }
        catch
        {
            await sink.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs the egress controls for <paramref name="targets"/> from <paramref name="control"/>; every one must succeed (with the sink's token where there is one).</summary>
    /// <exception cref="ClusterVerificationException">One did not.</exception>
    internal static async Task<string> ProveReachableAsync(IProbeVehicle control, IReadOnlyList<EgressTarget> targets, string what, CancellationToken ct)
    {
        var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [.. targets] })
            .Where(p => p.Check == HardeningCheck.EgressDenied)
            .OutsidePlan()!;
        var report = await control.RunAsync(plan, ct).ConfigureAwait(false);
        var failures = Unreached(report, targets);
        if (failures.Count > 0)
        {
            throw new ClusterVerificationException("egress vantage",
                $"a pod without NetworkPolicy ({control.Name}) cannot reach {what}: {string.Join("; ", failures)}. Egress denials would prove nothing.");
        }
        return string.Join("; ", report.Results.Select(r => r.Detail));
    }

    /// <summary>The controls that did not prove their destination reachable: failed, or answered without the sink's token. Pure.</summary>
    internal static List<string> Unreached(AgentReport report, IReadOnlyList<EgressTarget> targets)
    {
        string? TokenOf(string stepId) => targets.FirstOrDefault(t => stepId.StartsWith($"control.egress.{t.Name}.", StringComparison.Ordinal))?.SinkToken;
        return [.. report.Results
            .Where(r => r.Outcome != StepOutcomes.Succeeded
                || (r.Kind == StepKinds.Http && TokenOf(r.Id) is { } token && r.Data?.GetValueOrDefault(DataKeys.SinkToken) != token))
            .Select(r => $"{r.Id} {r.Outcome} {r.Errno} {r.Detail}".Trim())];
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            await cleanup().ConfigureAwait(false);
        }
    }
}

/// <summary>
/// The sink as a pod: the agent in sink mode (HTTP and HTTPS, every answer carrying a per-run token), restricted-compliant,
/// in a namespace of its own without NetworkPolicy. Its TLS key lives in a Secret of that namespace, never in the pod spec.
/// </summary>
internal sealed class InClusterSink : IAsyncDisposable
{
    private readonly IKubernetes client;

    private InClusterSink(IKubernetes client, string ns, EgressTarget http, EgressTarget https)
    {
        this.client = client;
        Namespace = ns;
        Http = http;
        Https = https;
    }

    public string Namespace { get; }

    public EgressTarget Http { get; }

    public EgressTarget Https { get; }

    /// <summary>The sink pod (pure).</summary>
    public static V1Pod Pod(string ns, string image, SessionId session, string token, string secret)
    {
        var pod = ClusterVerification.AgentPod(ns, "harness-sink", "sink", image, session,
        [
            "sink", "--port", EgressSink.Port.ToString(CultureInfo.InvariantCulture),
            "--tls-port", EgressSink.TlsPort.ToString(CultureInfo.InvariantCulture), "--token", token,
        ]);
        pod.Spec.Containers[0].Env =
        [
            new V1EnvVar { Name = "HARNESS_SINK_CERT_PEM", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Key = "tls.crt", Name = secret } } },
            new V1EnvVar { Name = "HARNESS_SINK_KEY_PEM", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Key = "tls.key", Name = secret } } },
        ];
        pod.Spec.Containers[0].ReadinessProbe = new V1Probe
        {
            TcpSocket = new V1TCPSocketAction { Port = EgressSink.Port },
            PeriodSeconds = 1,
        };
        return pod;
    }

    /// <summary>The name the sink's certificate carries: probes pin the pod's address and verify this name.</summary>
    public static string CertificateName(SessionId session) => $"harness-sink-{session}.harness.invalid";

    public static async Task<InClusterSink> StartAsync(IKubernetes client, string probeImage, SessionId session, CancellationToken ct)
    {
        var ns = $"harness-sink-{session}-{Guid.NewGuid().ToString("N")[..5]}"; // per start, like the control pod's
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var name = CertificateName(session);
        var certificate = SinkCertificate.Create([name], []);
        await client.CoreV1.CreateNamespaceAsync(ClusterVerification.CanaryNamespace(ns, session), cancellationToken: ct).ConfigureAwait(false);
        try
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = "harness-sink-tls", NamespaceProperty = ns, Labels = new Dictionary<string, string> { [SessionLabels.Session] = session.Value } },
                Type = "kubernetes.io/tls",
                StringData = new Dictionary<string, string> { ["tls.crt"] = certificate.CertificatePem, ["tls.key"] = certificate.KeyPem },
            }, ns, cancellationToken: ct).ConfigureAwait(false);
            var pod = await client.CoreV1.CreateNamespacedPodAsync(Pod(ns, probeImage, session, token, "harness-sink-tls"), ns, cancellationToken: ct).ConfigureAwait(false);
            var ready = await Pods.WaitAsync(client, ns, pod.Metadata.Name, $"the in-cluster egress sink {ns}/{pod.Metadata.Name} to be ready",
                p => p.Count == 1 && Pods.IsReady(p[0]) && !string.IsNullOrEmpty(p[0].Status?.PodIP), TimeSpan.FromMinutes(2), null, ct).ConfigureAwait(false);
            var ip = ready[0].Status.PodIP;
            return new InClusterSink(client, ns,
                new EgressTarget("sink", ip, ip, EgressSink.Port, token),
                new EgressTarget("sink-tls", ip, name, EgressSink.TlsPort, token, "https", certificate.CaPem, PinAddress: true));
        }
        catch
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns).ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => new(ClusterVerification.DeleteNamespaceQuietlyAsync(client, Namespace));
}
