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
    }
}
