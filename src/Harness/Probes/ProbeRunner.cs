using System.Collections.Immutable;
using System.Diagnostics;
using Harness.Evidence;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Probes;

/// <summary>A whole run: every probe's result, the vehicles used, and how long it took.</summary>
/// <param name="Results">Per probe, in plan order.</param>
/// <param name="Vehicle">The target vehicle's name.</param>
/// <param name="Notes">Where the vehicle approximates the real thing.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="Duration">Wall time of the run.</param>
public sealed record ProbeRunReport(
    IReadOnlyList<ProbeResult> Results, string Vehicle, ImmutableArray<string> Notes, DateTimeOffset StartedAt, TimeSpan Duration)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>The result of probe <paramref name="id"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such probe in this run.</exception>
    public ProbeResult this[string id] =>
        Results.FirstOrDefault(r => r.Probe.Id == id) ?? throw new KeyNotFoundException($"No probe '{id}' in this run (has: {string.Join(", ", Results.Select(r => r.Probe.Id))}).");

    /// <summary>True when every probe passed.</summary>
    public bool AllPassed => Results.All(r => r.Status == ProbeStatus.Passed);
}

/// <summary>Runs a plan: one agent exec at the target, one at the outside vantage (concurrently), then classification.</summary>
public static class ProbeRunner
{
    /// <summary>Runs <paramref name="plan"/>.</summary>
    /// <param name="plan">The probes.</param>
    /// <param name="target">The vehicle in the target's security context.</param>
    /// <param name="outside">The vantage for outside controls; required when the plan has any.</param>
    /// <param name="kubernetes">API access settings for API probes.</param>
    /// <param name="redactor">Extra secrets to scrub; patterns are always scrubbed.</param>
    /// <param name="time">Clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ArgumentException">The plan needs an outside vantage and none was given.</exception>
    /// <exception cref="AgentFailedException">An agent produced no report.</exception>
    public static async Task<ProbeRunReport> RunAsync(
        ProbePlan plan, IProbeVehicle target, IProbeVehicle? outside = null, KubernetesAccess? kubernetes = null,
        Redactor? redactor = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(target);
        time ??= TimeProvider.System;
        var outsidePlan = plan.OutsidePlan();
        if (outsidePlan is not null && outside is null)
        {
            throw new ArgumentException(
                $"The plan has controls that run outside the target ({string.Join(", ", outsidePlan.Steps.Select(s => s.Id))}) but no outside vehicle was given.",
                nameof(outside));
        }
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var targetTask = target.RunAsync(plan.TargetPlan(kubernetes), ct);
        var outsideTask = outsidePlan is null ? Task.FromResult<AgentReport?>(null) : RunOutsideAsync(outside!, outsidePlan, ct);
        await Task.WhenAll((Task)targetTask, outsideTask).ConfigureAwait(false);
        var results = Limit(Classifier.Classify(plan, await targetTask.ConfigureAwait(false), await outsideTask.ConfigureAwait(false), redactor), target.Unobservable);
        return new ProbeRunReport(results, target.Name, target.Notes, started, clock.Elapsed);
    }

    /// <summary>Results of probes the vehicle cannot ground in the operator become Inconclusive, with the vehicle's reason. Pure.</summary>
    public static IReadOnlyList<ProbeResult> Limit(IReadOnlyList<ProbeResult> results, IReadOnlyDictionary<string, string> unobservable)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(unobservable);
        return unobservable.Count == 0 ? results : [.. results.Select(r => Vehicles.Observability.Reason(unobservable, r.Probe.Id) is { } reason
            ? r with { Verdict = Verdict.Inconclusive(reason), Status = ProbeStatus.Inconclusive, Explanation = $"{r.Probe.Title}: {reason} (the agent saw {r.Verdict})" }
            : r)];
    }

    private static async Task<AgentReport?> RunOutsideAsync(IProbeVehicle outside, AgentPlan plan, CancellationToken ct) =>
        await outside.RunAsync(plan, ct).ConfigureAwait(false);
}
