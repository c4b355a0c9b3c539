using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Harness.Clusters;
using Harness.Probes;
using Harness.Protocol;
using Harness.Runs;
using Harness.Tests.Deployment;
using Harness.Vehicles;

namespace Harness.Tests.Runs;

/// <summary>
/// Issue #26: the run's real API stages (the deploy and its rollout, the access matrix, the payload inventory) against
/// the loopback API server answering every request after a cluster's round trip, with the stages that need a kubelet
/// (the sink, the vehicle, the probes: exec) as long as they take on a real cluster. Judged by the order of the phases
/// the run recorded, never by a clock's threshold: the API stages run beside the probes, so the run's longest path
/// leaves them out and is shorter than the sum of its phases. The figures go to the test output.
/// </summary>
public sealed class ScheduleUnderLatencyTests
{
    private static readonly TimeSpan RoundTrip = TimeSpan.FromMilliseconds(25);

    private sealed class Vantage(TimeSpan takes) : IVantageStage
    {
        public async Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op)
        {
            await Task.Delay(takes, session.Cancellation);
            return EgressVantage.Of(EgressVantageKind.UserTargets, [], new Vehicle(TimeSpan.Zero), () => ValueTask.CompletedTask);
        }
    }

    private sealed class VehicleStage(TimeSpan starts, TimeSpan probes) : IVehicleStage
    {
        public bool NeedsRunningPod => false;

        public async Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
        {
            await Task.Delay(starts, session.Cancellation);
            return new Vehicle(probes);
        }
    }

    private sealed class Vehicle(TimeSpan probes) : IProbeVehicle
    {
        public string Name => "twin";

        public ImmutableArray<string> Notes => [];

        public async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
        {
            await Task.Delay(probes, ct);
            return new AgentReport { AgentVersion = "test", Results = [] };
        }
    }

    [Fact]
    public async Task TheApiStagesUnderARealRoundTrip_RunBesideTheProbes_OffTheLongestPath()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        api.Latency = RoundTrip;
        // The operator's reconcile: a ConfigMap for each Greeting, owned by it, written by its field manager.
        var controllers = api.Created;
        api.Created = (server, obj) =>
        {
            controllers?.Invoke(server, obj);
            if ((string?)obj["kind"] == "Greeting")
            {
                server.Put(new JsonObject
                {
                    ["apiVersion"] = "v1", ["kind"] = "ConfigMap",
                    ["metadata"] = new JsonObject
                    {
                        ["name"] = $"{obj["metadata"]!["name"]}-greeting", ["namespace"] = obj["metadata"]!["namespace"]!.DeepClone(),
                        ["ownerReferences"] = new JsonArray(new JsonObject { ["apiVersion"] = "demo.harness.dev/v1", ["kind"] = "Greeting", ["name"] = obj["metadata"]!["name"]!.DeepClone(), ["uid"] = obj["metadata"]!["uid"]!.DeepClone(), ["controller"] = true }),
                    },
                    ["data"] = new JsonObject { ["message"] = "hello" },
                }, "greeter-operator");
            }
        };
        await using var cluster = SharedClusterTests.Cluster(api);
        var options = new OperatorProbeOptions { SkipProbes = ["egress."] };
        var run = new OperatorRun(new DeployStage(cluster, SharedClusterTests.Sample("hardened")), new Vantage(TimeSpan.FromSeconds(1.2)),
            new VehicleStage(TimeSpan.FromSeconds(0.6), TimeSpan.FromSeconds(2.5)), new AccessStage(cluster), options)
        {
            PayloadStage = new PayloadStage(cluster, options),
        };

        var result = await run.RunAsync(new RunSession(ct: ct));

        var timings = result.Report.Timings;
        var phase = timings.ToDictionary(t => t.Phase);
        var path = PhaseClock.CriticalPath(timings);
        var sum = TimeSpan.FromTicks(timings.Sum(t => t.Duration.Ticks));
        var longest = TimeSpan.FromTicks(path.Sum(p => p.Duration.Ticks));
        TestContext.Current.TestOutputHelper?.WriteLine($"{api.Requests.Count} requests at {RoundTrip.TotalMilliseconds} ms each; phases {sum.TotalSeconds:0.00} s one after another, longest path {longest.TotalSeconds:0.00} s: {PhaseClock.Format(timings)}");
        result.Report.Payload!.Evidence.Should().Contain(e => e.StartsWith("control held", StringComparison.Ordinal), "the inventory saw the reconciled ConfigMap");
        phase[RunPhase.Payload].Start.Should().BeLessThan(phase[RunPhase.Probes].End, "the inventory runs beside the probes");
        phase[RunPhase.AccessMatrix].Start.Should().BeLessThan(phase[RunPhase.Probes].End, "so does the access matrix");
        phase[RunPhase.Sink].Start.Should().BeLessThan(phase[RunPhase.Deploy].End, "the vantage starts with the deploy");
        path.Select(p => p.Phase).Should().Contain(RunPhase.Probes).And.NotContain([RunPhase.Payload, RunPhase.AccessMatrix], "they cost no wall time");
        longest.Should().BeLessThan(sum, "the run waits for its longest path, not for the sum of its phases");
    }
}
