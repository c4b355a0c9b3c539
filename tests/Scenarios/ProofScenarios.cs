using Harness.Qualification;
using Harness.Vehicles;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Scenarios;

/// <summary>
/// Issue #28 on the live cluster: the hardened sample's mutants (fixtures/scenarios/greeter-hardened.yaml), each run
/// on the cluster fixture's cluster, must each be caught, through the twin pod and through an ephemeral container. The
/// Secrets reader runs here (the access matrix needs a cluster); the payload mutant does not (the sample's Greeting asks
/// for no container), and its fact says so.
/// </summary>
public abstract class GreeterProof(HarnessClusterFixture cluster, IMessageSink log, VehicleKind vehicle) : OperatorProofFixture<HarnessClusterFixture>(cluster, log)
{
    protected override string ScenarioFile => SampleOperator.RepoPath("fixtures/scenarios/greeter-hardened.yaml");

    protected override QualificationScenario Scenario(QualificationScenario fromFile) => fromFile with { Vehicle = vehicle };
}

public sealed class GreeterTwinPodProof(HarnessClusterFixture c, IMessageSink l) : GreeterProof(c, l, VehicleKind.TwinPod);

public sealed class GreeterEphemeralProof(HarnessClusterFixture c, IMessageSink l) : GreeterProof(c, l, VehicleKind.EphemeralContainer);

public sealed class GreeterTwinPodProofTests : OperatorProofTests<GreeterTwinPodProof>;

public sealed class GreeterEphemeralProofTests : OperatorProofTests<GreeterEphemeralProof>;
