using System.Collections.Immutable;
using Harness.NetworkPolicies;
using Harness.Probes;
using Harness.Runs;
using Harness.Verdicts;

namespace Harness.Tests.Runs;

/// <summary>
/// Issue #36 item 2 (and #35): a new pod may run unprotected until its network plugin programs the policies that select
/// it. An egress denial probe that was allowed while the policies in force deny the outside is repeated within a bounded
/// window, as the Kubernetes NetworkPolicy e2e tests poll; a pass says how long enforcement took, an allowance that
/// persists is the failure it is, and with the outside open nothing waits.
/// </summary>
public sealed class EnforcementWindowTests
{
    private static readonly ProbePlan Plan = Harness.Tests.Probes.TestPlans.Standard;

    private static ProbeResult Result(string id, bool allowed)
    {
        var probe = Plan.Probes.Single(p => p.Id == id);
        var control = new ControlEvidence("the sink accepts connections from outside the policed pod", true, "connected", Vantage.Outside);
        var evidence = new Harness.Verdicts.Evidence($"TCP connect ({id})", allowed ? null : "ETIMEDOUT", null, null, ImmutableDictionary<string, string>.Empty, 10, control);
        return allowed
            ? new ProbeResult(probe, Verdict.Allowed(), ProbeStatus.Failed, "allowed, expected denied", evidence)
            : new ProbeResult(probe, Verdict.Denied(Mechanism.ConnectTimeout), ProbeStatus.Passed, "denied by ConnectTimeout", evidence);
    }

    private static ProbeRunReport Report(params ProbeResult[] results) => new(results, "twin-pod", [], DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3));

    private static EgressReach Reach(EgressReachStatus status) => new(status, [], ["policies in force: test"]);

    [Fact]
    public async Task AllowedAtFirst_DeniedOnceThePluginEnforces_PassesAndSaysHowLongItTook()
    {
        var reruns = 0;
        var first = Report(Result("egress.sink.tcp", allowed: true), Result("fs.root", allowed: false));

        var settled = await OperatorRun.EnforcementSettledAsync(new RunSession(ct: TestContext.Current.CancellationToken), Plan, first, Reach(EgressReachStatus.Closed), 3000,
            (plan, ct) =>
            {
                plan.Probes.Select(p => p.Id).Should().Equal(["egress.sink.tcp"], "only what raced is repeated");
                return Task.FromResult(Report(Result("egress.sink.tcp", allowed: ++reruns < 2)));
            });

        reruns.Should().Be(2);
        settled.Results.Single(r => r.Probe.Id == "egress.sink.tcp").Status.Should().Be(ProbeStatus.Passed);
        settled.Results.Select(r => r.Probe.Id).Should().Equal(["egress.sink.tcp", "fs.root"], "the report keeps the plan's order");
        settled.Notes.Should().ContainSingle(n => n.StartsWith("egress: enforcement took", StringComparison.Ordinal) && n.Contains("3 attempts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StillAllowedAfterTheWindow_IsTheFailureItIs()
    {
        var first = Report(Result("egress.sink.tcp", allowed: true));

        var settled = await OperatorRun.EnforcementSettledAsync(new RunSession(ct: TestContext.Current.CancellationToken), Plan, first, Reach(EgressReachStatus.Closed), 1200,
            (plan, ct) => Task.FromResult(Report(Result("egress.sink.tcp", allowed: true))));

        settled.Results.Single().Status.Should().Be(ProbeStatus.Failed);
        settled.Notes.Should().ContainSingle(n => n.Contains("still allowed after the enforcement window", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(EgressReachStatus.Open, 10000)]
    [InlineData(EgressReachStatus.Closed, 0)]
    public async Task OutsideOpenByPolicy_OrWindowOff_NothingIsRepeated(EgressReachStatus status, int windowMs)
    {
        var first = Report(Result("egress.sink.tcp", allowed: true));

        var settled = await OperatorRun.EnforcementSettledAsync(new RunSession(ct: TestContext.Current.CancellationToken), Plan, first, Reach(status), windowMs,
            (plan, ct) => throw new InvalidOperationException("must not repeat"));

        settled.Should().BeSameAs(first);
    }
}
