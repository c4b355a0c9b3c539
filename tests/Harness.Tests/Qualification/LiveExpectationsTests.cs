using Harness.Rbac;
using Harness.Xunit;
using Harness.Scenarios;

namespace Harness.Tests.Qualification;

/// <summary>
/// Issue #23 item 6: the live scenarios' expectations rotted unseen because CI never runs them. Every id they expect to
/// fail is held here against the standard declarations, and the weak sample's local run (real containers) fails each
/// probe among them in the check its declaration names, as the live test will look for it.
/// </summary>
public sealed class LiveExpectationsTests(Harness.Tests.Docker.DockerFixture docker)
{
    [Fact]
    public async Task TheWeakSampleRunLocally_FailsEachExpectedProbe_InTheCheckItsDeclarationNames()
    {
        docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var lookup = new Harness.Runs.OperatorLookup
        {
            Deployment = "greeter-operator",
            Manifests = [RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File("fixtures/sample-operator/weak")],
        };

        var report = (await Harness.Runs.OperatorRun.Local(lookup, new Harness.Probes.OperatorProbeOptions()).RunAsync(new Harness.Runs.RunSession(ct: ct))).Report;

        var local = WeakSampleCatches.Failed.Where(f => report.Probes.Results.Any(r => r.Probe.Id == f.Id)).ToList();
        local.Select(f => f.Id).Should().Contain(["egress.sink.tcp", "fs.root", "proc.non-root", "kernel.setuid"], "the probes a local run has");
        foreach (var (id, why) in local)
        {
            var check = report.Probes.Results.Single(r => r.Probe.Id == id).Probe.Check;
            report[check].Should().Fail($"{id}: Failed", why);
        }
    }

    [Fact]
    public void EveryIdTheLiveScenariosExpect_IsAStandardProbeOrAccessQuestion()
    {
        var probes = Harness.Tests.Probes.TestPlans.Standard.Probes.Select(p => p.Id);
        var questions = AccessReviewMatrix.Build(new ServiceAccountRef("ns", "sa"), "kube-system").Select(q => q.Id);

        WeakSampleCatches.Failed.Select(f => f.Id).Should().BeSubsetOf(probes.Concat(questions));
        WeakSampleCatches.Failed.Should().OnlyContain(f => f.Why.Length > 0);
    }
}
