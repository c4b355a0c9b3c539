using Harness.Qualification;
using Harness.Vehicles;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Scenarios;

/// <summary>
/// Issue #28 on the live cluster: the hardened sample's mutants (fixtures/scenarios/greeter-hardened.yaml), each run
/// on the cluster fixture's cluster, must each be caught, through each cluster vehicle: the twin pod, an ephemeral
/// container, and direct exec (into the sample built with the probe agent inside, its manifests copied with that image). The
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

/// <summary>Direct exec needs the agent in the operator's own image: the sample's manifests, copied with the probed image.</summary>
public sealed class GreeterDirectExecProof(HarnessClusterFixture c, IMessageSink l) : GreeterProof(c, l, VehicleKind.DirectExec)
{
    protected override QualificationScenario Scenario(QualificationScenario fromFile)
    {
        // Beside the test binaries, replaced on every run: nothing accumulates.
        var copy = new DirectoryInfo(Path.Combine(AppContext.BaseDirectory, "proof-direct-exec"));
        if (copy.Exists)
        {
            copy.Delete(recursive: true);
        }
        copy.Create();
        foreach (var (dir, i) in fromFile.Manifests.Select((d, i) => (d, i)))
        {
            var target = Directory.CreateDirectory(Path.Combine(copy.FullName, i.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
            foreach (var file in Directory.GetFiles(dir, "*.yaml"))
            {
                File.WriteAllText(Path.Combine(target, Path.GetFileName(file)), File.ReadAllText(file).Replace(SampleOperator.Image, SampleOperator.ProbedImage, StringComparison.Ordinal));
            }
        }
        return base.Scenario(fromFile) with { Manifests = [.. Directory.GetDirectories(copy.FullName).Order(StringComparer.Ordinal)], LocalImages = [SampleOperator.ProbedImage] };
    }
}

public sealed class GreeterTwinPodProofTests : OperatorProofTests<GreeterTwinPodProof>;

public sealed class GreeterDirectExecProofTests : OperatorProofTests<GreeterDirectExecProof>;

public sealed class GreeterEphemeralProofTests : OperatorProofTests<GreeterEphemeralProof>;
