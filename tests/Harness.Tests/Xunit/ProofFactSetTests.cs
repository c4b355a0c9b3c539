using Harness.Probes;
using Harness.Proof;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Tests.Xunit;

/// <summary>The hardened sample's proof through the docker vehicle (<c>fixtures/scenarios/greeter-docker.yaml</c>), as a user's fact set would run it.</summary>
public sealed class GreeterDockerProof(IMessageSink messages) : OperatorProofFixture(messages)
{
    protected override string ScenarioFile => RepoPaths.File("fixtures/scenarios/greeter-docker.yaml");
}

/// <summary>
/// Issue #28: the opt-in xUnit fact set. The eight controls the docker vehicle observes are each caught; the two that
/// need a cluster (the Secrets reader, the payload) skip with the reason.
/// </summary>
public sealed class GreeterDockerProofTests : OperatorProofTests<GreeterDockerProof>;

/// <summary>The fact set's assertion and lookups can fail: a survivor fails with its evidence, a missing mutant says why.</summary>
public sealed class ProofAssertionTests
{
    private static readonly Mutant Rootfs = new("rootfs-writable", "readOnlyRootFilesystem", HardeningItem.RootFilesystemReadOnly, []);

    [Fact]
    public void BeCaught_ASurvivor_FailsNamingTheMutantTheCheckAndTheEvidence()
    {
        var survivor = new MutantVerdict(Rootfs, MutantOutcome.Survived, "PASSED (fs.root Inconclusive: writable directory /cache not mounted in the probe)");

        var act = () => survivor.Should().BeCaught();

        act.Should().Throw<Exception>().Which.Message.Should().Contain("rootfs-writable").And.Contain("rootfs-readonly").And.Contain("Survived").And.Contain("/cache not mounted");
        new MutantVerdict(Rootfs, MutantOutcome.Caught, "FAILED").Invoking(v => v.Should().BeCaught()).Should().NotThrow();
        new MutantVerdict(Rootfs, MutantOutcome.Unproven, "the original is FAILED").Invoking(v => v.Should().BeCaught()).Should().Throw<Exception>();
    }

    [Fact]
    public void WhyNoMutant_SaysWhetherTheOperatorLacksTheControlOrTheVehicleCannotObserveIt()
    {
        var set = new MutantSet([Rootfs], ["egress NetworkPolicies (egress-default-deny)"], ["a ServiceAccount that cannot read Secrets (serviceaccount-least-privilege): the access matrix needs a cluster"]);
        var original = new Harness.Qualification.QualificationReport(new("op", "docker", "docker", "0"), DateTimeOffset.UnixEpoch, TimeSpan.Zero, [], [], [], [], []);
        var report = new ProofReport("op", original, [new MutantVerdict(Rootfs, MutantOutcome.Caught, "FAILED")], set, TimeSpan.Zero, 1);

        report.For(HardeningItem.RootFilesystemReadOnly)!.Outcome.Should().Be(MutantOutcome.Caught);
        report.WhyNoMutant(HardeningItem.RootFilesystemReadOnly).Should().BeNull();
        report.WhyNoMutant(HardeningItem.EgressDefaultDeny).Should().Be("the operator does not have egress NetworkPolicies (egress-default-deny): the checklist fails it already");
        report.WhyNoMutant(HardeningItem.ServiceAccountLeastPrivilege).Should().StartWith("not run: ").And.EndWith("the access matrix needs a cluster");
        report.ExitCode.Should().Be(0);
        var none = report with { Verdicts = [] };
        none.ExitCode.Should().Be(1, "no mutant proves nothing");
        none.Render().Should().Contain("NOT PROVEN: no mutant was run").And.NotContain("PROVEN: every control");
    }
}

/// <summary>A cluster scenario proven on a cluster fixture that has no cluster: nothing runs.</summary>
public sealed class NoClusterProof(DerivedClusterFixture cluster, IMessageSink log) : OperatorProofFixture<DerivedClusterFixture>(cluster, log)
{
    protected override string ScenarioFile => RepoPaths.File("fixtures/scenarios/greeter-hardened.yaml");
}

/// <summary>A cluster scenario proven without a cluster fixture or a kubeconfig.</summary>
public sealed class NoKubeconfigProof(IMessageSink log) : OperatorProofFixture(log)
{
    protected override string ScenarioFile => RepoPaths.File("fixtures/scenarios/greeter-hardened.yaml");

    protected override Harness.Qualification.QualifyRequest Request(Harness.Qualification.QualificationScenario scenario) => base.Request(scenario) with { Kubeconfig = null };
}

/// <summary>Without a cluster the proof fixtures run nothing and their facts skip with the one-line reason (fail when a cluster is required).</summary>
public sealed class ProofWithoutAClusterTests(NoClusterProof onFixture, NoKubeconfigProof onKubeconfig) : IClassFixture<NoClusterProof>, IClassFixture<NoKubeconfigProof>
{
    [Fact]
    public void OnAClusterFixtureWithoutACluster_NothingRuns_AndTheReasonIsTheClusterFixtures()
    {
        onFixture.Report.Should().BeNull();
        onFixture.SetupFailure.Should().BeNull();
        onFixture.Invoking(f => f.RequireReport()).Should().Throw<Exception>().Which.Message.Should().Contain("no cluster");
    }

    [Fact]
    public void AClusterScenarioWithoutAKubeconfig_NothingRuns_AndTheReasonSaysWhatToSet()
    {
        onKubeconfig.Report.Should().BeNull();
        onKubeconfig.SetupFailure.Should().BeNull();
        onKubeconfig.Unavailable.Should().Be("no cluster: scenario " + RepoPaths.File("fixtures/scenarios/greeter-hardened.yaml") + " names the twin-pod vehicle; set HARNESS_KUBECONFIG=path to prove it on an existing cluster.");
    }
}
