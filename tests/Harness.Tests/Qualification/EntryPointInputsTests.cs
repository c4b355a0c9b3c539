using Harness.Clusters;
using Harness.Probes;
using Harness.Qualification;
using Harness.Vehicles;

namespace Harness.Tests.Qualification;

/// <summary>
/// Issue #23 item 7: every entry point reads the same inputs through one path, and each setting that changes behaviour
/// reaches the run: the scenario file's vehicle and HARNESS_EGRESS_TARGETS through <c>harness qualify</c> and scenario
/// files, HARNESS_EGRESS_TARGETS through the xUnit fixture.
/// </summary>
public sealed class EntryPointInputsTests
{
    private const string Targets = "lab=http://10.1.2.3:8080/";

    private static string? Environment(string name) => name == EgressTargetList.Variable ? Targets : null;

    private static HarnessCluster Cluster() =>
        HarnessCluster.Adopt("fake", "/dev/null", null, new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "https://127.0.0.1:9" }), "probe:test", "fake", null, _ => ValueTask.CompletedTask);

    [Theory]
    [InlineData("ephemeral-container", VehicleKind.EphemeralContainer)]
    [InlineData("direct-exec", VehicleKind.DirectExec)]
    [InlineData("twin-pod", VehicleKind.TwinPod)]
    public async Task ScenarioFileVehicle_ReachesTheClusterRun(string vehicle, VehicleKind expected)
    {
        var scenario = ScenarioParser.Parse($"""
            apiVersion: harness.dev/v1alpha1
            kind: QualificationScenario
            operator:
              deployment: greeter-operator
              manifests: [{RepoPaths.File("fixtures/sample-operator/hardened")}]
            vehicle: {vehicle}
            """, "/tmp/s.yaml");
        await using var cluster = Cluster();

        Qualifier.Plan(cluster, scenario).Options.Vehicle.Should().Be(expected);
    }

    [Fact]
    public void EnvironmentEgressTargets_ReachScenarioRuns_AfterTheFilesOwn()
    {
        var scenario = ScenarioParser.Parse("""
            apiVersion: harness.dev/v1alpha1
            kind: QualificationScenario
            operator: {deployment: greeter-operator}
            egress:
              targets:
                - {name: own, url: "http://10.9.9.9:80/", address: 10.9.9.9}
            """, "/tmp/s.yaml");

        scenario.ProbeOptions(Environment).ExtraEgressTargets.Select(t => t.Name).Should().Equal("own", "lab");
        scenario.ProbeOptions(_ => null).ExtraEgressTargets.Select(t => t.Name).Should().Equal("own");
    }

    [Fact]
    public void EnvironmentEgressTargets_ReachTheFixturesDefaultOptions_ThroughTheSamePath()
    {
        new OperatorProbeOptions().WithEnvironment(Environment).ExtraEgressTargets.Single().Address.Should().Be("10.1.2.3");
        var bad = () => new OperatorProbeOptions().WithEnvironment(n => n == EgressTargetList.Variable ? "nonsense" : null);
        bad.Should().Throw<ArgumentException>().WithMessage("*HARNESS_EGRESS_TARGETS*");
    }
}
