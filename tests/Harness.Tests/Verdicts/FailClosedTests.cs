using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Verdicts;
using System.Collections.Immutable;
using Microsoft.Extensions.Time.Testing;

namespace Harness.Tests.Verdicts;

/// <summary>Issue #12, item 3: the classifier and the expectations fail closed.</summary>
public sealed class FailClosedTests
{
    private static readonly ProbePlan Plan = Harness.Tests.Probes.TestPlans.Standard;

    private static ProbeDefinition P(string id) => Plan.Probes.Single(p => p.Id == id);

    [Theory]
    [InlineData(null)]
    [InlineData("exec")]
    [InlineData("request")]
    public void ClassifyOne_NetworkTimeoutInAnUnknownStage_IsInconclusiveNotADrop(string? stage)
    {
        // A stalled agent reports a timeout without the stage a dropped packet leaves: it used to read as ConnectTimeout.
        var attempt = new StepResult
        {
            Id = "egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.TimedOut, Detail = "no answer",
            Data = stage is null ? null : new Dictionary<string, string> { ["stage"] = stage },
        };
        var control = new StepResult { Id = "control.egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.Succeeded };

        var r = Classifier.ClassifyOne(P("egress.sink.tcp"), attempt, control);

        r.Status.Should().Be(ProbeStatus.Inconclusive);
        r.Explanation.Should().Contain("unknown stage");
    }

    [Fact]
    public void Adjust_OverrideToDenied_KeepsNamedMechanismsNotAnyError()
    {
        var options = new OperatorProbeOptions { ExpectAllowed = ImmutableDictionary<string, bool>.Empty.Add("fs.writable", false).Add("dns.cluster", false) };

        var plan = options.Adjust(Plan);

        plan.Probes.Single(p => p.Id == "fs.writable").Expectation.Accepted.Should().Equal(Mechanism.ReadOnlyFilesystem, Mechanism.OperationNotPermitted);
        plan.Probes.Single(p => p.Id == "dns.cluster").Expectation.Accepted.Should().Contain(Mechanism.DnsNameNotFound).And.NotContain(Mechanism.ConnectionRefused);
        // An agent error (a crash, a missing directory) is not the denial, and neither is EACCES
        var probe = plan.Probes.Single(p => p.Id == "fs.writable");
        Classifier.ClassifyOne(probe, new StepResult { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Error, Detail = "crashed" }, null)
            .Status.Should().Be(ProbeStatus.Inconclusive);
        Classifier.ClassifyOne(probe, new StepResult { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Failed, Errno = "EACCES" }, null)
            .Status.Should().Be(ProbeStatus.Inconclusive);
        Classifier.ClassifyOne(probe, new StepResult { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Failed, Errno = "EROFS" }, null)
            .Status.Should().Be(ProbeStatus.Passed);
    }

    private sealed class HangingVehicle : IProbeVehicle
    {
        public string Name => "hanging";

        public ImmutableArray<string> Notes => [];

        // Ignores cancellation, as a stalled exec stream can.
        public Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default) => new TaskCompletionSource<AgentReport>().Task;
    }

    [Fact]
    public async Task RunAsync_ExecMissesItsDeadline_EveryVerdictIsInconclusiveWithTheStage()
    {
        var time = new FakeTimeProvider();
        var plan = StandardProbes.Create(new StandardProbeOptions { LocalTimeoutMs = 2000 });
        ProbeRunner.Deadline(plan.TargetPlan()).Should().Be(TimeSpan.FromSeconds(17), "the longest step timeout plus the 15 s margin");

        var run = ProbeRunner.RunAsync(plan, new HangingVehicle(), time: time, ct: TestContext.Current.CancellationToken);
        for (var i = 0; i < 100 && !run.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        run.IsCompleted.Should().BeTrue("the deadline is a bound, not a hope");
        var report = await run;
        report.Results.Should().OnlyContain(r => r.Status == ProbeStatus.Inconclusive);
        report["fs.root"].Explanation.Should().Contain("did not return within 17 s").And.Contain("stage seen: exec");
    }
}
