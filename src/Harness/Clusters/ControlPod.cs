using Harness.Runs;
using Harness.Kubernetes;
using Harness.Vehicles;
using Harness.Waits;
using k8s;

namespace Harness.Clusters;

/// <summary>
/// The outside vantage on a cluster: the probe agent idling in a namespace of its own with no NetworkPolicy, so
/// egress controls show what a pod can reach when nothing polices it. Disposing removes its namespace.
/// </summary>
internal static class ControlPod
{
    /// <summary>Starts it and waits until it runs.</summary>
    /// <exception cref="WaitTimeoutException">It did not start (its state and events are in the message).</exception>
    public static async Task<KubernetesVehicle> StartAsync(IKubernetes client, string probeImage, SessionId session, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        // A name of its own per start: a start that failed is retried while its namespace is still terminating.
        var ns = $"harness-control-{session}-{Guid.NewGuid().ToString("N")[..5]}";
        await client.CoreV1.CreateNamespaceAsync(ClusterVerification.CanaryNamespace(ns, session), cancellationToken: ct).ConfigureAwait(false);
        try
        {
            var pod = ClusterVerification.ClientPod(ns, probeImage, session);
            await client.CoreV1.CreateNamespacedPodAsync(pod, ns, cancellationToken: ct).ConfigureAwait(false);
            await Pods.WaitAsync(client, ns, pod.Metadata.Name, $"control pod {ns}/{pod.Metadata.Name} to be ready",
                p => p.Count == 1 && Pods.IsReady(p[0]), TimeSpan.FromMinutes(2), time, ct).ConfigureAwait(false);
            return new KubernetesVehicle(client, ns, pod.Metadata.Name, "agent", "control-pod", [],
                () => new ValueTask(ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns)));
        }
        catch
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns).ConfigureAwait(false);
            throw;
        }
    }
}
