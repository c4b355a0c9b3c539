// Kubernetes: small helpers over KubernetesClient (pod waits, images, exec streams).
using Harness.Waits;
using k8s;
using k8s.Models;

namespace Harness.Kubernetes;

/// <summary>What the harness asks of pods everywhere: are they ready, which images they run, and waiting on them.</summary>
internal static class Pods
{
    /// <summary>Running, with every container ready.</summary>
    public static bool IsReady(V1Pod pod) =>
        pod?.Status?.Phase == "Running" && (pod.Status.ContainerStatuses ?? []).All(s => s.Ready);

    /// <summary>Ready and not being deleted: a pod the harness may pick as the operator's.</summary>
    public static bool IsServing(V1Pod pod) => IsReady(pod) && pod.Metadata?.DeletionTimestamp is null;

    /// <summary>
    /// The pods that are not the harness's own (twin, identity, control pods carry <see cref="Runs.SessionLabels.Role"/>):
    /// a twin pod keeps the operator's labels, so a selector for the operator's pods matches it too. Pure.
    /// </summary>
    public static IList<V1Pod> NotHarness(IList<V1Pod> pods) =>
        [.. (pods ?? []).Where(p => p.Metadata?.Labels is not { } l || !l.ContainsKey(Runs.SessionLabels.Role))];

    /// <summary>Describes pods for a timeout message: phase, container states and the recent warning events.</summary>
    public static string Describe(IEnumerable<V1Pod> pods, IEnumerable<Corev1Event> events)
    {
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(events);
        var podLines = pods.Select(p =>
        {
            var states = (p.Status?.ContainerStatuses ?? []).Select(s =>
                s.State?.Waiting is { } w ? $"{s.Name} waiting ({w.Reason}: {w.Message})"
                : s.State?.Terminated is { } t ? $"{s.Name} terminated ({t.Reason}, exit {t.ExitCode})"
                : s.State?.Running is not null ? $"{s.Name} running{(s.Ready ? ", ready" : "")}" : $"{s.Name} unknown");
            return $"{p.Metadata?.Name}: {p.Status?.Phase ?? "no status"} [{string.Join("; ", states)}]";
        });
        var eventLines = events.Where(e => e.Type == "Warning").TakeLast(5).Select(e => $"event {e.Reason}: {e.Message}");
        var all = podLines.Concat(eventLines).ToList();
        return all.Count == 0 ? "no pods" : string.Join(" | ", all);
    }

    /// <summary>
    /// Polls the pods of a namespace (or one pod by name) and their events until <paramref name="done"/> holds;
    /// on timeout the message describes the pods and the warning events.
    /// </summary>
    /// <exception cref="WaitTimeoutException">The bound passed first.</exception>
    public static async Task<IList<V1Pod>> WaitAsync(
        IKubernetes client, string ns, string? podName, string what, Func<IList<V1Pod>, bool> done, TimeSpan timeout, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var seen = await BoundedWait.UntilAsync(
            what,
            async t => (
                Pods: (await client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: podName is null ? null : $"metadata.name={podName}", cancellationToken: t).ConfigureAwait(false)).Items,
                Events: (await client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: podName is null ? null : $"involvedObject.name={podName}", cancellationToken: t).ConfigureAwait(false)).Items),
            x => done(x.Pods),
            x => Describe(x.Pods, x.Events),
            timeout, TimeSpan.FromSeconds(2), time: time, ct: ct).ConfigureAwait(false);
        return seen.Pods;
    }
}
