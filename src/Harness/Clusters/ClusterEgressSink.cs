using Harness.Docker;
using Harness.Kubernetes;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Waits;
using k8s;

namespace Harness.Clusters;

/// <summary>
/// The "internet" for a cluster: the harness's sink on the cluster's Docker network, outside the cluster, proven
/// reachable from a control pod in a namespace without NetworkPolicy before any egress verdict relies on it.
/// </summary>
public sealed class ClusterEgressSink : IAsyncDisposable
{
    private readonly EgressSink sink;
    private readonly IKubernetes client;
    private readonly string controlNamespace;

    private ClusterEgressSink(EgressSink sink, IKubernetes client, string controlNamespace, string controlPod, EgressTarget http, EgressTarget https, string evidence)
    {
        this.sink = sink;
        this.client = client;
        this.controlNamespace = controlNamespace;
        ControlPod = controlPod;
        Http = http;
        Https = https;
        Evidence = evidence;
    }

    /// <summary>HTTP target, by the sink's address (pods cannot resolve Docker's names).</summary>
    public EgressTarget Http { get; }

    /// <summary>HTTPS target: the sink's name for TLS, its address for the connection, its CA as the only trust anchor.</summary>
    public EgressTarget Https { get; }

    /// <summary>What the control pod saw.</summary>
    public string Evidence { get; }

    /// <summary>The control pod: the outside vantage for egress controls.</summary>
    public string ControlPod { get; }

    /// <summary>The namespace of the control pod (no NetworkPolicy applies there).</summary>
    public string ControlNamespace => controlNamespace;

    /// <summary>Control targets as seen from inside the cluster.</summary>
    public static (EgressTarget Http, EgressTarget Https) InClusterTargets(EgressSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return (sink.Target with { HostName = sink.Target.Address }, sink.HttpsTarget with { PinAddress = true });
    }

    /// <summary>Starts the sink on the cluster's network and proves a pod can reach it.</summary>
    /// <exception cref="PrerequisiteException">The cluster has no Docker network (an existing cluster) or no probe image.</exception>
    /// <exception cref="ClusterVerificationException">The control pod cannot reach the sink: egress verdicts would prove nothing.</exception>
    public static async Task<ClusterEgressSink> StartAsync(HarnessCluster cluster, DockerHost docker, string localProbeImage, string session, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var network = cluster.DockerNetwork ?? throw new PrerequisiteException(
            "egress sink", "an existing cluster has no Docker network on this machine to put the sink on.",
            "Give real egress targets for qualification (StandardProbeOptions.EgressTargets), or run against kind or K3s.");
        var probeImage = cluster.ProbeImage ?? throw HarnessCluster.NoProbeImage();
        var sink = await EgressSink.StartAsync(docker, localProbeImage, network, alias: $"harness-sink-{session}", ct).ConfigureAwait(false);
        var ns = $"harness-control-{session}";
        try
        {
            var (http, https) = InClusterTargets(sink);
            await cluster.Client.CoreV1.CreateNamespaceAsync(ClusterVerification.CanaryNamespace(ns, session), cancellationToken: ct).ConfigureAwait(false);
            var pod = ClusterVerification.ClientPod(ns, probeImage, session);
            await cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, ns, cancellationToken: ct).ConfigureAwait(false);
            await BoundedWait.UntilAsync(
                $"control pod {ns}/{pod.Metadata.Name} to be ready",
                async t => await cluster.Client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: t).ConfigureAwait(false),
                p => p.Status?.Phase == "Running" && (p.Status.ContainerStatuses ?? []).All(s => s.Ready),
                p => ClusterVerification.Describe([p], []),
                TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(2), time: time, ct: ct).ConfigureAwait(false);
            // The egress probes' own controls (TCP by address, HTTP and HTTPS with the sink token), run from the control pod.
            var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [http, https] })
                .Where(p => p.Check == HardeningCheck.EgressDenied)
                .OutsidePlan()!;
            var report = await KubernetesExec.RunPlanAsync(cluster.Client, ns, pod.Metadata.Name, "agent", plan, ct).ConfigureAwait(false);
            var failures = report.Results.Where(r => r.Outcome != StepOutcomes.Succeeded || (r.Kind == StepKinds.Http && !TokenMatches(r, sink.Target.SinkToken))).ToList();
            if (failures.Count > 0)
            {
                throw new ClusterVerificationException("the egress sink",
                    $"a pod in {ns} (no NetworkPolicy) cannot reach the sink at {sink.Target.Address} on network {network}: {string.Join("; ", failures.Select(f => $"{f.Id} {f.Outcome} {f.Errno} {f.Detail}"))}. Egress denials would prove nothing.");
            }
            var evidence = string.Join("; ", report.Results.Select(r => r.Detail));
            return new ClusterEgressSink(sink, cluster.Client, ns, pod.Metadata.Name, http, https, evidence);
        }
        catch
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(cluster.Client, ns).ConfigureAwait(false);
            await sink.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static bool TokenMatches(StepResult r, string? token) =>
        token is not null && r.Data is { } data && data.TryGetValue("sinkToken", out var seen) && seen == token;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await ClusterVerification.DeleteNamespaceQuietlyAsync(client, controlNamespace).ConfigureAwait(false);
        await sink.DisposeAsync().ConfigureAwait(false);
    }
}
