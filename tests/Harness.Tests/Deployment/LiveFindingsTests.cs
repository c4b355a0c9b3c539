using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Manifests;
using k8s.Models;

namespace Harness.Tests.Deployment;

/// <summary>Issue #11, items 5 and 7: what a real 1.36 cluster showed, reproduced with its answers.</summary>
public sealed class LiveFindingsTests
{
    // The real cluster's API server: Service 10.96.0.1:443, endpoint 192.0.2.2:6443 (not in kind's 172.18.0.0/16).
    private const string Service = """{"kind":"Service","apiVersion":"v1","metadata":{"name":"kubernetes","namespace":"default","labels":{"component":"apiserver","provider":"kubernetes"}},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":6443}],"clusterIP":"10.96.0.1","clusterIPs":["10.96.0.1"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack"}}""";
    private const string Slices = """{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"412"},"items":[{"metadata":{"name":"kubernetes","namespace":"default","labels":{"kubernetes.io/service-name":"kubernetes"}},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.2"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":6443}]}]}""";

    private static List<ManifestDocument> Hardened() => [.. ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened"))];

    [Fact]
    public async Task DiscoverAsync_RealClusterAnswers_FindsTheServiceAndTheEndpoint()
    {
        using var api = new LoopbackHttpServer(r => r.Path switch
        {
            "/api/v1/namespaces/default/services/kubernetes" => (200, Service),
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices" => (200, Slices),
            _ => (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"""),
        });
        using var client = api.Client();

        var endpoints = await ApiServerPolicy.DiscoverAsync(client, TestContext.Current.CancellationToken);

        endpoints.Select(e => $"{e.Address}:{e.Port}").Should().Equal("10.96.0.1:443", "192.0.2.2:6443");
        api.Requests.Should().Contain(r => r.PathAndQuery.Contains("labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes", StringComparison.Ordinal)
            || r.PathAndQuery.Contains("labelSelector=kubernetes.io/service-name=kubernetes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DiscoverAsync_NoEndpointSlice_SaysWhatToDo()
    {
        using var api = new LoopbackHttpServer(r => r.Path.EndsWith("/services/kubernetes", StringComparison.Ordinal)
            ? (200, Service)
            : (200, """{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[]}"""));
        using var client = api.Client();

        var act = () => ApiServerPolicy.DiscoverAsync(client, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<DeploymentException>()).WithMessage("*harness.dev/api-server-egress*endpointslices in default*");
    }

    [Fact]
    public void Render_HardenedSample_AllowsExactlyTheRealApiServerAndLeavesTheOtherPoliciesAlone()
    {
        var docs = Hardened();
        ApiServerPolicy.IsNeeded(docs).Should().BeTrue();
        ApiServerEndpoint[] endpoints = [new("10.96.0.1", 443, "Service default/kubernetes"), new("192.0.2.2", 6443, "EndpointSlice default/kubernetes")];

        var rendered = ApiServerPolicy.Render(docs, endpoints);

        var policy = (V1NetworkPolicy)rendered.Single(d => d.Name == "greeter-operator-apiserver").Object!;
        policy.Spec.Egress.Should().ContainSingle();
        policy.Spec.Egress[0].To.Select(t => t.IpBlock.Cidr).Should().Equal("10.96.0.1/32", "192.0.2.2/32");
        policy.Spec.Egress[0].Ports.Select(p => p.Port.Value).Should().Equal("443", "6443");
        policy.Metadata.Annotations["harness.dev/api-server-egress-rendered"].Should().Contain("192.0.2.2:6443 (EndpointSlice default/kubernetes)");
        ((V1NetworkPolicy)docs.Single(d => d.Name == "greeter-operator-apiserver").Object!).Spec.Egress[0].To[0].IpBlock.Cidr.Should().Be("172.18.0.0/16", "the input is not changed");
        rendered.Where(d => d.Name != "greeter-operator-apiserver").Should().Equal(docs.Where(d => d.Name != "greeter-operator-apiserver"));
        // and the plan applies the rendered form
        var planned = ManifestPlan.Build(rendered, "harness-op-1").Single(p => p.Name == "greeter-operator-apiserver");
        JsonNode.Parse(planned.Json)!["spec"]!["egress"]![0]!["to"]![1]!["ipBlock"]!["cidr"]!.GetValue<string>().Should().Be("192.0.2.2/32");
    }

    private static V1Pod Waiting(string image, string reason, string message) => new()
    {
        Metadata = new V1ObjectMeta { Name = "greeter-operator-7d9f-abcde" },
        Spec = new V1PodSpec { Containers = [new V1Container { Name = "operator", Image = image }] },
        Status = new V1PodStatus
        {
            ContainerStatuses = [new V1ContainerStatus { Name = "operator", Image = image, State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = reason, Message = message } } }],
        },
    };

    [Theory]
    [InlineData("ErrImageNeverPull", "Container image \"harness.local/greeter-operator:dev\" is not present with pull policy of Never")]
    [InlineData("ErrImagePull", "failed to pull and unpack image \"harness.local/greeter-operator:dev\": failed to resolve reference: dial tcp: lookup harness.local: no such host")]
    [InlineData("ImagePullBackOff", "Back-off pulling image \"harness.local/greeter-operator:dev\"")]
    public void ImageFailure_LocalImageMissingOnTheNodes_NamesItAndWhatToDo(string reason, string message)
    {
        const string image = "harness.local/greeter-operator:dev";

        var failure = OperatorDeployment.ImageFailure([Waiting(image, reason, message)], [image], "staging");

        failure.Should().NotBeNull();
        failure!.Image.Should().Be(image);
        failure.Message.Should().Contain($"image {image}: the nodes of staging do not have it").And.Contain(reason).And.Contain("ctr -n k8s.io images import");
    }

    [Fact]
    public void ImageFailure_RegistryHiccupOfARegistryImage_KeepsWaiting()
    {
        var pods = new[] { Waiting("registry.example/op@sha256:abc", "ErrImagePull", "i/o timeout") };

        OperatorDeployment.ImageFailure(pods, [], "staging").Should().BeNull("a first pull error of a registry image may recover; the back-off is what fails");
        OperatorDeployment.ImageFailure([Waiting("registry.example/op@sha256:abc", "ImagePullBackOff", "Back-off")], [], "staging")!
            .Message.Should().Contain("imagePullSecrets");
        OperatorDeployment.ImageFailure([Waiting("x", "ContainerCreating", "")], ["x"], "staging").Should().BeNull();
    }
}

public sealed class ImageReplacementTests
{
    [Fact]
    public void ReplaceImages_SwapsTemplateImagesWithoutTouchingTheInput()
    {
        var docs = ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/weak"));

        var replaced = OperatorDeployment.ReplaceImages(docs, new Dictionary<string, string> { ["harness.local/greeter-operator:dev"] = "harness.local/greeter-operator-probed:dev" });

        ((V1Deployment)replaced.Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec.Containers[0].Image.Should().Be("harness.local/greeter-operator-probed:dev");
        ((V1Deployment)docs.Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec.Containers[0].Image.Should().Be("harness.local/greeter-operator:dev");
        replaced.Single(d => d.Kind == "Deployment").Location.Should().Be(docs.Single(d => d.Kind == "Deployment").Location, "errors still point at the file and line");
        replaced.Where(d => d.Kind != "Deployment").Should().Equal(docs.Where(d => d.Kind != "Deployment"));
    }
}
