using System.Collections.Immutable;
using System.Globalization;

namespace Harness.Runs;

/// <summary>The phases of a run whose cost is measured and reported.</summary>
public enum RunPhase
{
    /// <summary>Creating or connecting to the cluster (and verifying it, unless that is <see cref="Verification"/>).</summary>
    Cluster,

    /// <summary>Applying the operator's manifests (its rollout is <see cref="Rollout"/>).</summary>
    Deploy,

    /// <summary>Starting the egress sink and the control pod, and proving the sink reachable.</summary>
    Sink,

    /// <summary>Starting the vehicle (twin pod, ephemeral container, local container) until its agent runs.</summary>
    Vehicle,

    /// <summary>Running the probe plan (target and outside agents).</summary>
    Probes,

    /// <summary>Asking the SubjectAccessReview matrix.</summary>
    AccessMatrix,

    /// <summary>Removing what the run created.</summary>
    Teardown,

    /// <summary>Waiting for the operator to act on its custom resources and taking the payload inventory.</summary>
    Payload,

    /// <summary>Checking the operator's webhooks' TLS from the cluster vantage.</summary>
    WebhookTls,

    /// <summary>Waiting for the applied operator's pod to run (beside the vantage, the vehicle and the probes when the vehicle is a twin pod).</summary>
    Rollout,

    /// <summary>Verifying PodSecurity and NetworkPolicy enforcement beside the run (the PodSecurity dry run and the NetworkPolicy canary).</summary>
    Verification,

    /// <summary>Checking the operator's account against its declared rights on the cluster (beside the probes).</summary>
    DeclaredRights,
}

/// <summary>How long one phase took.</summary>
/// <param name="Phase">The phase.</param>
/// <param name="Duration">Wall time.</param>
public readonly record struct PhaseTiming(RunPhase Phase, TimeSpan Duration)
{
    /// <summary>When the phase started, from the start of its clock (phases may overlap).</summary>
    public TimeSpan Start { get; init; }

    /// <summary>When it ended, from the start of its clock.</summary>
    public TimeSpan End => Start + Duration;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Phase} {Duration.TotalSeconds:0.00} s");
}

/// <summary>Records phase durations of one run. Thread-safe; time comes from a <see cref="TimeProvider"/>.</summary>
public sealed class PhaseClock(TimeProvider? time = null)
{
    private readonly TimeProvider time = time ?? TimeProvider.System;
    private readonly long origin = (time ?? TimeProvider.System).GetTimestamp();
    private readonly Lock gate = new();
    private readonly List<PhaseTiming> timings = [];

    /// <summary>Everything recorded so far, in the order the phases ended.</summary>
    public ImmutableArray<PhaseTiming> Timings
    {
        get
        {
            lock (gate)
            {
                return [.. timings];
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> and records its duration under <paramref name="phase"/>, whether it succeeds or throws.</summary>
    public async Task<T> TimeAsync<T>(RunPhase phase, Func<Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var start = time.GetTimestamp();
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            var timing = new PhaseTiming(phase, time.GetElapsedTime(start)) { Start = time.GetElapsedTime(origin, start) };
            lock (gate)
            {
                timings.Add(timing);
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> and records its duration under <paramref name="phase"/>.</summary>
    public async Task TimeAsync(RunPhase phase, Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        await TimeAsync(phase, async () =>
        {
            await work().ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>Adds a measured duration (a phase timed elsewhere), taken to have ended now.</summary>
    public void Record(RunPhase phase, TimeSpan duration)
    {
        var now = time.GetElapsedTime(origin);
        lock (gate)
        {
            timings.Add(new PhaseTiming(phase, duration) { Start = now > duration ? now - duration : TimeSpan.Zero });
        }
    }

    /// <summary>One line: <c>Cluster 12.31 s, Deploy 4.02 s, ...; critical path: Cluster, Deploy, ... (Probes ended the run)</c>.</summary>
    public static string Format(IEnumerable<PhaseTiming> timings)
    {
        var all = timings.ToList();
        var path = CriticalPath(all);
        return path.Length < 2 ? string.Join(", ", all)
            : $"{string.Join(", ", all)}; critical path: {string.Join(" -> ", path.Select(p => p.Phase))} ({path[^1].Phase} ended the run)";
    }

    /// <summary>
    /// The chain of phases the run waited on, first to last: from the phase that ended last, back through the phase that
    /// ended latest before each one started. Phases off the chain ran beside it and cost no wall time. Pure.
    /// </summary>
    public static ImmutableArray<PhaseTiming> CriticalPath(IReadOnlyList<PhaseTiming> timings)
    {
        ArgumentNullException.ThrowIfNull(timings);
        if (timings.Count == 0)
        {
            return [];
        }
        var slack = TimeSpan.FromMilliseconds(5); // one phase handing over to the next takes a moment
        var path = new List<PhaseTiming> { timings.MaxBy(t => t.End) };
        while (timings.Where(t => !path.Contains(t) && t.End <= path[^1].Start + slack).OrderByDescending(t => t.End).Cast<PhaseTiming?>().FirstOrDefault() is { } previous)
        {
            path.Add(previous);
        }
        path.Reverse();
        return [.. path];
    }
}
