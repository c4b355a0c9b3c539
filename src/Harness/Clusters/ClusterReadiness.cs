using Harness.Kubernetes;
using Harness.Waits;
using k8s;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>Waits for nodes and the CNI to be ready, bounded, saying what it saw on timeout.</summary>
internal static class ClusterReadiness
{
    /// <summary>All nodes Ready and at least one CNI pod, all of them ready.</summary>
    /// <exception cref="WaitTimeoutException">Not ready within the bound; the message lists node conditions and CNI pod states.</exception>
    public static async Task WaitAsync(IKubernetes client, Cni cni, TimeSpan timeout, CancellationToken ct, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        await BoundedWait.UntilAsync(
            "every node to be Ready",
            async t => (await client.CoreV1.ListNodeAsync(cancellationToken: t).ConfigureAwait(false)).Items,
            nodes => nodes.Count > 0 && nodes.All(IsReady),
            nodes => string.Join(", ", nodes.Select(n => $"{n.Metadata.Name}: {(IsReady(n) ? "Ready" : Reason(n))}")),
            timeout, TimeSpan.FromSeconds(3), time: time, ct: ct).ConfigureAwait(false);
        var (ns, selector) = CniInstall.Pods(cni);
        if (cni == Cni.Kindnet && selector is not null)
        {
            // K3s has no kindnet pods (its policy controller is built in); kind's kindnet pods are checked like any CNI's.
            var any = await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: ct).ConfigureAwait(false);
            if (any.Items.Count == 0)
            {
                return;
            }
        }
        await BoundedWait.UntilAsync(
            $"the {cni} pods in {ns} to be ready",
            async t => (await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: t).ConfigureAwait(false)).Items,
            pods => pods.Count > 0 && pods.All(Pods.IsReady),
            pods => Pods.Describe(pods, []),
            timeout, TimeSpan.FromSeconds(3), transient: e => e is IOException or HttpRequestException or k8s.Autorest.HttpOperationException, time: time, ct: ct).ConfigureAwait(false);
    }

    private static bool IsReady(V1Node node) => (node.Status?.Conditions ?? []).Any(c => c.Type == "Ready" && c.Status == "True");

    private static string Reason(V1Node node) =>
        (node.Status?.Conditions ?? []).FirstOrDefault(c => c.Type == "Ready") is { } c ? $"{c.Status} ({c.Reason}: {c.Message})" : "no Ready condition";
}
