using System.Text.Json.Nodes;
using GreeterOperator;
using Harness.Images;
using Harness.Tests.Docker;
using Harness.Vehicles;

namespace Harness.Tests.SampleOperator;

public sealed class GreeterOperatorTests(DockerFixture docker)
{
    private static readonly JsonNode Greeting = JsonNode.Parse("""
        {"apiVersion":"demo.harness.dev/v1","kind":"Greeting",
         "metadata":{"name":"hello","namespace":"greeter-system","uid":"1b2c","generation":3},
         "spec":{"message":"Hello from the harness"},"status":{"observedGeneration":2}}
        """)!;

    [Fact]
    public void DesiredConfigMap_CarriesTheMessageAndIsOwnedByTheGreeting()
    {
        var cm = Reconciler.DesiredConfigMap(Greeting);

        cm["metadata"]!["name"]!.GetValue<string>().Should().Be("hello-greeting");
        cm["metadata"]!["namespace"]!.GetValue<string>().Should().Be("greeter-system");
        cm["data"]!["message"]!.GetValue<string>().Should().Be("Hello from the harness");
        var owner = cm["metadata"]!["ownerReferences"]![0]!;
        owner["uid"]!.GetValue<string>().Should().Be("1b2c");
        owner["controller"]!.GetValue<bool>().Should().BeTrue();
    }

    [Fact]
    public void StatusPatch_OnlyWhenTheGenerationIsNotYetObserved()
    {
        Reconciler.StatusPatch(Greeting)!["status"]!["observedGeneration"]!.GetValue<long>().Should().Be(3);
        var observed = JsonNode.Parse(Greeting.ToJsonString())!;
        observed["status"]!["observedGeneration"] = 3;
        Reconciler.StatusPatch(observed).Should().BeNull();
    }

    [Fact]
    public void ParseWatchLine_GivesTypeAndObject()
    {
        var (type, obj) = Reconciler.ParseWatchLine("""{"type":"MODIFIED","object":{"metadata":{"name":"hello"}}}""");

        type.Should().Be("MODIFIED");
        obj!["metadata"]!["name"]!.GetValue<string>().Should().Be("hello");
    }

    [Fact]
    public async Task Image_RunsTheNativeAotBinaryAsNonRootAndRefusesToStartOutsideACluster()
    {
        var (host, _) = docker.Require();
        var binary = RepoPaths.File("artifacts/sample-operator/greeter-operator");
        Assert.SkipUnless(File.Exists(binary) || DockerFixture.Required, $"the sample operator is not published at {binary} (bash eng/build-sample-operator.sh)");
        var ct = TestContext.Current.CancellationToken;
        var image = await ProbeImage.BuildApplicationAsync(host, binary, "harness.local/greeter-operator:test", ct);
        var spec = new ContainerRunSpec { Image = image, Command = ["version"], ReadOnlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges:true"] };

        await using var vehicle = await DockerVehicle.StartAsync(host, spec with { Command = ["run"] }, "greeter", ct);
        var (exit, _, stderr) = await vehicle.WaitAsync(ct);

        exit.Should().Be(1);
        stderr.Should().Contain("cannot start outside a cluster").And.Contain("KUBERNETES_SERVICE_HOST is not set");
    }
}
