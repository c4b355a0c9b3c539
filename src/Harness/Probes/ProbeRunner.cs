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
        var targetTask = RunWithDeadlineAsync(target, plan.TargetPlan(kubernetes), time, ct);
        var outsideTask = outsidePlan is null ? Task.FromResult<AgentReport?>(null) : RunOutsideAsync(outside!, outsidePlan, time, ct);
        await Task.WhenAll((Task)targetTask, outsideTask).ConfigureAwait(false);
        var targetReport = await targetTask.ConfigureAwait(false);
        var results = Limit(Vehicles.Observability.VerifyIdentity(Classifier.Classify(plan, targetReport, await outsideTask.ConfigureAwait(false), redactor), targetReport, target.Identity), target.Unobservable);
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

    private static async Task<AgentReport?> RunOutsideAsync(IProbeVehicle outside, AgentPlan plan, TimeProvider time, CancellationToken ct) =>
        await RunWithDeadlineAsync(outside, plan, time, ct).ConfigureAwait(false);

    /// <summary>What an exec may take beyond its longest step: starting the exec, the agent's own start, the report's way back.</summary>
    public static TimeSpan ExecMargin { get; } = TimeSpan.FromSeconds(15);

    /// <summary>The bound on one agent exec: the plan's longest step timeout plus <see cref="ExecMargin"/>.</summary>
    public static TimeSpan Deadline(AgentPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return TimeSpan.FromMilliseconds(plan.Steps.Select(s => s.TimeoutMs).DefaultIfEmpty(0).Max()) + ExecMargin;
    }

    /// <summary>
    /// Runs a plan under <see cref="Deadline"/>. An exec that does not return by then (a stalled stream, a hung agent)
    /// becomes a report in which every step is an error naming the deadline and the stage seen, so every verdict of that
    /// run is Inconclusive; it never turns into a timeout a network probe could read as a dropped connection.
    /// </summary>
    private static async Task<AgentReport> RunWithDeadlineAsync(IProbeVehicle vehicle, AgentPlan plan, TimeProvider time, CancellationToken ct)
    {
        var deadline = Deadline(plan);
        using var timer = new CancellationTokenSource(deadline, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        try
        {
            // WaitAsync returns at the deadline even from a vehicle that ignores its token.
            return await vehicle.RunAsync(plan, linked.Token).WaitAsync(deadline, time, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return MissedDeadline(plan, vehicle.Name, deadline);
        }
    }

    /// <summary>The report of an exec that missed its deadline: every step an error with the deadline and the stage seen. Pure.</summary>
    public static AgentReport MissedDeadline(AgentPlan plan, string vehicle, TimeSpan deadline)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var detail = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"the agent's exec in {vehicle} did not return within {deadline.TotalSeconds:0.#} s (the longest step timeout plus {ExecMargin.TotalSeconds:0} s); stage seen: exec (no report)");
        return new AgentReport
        {
            AgentVersion = "none",
            DurationMs = (long)deadline.TotalMilliseconds,
            Results = [.. plan.Steps.Select(st => new StepResult
            {
                Id = st.Id,
                Kind = st.Kind,
                Outcome = StepOutcomes.Error,
                Detail = detail,
                Data = new Dictionary<string, string> { ["stage"] = "exec" },
            })],
        };
    }
}
