using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Runs;
using Harness.Tests.SampleOperator;

namespace Harness.Tests.Deployment;

/// <summary>
/// Issue #25: what `harness qualify`, the xUnit operator fixture and a scenario file deploy (all go through
/// <see cref="OperatorDeployment"/>) from the sample as it would ship: the kustomize tree, the chart and the OLM bundle
/// each put on the loopback API server what the plain hardened manifests put there, say how they were read, and leave
/// nothing behind.
/// </summary>
public sealed class ShippedInputsDeployTests
{
    public static TheoryData<string> Shapes => ["kustomize", "chart", "bundle"];

    private static OperatorSpec Spec(string shape) => SharedClusterTests.Sample("hardened") with
    {
        Manifests = shape switch
        {
            "kustomize" => [RepoPaths.File("fixtures/sample-operator/shared"), SampleLayoutsTests.Kustomized],
            "chart" => [RepoPaths.File("fixtures/sample-operator/shared"), SampleLayoutsTests.Chart],
            "bundle" => [RepoPaths.File("fixtures/sample-operator/shared"), .. SampleLayoutsTests.Bundled],
            _ => [RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File("fixtures/sample-operator/hardened")],
        },
        Helm = shape == "chart" ? SampleLayoutsTests.ChartOptions : Harness.Manifests.HelmOptions.Default,
    };

    /// <summary>Each applied object as kind and name, the run's session taken out; policy and role names are the shape's own.</summary>
    private static string[] Applied(DeployedOperator deployed, SessionId session) =>
    [
        .. deployed.Applied.Select(a => $"{a.Object.Kind} {a.Object.Namespace?.Replace(session.Value, "S", StringComparison.Ordinal)}/{(a.Object.Kind is "NetworkPolicy" or "Role" or "RoleBinding" ? "*" : a.Object.Name.Replace(session.Value, "S", StringComparison.Ordinal))}")
            .Order(StringComparer.Ordinal),
    ];

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task TheSampleAsShipped_DeploysWhatThePlainManifestsDeploy_AndLeavesNothing(string shape)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        await using var cluster = SharedClusterTests.Cluster(api);
        var (plainSession, shapeSession) = (SessionId.Parse("plain1"), SessionId.Parse("shape1"));
        var log = new StringWriter();

        await using var plain = await OperatorDeployment.DeployAsync(cluster, Spec("plain"), plainSession, TextWriter.Null, ct: ct);
        var deployed = await OperatorDeployment.DeployAsync(cluster, Spec(shape), shapeSession, log, ct: ct);

        Applied(deployed, shapeSession).Should().Equal(Applied(plain, plainSession));
        JsonNode PodSpec(DeployedOperator d) => api.Get("apis/apps/v1/deployments", d.Target.Namespace, "greeter-operator")!["spec"]!["template"]!["spec"]!;
        PodSpec(deployed).ToJsonString().Should().Be(PodSpec(plain).ToJsonString(), "the same pod runs, whatever the shape it shipped in");
        api.Get("apis/apps/v1/deployments", deployed.Target.Namespace, "greeter-operator")!["metadata"]!["annotations"]?["config.kubernetes.io/origin"]
            .Should().BeNull("kustomize's origin annotation is the harness's means of locating sources, never applied");
        deployed.Target.Namespace.Should().EndWith("-shape1").And.NotBe(plain.Target.Namespace);
        var said = string.Join('\n', deployed.InputNotes);
        switch (shape)
        {
            case "bundle":
                said.Should().Contain("ClusterServiceVersion greeter-operator.v0.1.0 read as the 4 objects OLM would create from it (deployed without OLM");
                log.ToString().Should().Contain("note: ").And.Contain("deployed without OLM", "the run's log says it too");
                break;
            default:
                said.Should().BeEmpty();
                break;
        }

        await deployed.DisposeAsync();
        await Task.Delay(api.TerminationDelay * 3, ct);
        api.Keys.Where(k => k.Contains(shapeSession.Value, StringComparison.Ordinal)).Should().BeEmpty("the shape's run removed what it applied");
        api.Get("apis/apps/v1/deployments", plain.Target.Namespace, "greeter-operator").Should().NotBeNull("and nothing of the other run");
    }
}
