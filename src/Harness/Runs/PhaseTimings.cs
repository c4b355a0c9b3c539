using System.Collections.Immutable;
using System.Globalization;

namespace Harness.Runs;

/// <summary>The phases of a run whose cost is measured and reported.</summary>
public enum RunPhase
{
    /// <summary>Creating or connecting to the cluster, and verifying PodSecurity and NetworkPolicy enforcement.</summary>
    Cluster,

    /// <summary>Applying the operator's manifests and waiting for its rollout.</summary>
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
}

/// <summary>How long one phase took.</summary>
/// <param name="Phase">The phase.</param>
/// <param name="Duration">Wall time.</param>
public readonly record struct PhaseTiming(RunPhase Phase, TimeSpan Duration)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Phase} {Duration.TotalSeconds:0.00} s");
}

/// <summary>Records phase durations of one run. Thread-safe; time comes from a <see cref="TimeProvider"/>.</summary>
public sealed class PhaseClock(TimeProvider? time = null)
{
    private readonly TimeProvider time = time ?? TimeProvider.System;
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
            Record(phase, time.GetElapsedTime(start));
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

    /// <summary>Adds a measured duration (a phase timed elsewhere).</summary>
    public void Record(RunPhase phase, TimeSpan duration)
    {
        lock (gate)
        {
            timings.Add(new PhaseTiming(phase, duration));
        }
    }

    /// <summary>One line: <c>Cluster 12.31 s, Deploy 4.02 s, ...</c>.</summary>
    public static string Format(IEnumerable<PhaseTiming> timings) => string.Join(", ", timings);
}
