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

    /// <summary>How long a pod may wait on its configuration (a Secret or ConfigMap not there yet) before that is a failure.</summary>
    public static readonly TimeSpan ConfigGrace = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Why a pod's container will not start however long one waits, or null: its command cannot run
    /// (<c>RunContainerError</c>, <c>CreateContainerError</c>, a <c>StartError</c> exit), or its configuration is still
    /// missing <see cref="ConfigGrace"/> after the pod was created (<c>CreateContainerConfigError</c>: a Secret nobody
    /// creates). Names the pod, the container and the kubelet's reason. Pure.
    /// </summary>
    public static string? StartFailure(IEnumerable<V1Pod> pods, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(pods);
        foreach (var pod in pods)
        {
            var created = pod.Metadata?.CreationTimestamp is { } c ? new DateTimeOffset(DateTime.SpecifyKind(c, DateTimeKind.Utc)) : now;
            foreach (var status in (pod.Status?.InitContainerStatuses ?? []).Concat(pod.Status?.ContainerStatuses ?? []))
            {
                var waiting = status.State?.Waiting;
                var lastExit = status.LastState?.Terminated;
                var reason = waiting?.Reason switch
                {
                    "RunContainerError" or "CreateContainerError" => $"{waiting.Reason}: {waiting.Message}",
                    "CreateContainerConfigError" when now - created >= ConfigGrace => $"{waiting.Reason}: {waiting.Message} (still, {(now - created).TotalSeconds:0} s after the pod was created)",
                    _ when lastExit?.Reason == "StartError" => $"StartError: {lastExit.Message}",
                    _ => null,
                };
                if (reason is not null)
                {
                    return $"pod {pod.Metadata?.Name} container \"{status.Name}\" cannot start: {reason}";
                }
            }
        }
        return null;
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
        var clock = time ?? TimeProvider.System;
        var seen = await BoundedWait.UntilAsync(
            what,
            async t =>
            {
                var pods = (await client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: podName is null ? null : $"metadata.name={podName}", cancellationToken: t).ConfigureAwait(false)).Items;
                if (StartFailure(pods, clock.GetUtcNow()) is { } failure)
                {
                    throw new PodStartException($"{what}: {failure}");
                }
                return (Pods: pods,
                    Events: (await client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: podName is null ? null : $"involvedObject.name={podName}", cancellationToken: t).ConfigureAwait(false)).Items);
            },
            x => done(x.Pods),
            x => Describe(x.Pods, x.Events),
            timeout, TimeSpan.FromSeconds(2), time: time, ct: ct).ConfigureAwait(false);
        return seen.Pods;
    }
}

/// <summary>A pod the run waits for will not start however long it waits; the message names the pod, container and reason.</summary>
/// <param name="message">What was waited for and why it cannot come.</param>
public sealed class PodStartException(string message) : Exception(message);
