using Harness.Runs;
using Harness.Docker;
using Harness.Probes;
using Harness.Vehicles;

namespace Harness.Clusters;

/// <summary>
/// The "internet" for a cluster: the harness's sink on the cluster's Docker network, outside the cluster, proven
/// reachable from a control pod in a namespace without NetworkPolicy before any egress verdict relies on it.
/// </summary>
internal sealed class ClusterEgressSink : IAsyncDisposable
{
    private readonly EgressSink sink;

    private ClusterEgressSink(EgressSink sink, KubernetesVehicle control, EgressTarget http, EgressTarget https, string evidence)
    {
        this.sink = sink;
        Control = control;
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

    /// <summary>The control pod (no NetworkPolicy applies to it): the outside vantage for egress controls.</summary>
    public KubernetesVehicle Control { get; }

    /// <summary>Control targets as seen from inside the cluster.</summary>
    public static (EgressTarget Http, EgressTarget Https) InClusterTargets(EgressSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return (sink.Target with { HostName = sink.Target.Address }, sink.HttpsTarget with { PinAddress = true });
    }

    /// <summary>Starts the sink on the cluster's network and proves a pod can reach it.</summary>
    /// <exception cref="PrerequisiteException">The cluster has no Docker network (an existing cluster) or no probe image.</exception>
    /// <exception cref="ClusterVerificationException">The control pod cannot reach the sink: egress verdicts would prove nothing.</exception>
    public static async Task<ClusterEgressSink> StartAsync(HarnessCluster cluster, DockerHost docker, string localProbeImage, SessionId session, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var network = cluster.DockerNetwork ?? throw new PrerequisiteException(
            "egress sink", "an existing cluster has no Docker network on this machine to put the sink on.",
            "Give real egress targets for qualification (StandardProbeOptions.EgressTargets), or run against kind or K3s.");
        var probeImage = cluster.ProbeImage ?? throw HarnessCluster.NoProbeImage();
        var sink = await EgressSink.StartAsync(docker, localProbeImage, network, alias: $"harness-sink-{session}", ct).ConfigureAwait(false);
        KubernetesVehicle? control = null;
        try
        {
            var (http, https) = InClusterTargets(sink);
            control = await ControlPod.StartAsync(cluster.Client, probeImage, session, time, ct).ConfigureAwait(false);
            // The egress probes' own controls (TCP by address, HTTP and HTTPS with the sink token), run from the control pod.
            var evidence = await EgressVantage.ProveReachableAsync(control, [http, https], $"the sink at {sink.Target.Address} on network {network}", ct).ConfigureAwait(false);
            return new ClusterEgressSink(sink, control, http, https, evidence);
        }
        catch
        {
            if (control is not null)
            {
                await control.DisposeAsync().ConfigureAwait(false);
            }
            await sink.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Control.DisposeAsync().ConfigureAwait(false);
        await sink.DisposeAsync().ConfigureAwait(false);
    }
}
