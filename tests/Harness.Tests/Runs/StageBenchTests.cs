using Harness.Cli;
using Harness.Runs;

namespace Harness.Tests.Runs;

/// <summary>
/// Issue #26: <c>harness bench stages</c> runs the run's own pipeline with each stage as long as its phase. Its figures
/// are not judged here (no test is timed); what is: that it runs the real schedule and names the longest path.
/// </summary>
public sealed class StageBenchTests
{
    [Fact]
    public async Task BenchStages_PrintsTheSumTheWallAndTheLongestPath_OfTheRunsOwnSchedule()
    {
        // Every phase instantaneous but the ones that decide the path: a schedule that ran the stages one after another
        // would put the vehicle on it; the run's own starts the vehicle beside the sink.
        string[] zero = [.. StageBench.Measured.Keys.Select(p => $"--latency={p}=0")];

        var (exit, output, error) = await CliRunner.RunAsync(["bench", "stages", "--runs", "1", .. zero, "--latency=Sink=0.4", "--latency=Vehicle=0.3", "--latency=Probes=0.2"]);

        exit.Should().Be(0, error);
        output.Should().Contain("sum of the phases (one after another):").And.Contain("wall time over 1 runs:")
            .And.MatchRegex(@"longest path: [\d.]+ s: .*Sink -> Probes")
            .And.NotMatchRegex(@"longest path: .*Vehicle", "the vehicle starts beside the sink, off the path");
    }

    [Fact]
    public void Latencies_AnUnknownPhaseOrABadNumber_NamesTheOption()
    {
        StageBench.Latencies(["payload=1.5"])[RunPhase.Payload].Should().Be(1.5);
        var unknown = () => StageBench.Latencies(["Lunch=1"]);
        unknown.Should().Throw<UsageException>().WithMessage("--latency Lunch=1: give PHASE=SECONDS*");
        var negative = () => StageBench.Latencies(["Probes=-1"]);
        negative.Should().Throw<UsageException>();
    }
}
