using System.Diagnostics;
using Harness.Protocol;

namespace Harness.ProbeAgent;

/// <summary>Runs every step of a plan concurrently, each under its own timeout.</summary>
internal static class PlanRunner
{
    public static async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var context = new StepContext(plan.Kubernetes, plan.Target is { } t ? TargetView.Resolve(t) : TargetView.Self());
        var tasks = plan.Steps.Select(step => Task.Run(() => RunOneAsync(step, context, ct), ct)).ToArray();
        var results = await Task.WhenAll(tasks).ConfigureAwait(false);
        return new AgentReport { AgentVersion = Cli.Version, DurationMs = clock.ElapsedMilliseconds, Results = results };
    }

    private static async Task<StepResult> RunOneAsync(AgentStep step, StepContext context, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(1, step.TimeoutMs)));
        var progress = new StepProgress();
        Observation observation;
        try
        {
            if (context.Target.Refusal(step.Kind) is { } refusal)
            {
                throw new StepArgumentException(refusal);
            }
            var work = Steps.RunAsync(step, context, progress, timeout.Token);
            // WaitAsync also bounds steps whose API ignores cancellation (getaddrinfo).
            observation = await work.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // Say how far the step got: a DNS stall and a dropped connect are different verdicts.
            observation = Observation.TimedOut($"no answer within {step.TimeoutMs} ms during {progress.Stage ?? "the attempt"}", progress.Snapshot());
        }
        catch (StepArgumentException ex)
        {
            observation = Observation.Error(ex.Message);
        }
#pragma warning disable CA1031 // The agent must report every failure as data, never crash the whole plan.
        catch (Exception ex)
        {
            observation = Observation.Error($"{ex.GetType().Name}: {ex.Message}");
        }
#pragma warning restore CA1031
        return new StepResult
        {
            Id = step.Id,
            Kind = step.Kind,
            Outcome = observation.Outcome,
            Errno = observation.Errno,
            HttpStatus = observation.HttpStatus,
            StatusReason = observation.StatusReason,
            Detail = Trim(observation.Detail),
            Data = WithObserved(observation.Data, context.Target.Describe(step.Kind)),
            DurationMs = clock.ElapsedMilliseconds,
        };
    }

    private static Dictionary<string, string> WithObserved(IReadOnlyDictionary<string, string>? data, string observed)
    {
        var all = data is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(data, StringComparer.Ordinal);
        all[DataKeys.Observed] = observed;
        return all;
    }

    private static string? Trim(string? text) =>
        text is { Length: > 600 } ? string.Concat(text.AsSpan(0, 600), "…") : text;
}

/// <summary>How far a step got, so a timeout can say where it stalled (dns, connect, tls, http, exec).</summary>
internal sealed class StepProgress
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, string> data = new(StringComparer.Ordinal);

    public string? Stage
    {
        get
        {
            lock (gate)
            {
                return data.GetValueOrDefault("stage");
            }
        }
    }

    public void Enter(string stage) => Set("stage", stage);

    public void Set(string key, string value)
    {
        lock (gate)
        {
            data[key] = value;
        }
    }

    public Dictionary<string, string> Snapshot()
    {
        lock (gate)
        {
            return new Dictionary<string, string>(data, StringComparer.Ordinal);
        }
    }
}

/// <summary>A step's arguments are unusable; reported as an error outcome.</summary>
internal sealed class StepArgumentException(string message) : Exception(message);

/// <summary>Shared, read-only context for the steps of one plan.</summary>
internal sealed record StepContext(KubernetesAccess? Kubernetes, TargetView Target);

/// <summary>What a step saw, before it becomes a <see cref="StepResult"/>.</summary>
internal sealed record Observation(string Outcome)
{
    public string? Errno { get; init; }
    public int? HttpStatus { get; init; }
    public string? StatusReason { get; init; }
    public string? Detail { get; init; }
    public IReadOnlyDictionary<string, string>? Data { get; init; }

    public static Observation Succeeded(string? detail = null, IReadOnlyDictionary<string, string>? data = null) =>
        new(StepOutcomes.Succeeded) { Detail = detail, Data = data };

    public static Observation Failed(string errno, string? detail = null, IReadOnlyDictionary<string, string>? data = null) =>
        new(StepOutcomes.Failed) { Errno = errno, Detail = detail, Data = data };

    public static Observation TimedOut(string detail, IReadOnlyDictionary<string, string>? data = null) =>
        new(StepOutcomes.TimedOut) { Detail = detail, Data = data };

    public static Observation Error(string detail) => new(StepOutcomes.Error) { Detail = detail };
}
