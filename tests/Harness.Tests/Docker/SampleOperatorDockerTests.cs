using Harness.Manifests;
using Harness.Probes;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Docker;

/// <summary>
/// The sample operator's two pod specs (hardened and weak), as a twin would run them, on real containers: the checks
/// that need no cluster give their verdicts here. The ServiceAccount check needs an API server and says so.
/// </summary>
public sealed class SampleOperatorDockerTests(MatrixFixture matrix) : IClassFixture<MatrixFixture>
{
    private static V1PodSpec PodSpec(string variant) =>
        ((V1Deployment)ManifestLoader.LoadPath(RepoPaths.File($"fixtures/sample-operator/{variant}")).Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec;

    private static void Print(ProbeRunReport report)
    {
        foreach (var outcome in CheckOutcome.Mission.Select(c => CheckOutcome.Of(c, report.Results)))
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{outcome.Check}: {outcome.Status}\n  {string.Join("\n  ", outcome.Evidence)}");
        }
    }

    [Fact]
    public async Task Hardened_PassesEveryCheckThatNeedsNoCluster()
    {
        matrix.Docker.Require();

        // A default-deny egress policy: the pod's network has no path to the sink.
        var report = await matrix.RunAsync(PodSpec("hardened"), joinSinkNetwork: false, sink: null, TestContext.Current.CancellationToken);
        Print(report);

        CheckOutcome.Of(HardeningCheck.EgressDenied, report.Results).Status.Should().Be(ProbeStatus.Passed);
        CheckOutcome.Of(HardeningCheck.RootFilesystemReadOnly, report.Results).Status.Should().Be(ProbeStatus.Passed);
        CheckOutcome.Of(HardeningCheck.PrivilegeEscalationDenied, report.Results).Status.Should().Be(ProbeStatus.Passed);
        var secrets = CheckOutcome.Of(HardeningCheck.SecretsNotReadable, report.Results);
        secrets.Status.Should().Be(ProbeStatus.Inconclusive, "reading Secrets is a question for an API server");
        secrets.Evidence.Should().Equal("no probe for this check ran");
    }

    [Fact]
    public async Task Weak_FailsEachCheckForItsOwnReason()
    {
        matrix.Docker.Require();

        // No NetworkPolicy at all: the pod can reach the sink.
        var report = await matrix.RunAsync(PodSpec("weak"), joinSinkNetwork: true, sink: null, TestContext.Current.CancellationToken);
        Print(report);

        CheckOutcome.Of(HardeningCheck.EgressDenied, report.Results).Status.Should().Be(ProbeStatus.Failed);
        report["egress.sink.http"].Verdict.Should().Be(Verdict.Allowed(), "egress is open");
        report["egress.sink.http"].Evidence.Data["sinkToken"].Should().Be(matrix.Sink!.Target.SinkToken);

        CheckOutcome.Of(HardeningCheck.RootFilesystemReadOnly, report.Results).Status.Should().Be(ProbeStatus.Failed);
        report["fs.root"].Verdict.Should().Be(Verdict.Allowed(), "root writes to a writable root filesystem");

        CheckOutcome.Of(HardeningCheck.PrivilegeEscalationDenied, report.Results).Status.Should().Be(ProbeStatus.Failed);
        report["kernel.setuid"].Status.Should().Be(ProbeStatus.Failed, "it already runs as uid 0");
        report["kernel.unshare-user"].Verdict.Should().Be(Verdict.Allowed(), "SYS_ADMIN with seccomp Unconfined opens user namespaces");
    }
}
