using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Harness.Clusters;
using Harness.Manifests;
using Harness.Probes;
using Harness.Protocol;
using Harness.Rbac;
using Harness.Runs;
using Harness.Vehicles;
using k8s.Models;

namespace Harness.Cli;

/// <summary>
/// <c>harness bench stages</c>: the run's own pipeline (<see cref="OperatorRun"/>: its stage group, its order, its phase
/// clock) with every stage replaced by a wait as long as that phase takes on a real cluster, so that the wall time of
/// the schedule can be set beside the sum of its phases. The defaults are the phases measured on a warm single-node
/// cluster (issue #26); <c>--latency PHASE=SECONDS</c> changes one. Nothing is contacted.
/// </summary>
internal static class StageBench
{
    /// <summary>Seconds per phase on a real, warm single-node cluster (issue #26's measurements, split where it gave a sum).</summary>
    internal static readonly ImmutableDictionary<RunPhase, double> Measured = new Dictionary<RunPhase, double>
    {
        [RunPhase.Cluster] = 0.3, // connect and the rights pre-check; the rest of the 5.9-6.8 s was verification
        [RunPhase.Verification] = 6.0,
        [RunPhase.Deploy] = 0.5, // apply; the rest of deploy and rollout's 2.3-3.3 s was the rollout
        [RunPhase.Rollout] = 2.3,
        [RunPhase.Sink] = 3.6, // 2.1-5.1 s
        [RunPhase.Vehicle] = 2.0,
        [RunPhase.Probes] = 3.1,
        [RunPhase.AccessMatrix] = 0.1,
        [RunPhase.Payload] = 3.2,
        [RunPhase.Teardown] = 0.03,
    }.ToImmutableDictionary();

    /// <summary>Parses <c>PHASE=SECONDS</c> overrides onto the measured latencies.</summary>
    /// <exception cref="UsageException">An unknown phase or a bad number, naming the option.</exception>
    internal static ImmutableDictionary<RunPhase, double> Latencies(IEnumerable<string> overrides)
    {
        var latencies = Measured;
        foreach (var o in overrides)
        {
            var parts = o.Split('=', 2);
            if (parts.Length != 2 || !Enum.TryParse<RunPhase>(parts[0], ignoreCase: true, out var phase) || !latencies.ContainsKey(phase)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds < 0 || seconds > 600)
            {
                throw new UsageException($"--latency {o}: give PHASE=SECONDS, PHASE one of {string.Join(", ", Measured.Keys.Order())}, SECONDS from 0 to 600.");
            }
            latencies = latencies.SetItem(phase, seconds);
        }
        return latencies;
    }

    /// <summary>Runs the schedule <paramref name="runs"/> times and prints wall time beside the sum of the phases, and the critical path.</summary>
    internal static async Task<int> RunAsync(ImmutableDictionary<RunPhase, double> latencies, int runs, TextWriter stdout, CancellationToken ct)
    {
        await stdout.WriteLineAsync($"benchmark: the run's pipeline with each stage as long as its phase ({string.Join(", ", latencies.OrderBy(l => l.Key).Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Key} {l.Value:0.##} s")))}); nothing is contacted").ConfigureAwait(false);
        var walls = new List<double>();
        ImmutableArray<PhaseTiming> last = [];
        for (var i = 0; i < runs; i++)
        {
            var (wall, timings) = await OnceAsync(latencies, ct).ConfigureAwait(false);
            walls.Add(wall.TotalSeconds);
            last = timings;
        }
        walls.Sort();
        var sum = last.Sum(t => t.Duration.TotalSeconds);
        var path = PhaseClock.CriticalPath(last);
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"sum of the phases (one after another): {sum:0.00} s\nwall time over {runs} runs: min {walls[0]:0.00} s, median {walls[walls.Count / 2]:0.00} s, max {walls[^1]:0.00} s\nlongest path: {path.Sum(p => p.Duration.TotalSeconds):0.00} s: {string.Join(" -> ", path.Select(p => p.Phase))}")).ConfigureAwait(false);
        await stdout.WriteLineAsync($"timings: {PhaseClock.Format(last)}").ConfigureAwait(false);
        return 0;
    }

    private static async Task<(TimeSpan Wall, ImmutableArray<PhaseTiming> Timings)> OnceAsync(ImmutableDictionary<RunPhase, double> latencies, CancellationToken ct)
    {
        Task Wait(RunPhase phase) => Task.Delay(TimeSpan.FromSeconds(latencies[phase]), ct);
        var session = new RunSession(ct: ct);
        var watch = Stopwatch.StartNew();
        // As the qualification does: connected, then verified beside the run.
        await session.Clock.TimeAsync(RunPhase.Cluster, () => Wait(RunPhase.Cluster)).ConfigureAwait(false);
        var run = new OperatorRun(new Locate(Wait), new Vantage(Wait), new VehicleStage(Wait), new Access(Wait), new OperatorProbeOptions { SkipProbes = ["egress."] },
            environment: new Removal(() => Wait(RunPhase.Teardown)))
        {
            PayloadStage = new Payload(Wait),
            Verified = t => session.Clock.TimeAsync(RunPhase.Verification, () => Wait(RunPhase.Verification)),
        };
        var result = await run.RunAsync(session).ConfigureAwait(false);
        return (watch.Elapsed, result.Report.Timings);
    }

    private static OperatorUnderTest Operator(bool running) => new(
        new OperatorTarget("bench", new WorkloadRef("Deployment", "operator"), "manager", "operator", new V1ObjectMeta(),
            new V1PodSpec { Containers = [new V1Container { Name = "manager", Image = "operator:1" }] }, running ? "operator-1" : null),
        [], ["operator:1"], "restricted");

    private sealed class Locate(Func<RunPhase, Task> wait) : IOperatorStage
    {
        public async Task<LocatedOperator> LocateAsync(RunSession session)
        {
            await session.Clock.TimeAsync(RunPhase.Deploy, () => wait(RunPhase.Deploy)).ConfigureAwait(false);
            return new LocatedOperator(Operator(running: false), null)
            {
                Running = session.Clock.TimeAsync(RunPhase.Rollout, async () =>
                {
                    await wait(RunPhase.Rollout).ConfigureAwait(false);
                    return Operator(running: true);
                }),
            };
        }
    }

    private sealed class Vantage(Func<RunPhase, Task> wait) : IVantageStage
    {
        public async Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op)
        {
            await wait(RunPhase.Sink).ConfigureAwait(false);
            return EgressVantage.Of(EgressVantageKind.UserTargets, [], new Vehicle(null), () => ValueTask.CompletedTask);
        }
    }

    private sealed class VehicleStage(Func<RunPhase, Task> wait) : IVehicleStage
    {
        public bool NeedsRunningPod => false; // a twin pod, from the template

        public async Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
        {
            await wait(RunPhase.Vehicle).ConfigureAwait(false);
            return new Vehicle(wait);
        }
    }

    private sealed class Vehicle(Func<RunPhase, Task>? wait) : IProbeVehicle
    {
        public string Name => wait is null ? "control" : "twin";

        public ImmutableArray<string> Notes => [];

        public async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
        {
            if (wait is not null)
            {
                await wait(RunPhase.Probes).ConfigureAwait(false);
            }
            return new AgentReport { AgentVersion = "bench", Results = [] };
        }
    }

    private sealed class Access(Func<RunPhase, Task> wait) : IAccessStage
    {
        public async Task<ImmutableArray<AccessAnswer>> AskAsync(RunSession session, OperatorUnderTest op, string otherNamespace)
        {
            await wait(RunPhase.AccessMatrix).ConfigureAwait(false);
            return [];
        }

        public Task<ImmutableArray<Harness.Preflight.Finding>> ForeignTokensAsync(RunSession session, OperatorUnderTest op) => Task.FromResult(ImmutableArray<Harness.Preflight.Finding>.Empty);
    }

    private sealed class Removal(Func<Task> wait) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await wait().ConfigureAwait(false);
    }

    private sealed class Payload(Func<RunPhase, Task> wait) : IPayloadStage
    {
        public async Task<Harness.Payload.PayloadReport> InventoryAsync(RunSession session, OperatorUnderTest op)
        {
            await wait(RunPhase.Payload).ConfigureAwait(false);
            return Harness.Payload.PayloadReport.Untested("bench: simulated");
        }
    }
}
