using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Manifests;

namespace Harness.Tests.Deployment;

public sealed class DeploymentTests
{
    private static List<ManifestDocument> Sample() =>
    [
        .. ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened")),
        .. ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/shared")),
    ];

    [Fact]
    public void Plan_Sample_OrdersNamespaceCrdsClusterObjectsNamespacedThenCustomResources()
    {
        var plan = ManifestPlan.Build(Sample(), "harness-op-1");

        plan.Select(p => p.Display).Should().Equal(
            "Namespace harness-op-1",
            "CustomResourceDefinition greetings.demo.harness.dev",
            "Deployment harness-op-1/greeter-operator",
            "NetworkPolicy harness-op-1/default-deny",
            "NetworkPolicy harness-op-1/greeter-operator-egress",
            "NetworkPolicy harness-op-1/greeter-operator-apiserver",
            "ServiceAccount harness-op-1/greeter-operator",
            "Role harness-op-1/greeter-operator",
            "RoleBinding harness-op-1/greeter-operator",
            "Greeting harness-op-1/hello");
    }

    [Fact]
    public void Plan_WebhookConfigurationsAndAPIServices_ComeAfterTheWorkloadsThatServeThem()
    {
        // Issue #36 item 4: a kubebuilder project's mutating webhook matches Deployments; applied first, it blocked its
        // own manager: `failed calling webhook "mdeployment-v1.kb.io": failed to call webhook`. Helm applies them last.
        var docs = Harness.Manifests.ManifestLoader.LoadText("""
            apiVersion: admissionregistration.k8s.io/v1
            kind: MutatingWebhookConfiguration
            metadata: {name: op-mutating}
            webhooks: []
            ---
            apiVersion: apiregistration.k8s.io/v1
            kind: APIService
            metadata: {name: v1.metrics.example.com}
            spec: {group: metrics.example.com, version: v1, groupPriorityMinimum: 100, versionPriority: 100}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: op}
            rules: []
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: op-manager, namespace: op-system}
            spec:
              selector: {matchLabels: {app: op}}
              template:
                metadata: {labels: {app: op}}
                spec: {containers: [{name: manager, image: op:1}]}
            """, "install.yaml");

        var plan = ManifestPlan.Build(docs, "harness-op-1");

        plan.Select(p => p.Kind).Should().EndWith(["MutatingWebhookConfiguration", "APIService"]);
        plan.Select(p => p.Kind).ToList().IndexOf("Deployment").Should().BeLessThan(plan.Select(p => p.Kind).ToList().IndexOf("MutatingWebhookConfiguration"));
    }

    [Fact]
    public void Plan_Sample_FoldsTheOperatorNamespaceIntoTheTargetKeepingItsLabelsAndMovesSubjects()
    {
        var plan = ManifestPlan.Build(Sample(), "harness-op-1");

        var ns = JsonNode.Parse(plan[0].Json)!;
        ns["metadata"]!["labels"]!["pod-security.kubernetes.io/enforce"]!.GetValue<string>().Should().Be("restricted");
        var binding = JsonNode.Parse(plan.Single(p => p.Kind == "RoleBinding").Json)!;
        binding["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be("harness-op-1");
        binding["metadata"]!["namespace"]!.GetValue<string>().Should().Be("harness-op-1");
        var crd = JsonNode.Parse(plan.Single(p => p.Kind == "CustomResourceDefinition").Json)!;
        crd["metadata"]!.AsObject().ContainsKey("namespace").Should().BeFalse();
        var greeting = JsonNode.Parse(plan.Single(p => p.Kind == "Greeting").Json)!;
        greeting["spec"]!["message"]!.GetValue<string>().Should().Be("Hello from the harness");
        plan.Single(p => p.Kind == "Greeting").Should().Match<PlannedObject>(p => p.Group == "demo.harness.dev" && p.Version == "v1" && p.Phase == ApplyPhase.CustomResources);
    }

    [Fact]
    public void Plan_WeakSample_ClusterRoleBindingSubjectFollowsTheNamespace()
    {
        var plan = ManifestPlan.Build(ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/weak")), "harness-weak-1");

        var crb = JsonNode.Parse(plan.Single(p => p.Kind == "ClusterRoleBinding").Json)!;
        crb["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be("harness-weak-1");
        plan.Single(p => p.Kind == "ClusterRole").Namespace.Should().BeNull();
        JsonNode.Parse(plan[0].Json)!["metadata"]!["labels"]!["pod-security.kubernetes.io/enforce"]!.GetValue<string>().Should().Be("privileged");
    }

    [Fact]
    public void UnpinnedImages_ListsImagesWithoutDigest()
    {
        ManifestPlan.UnpinnedImages(Sample()).Should().Equal("harness.local/greeter-operator:dev");
        ManifestPlan.UnpinnedImages(ManifestLoader.LoadPath(RepoPaths.File("fixtures/manifests/complex-operator.yaml"))).Should().Equal("registry.example/reloader:0.9");
    }

    internal static (int, string) Discovery(string path) => path switch
    {
        "/api/v1" => (200, """{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"namespaces","namespaced":false,"kind":"Namespace","verbs":[]},{"name":"serviceaccounts","namespaced":true,"kind":"ServiceAccount","verbs":[]},{"name":"pods/exec","namespaced":true,"kind":"PodExecOptions","verbs":[]}]}"""),
        "/apis/apps/v1" => (200, """{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[{"name":"deployments","namespaced":true,"kind":"Deployment","verbs":[]}]}"""),
        "/apis/rbac.authorization.k8s.io/v1" => (200, """{"kind":"APIResourceList","groupVersion":"rbac.authorization.k8s.io/v1","resources":[{"name":"roles","namespaced":true,"kind":"Role","verbs":[]},{"name":"rolebindings","namespaced":true,"kind":"RoleBinding","verbs":[]}]}"""),
        "/apis/networking.k8s.io/v1" => (200, """{"kind":"APIResourceList","groupVersion":"networking.k8s.io/v1","resources":[{"name":"networkpolicies","namespaced":true,"kind":"NetworkPolicy","verbs":[]}]}"""),
        "/apis/apiextensions.k8s.io/v1" => (200, """{"kind":"APIResourceList","groupVersion":"apiextensions.k8s.io/v1","resources":[{"name":"customresourcedefinitions","namespaced":false,"kind":"CustomResourceDefinition","verbs":[]}]}"""),
        "/apis/demo.harness.dev/v1" => (200, """{"kind":"APIResourceList","groupVersion":"demo.harness.dev/v1","resources":[{"name":"greetings","namespaced":true,"kind":"Greeting","verbs":[]}]}"""),
        _ => (404, LoopbackHttpServer.NotFound),
    };

    [Fact]
    public async Task ApplyAsync_Sample_ServerSideAppliesEachObjectAtItsPathAfterTheCrdIsEstablished()
    {
        const string CrdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/greetings.demo.harness.dev";
        var crdApplied = false;
        (int, string) Patched(LoopbackHttpServer.Request r)
        {
            crdApplied |= r.Path == CrdPath;
            return (200, r.Body);
        }
        using var api = new LoopbackHttpServer(r => r.Method switch
        {
            "PATCH" => Patched(r),
            "GET" when r.Path == CrdPath && crdApplied => (200, """{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"greetings.demo.harness.dev"},"status":{"conditions":[{"type":"Established","status":"True"}]}}"""),
            "GET" => Discovery(r.Path),
            _ => (405, "{}"),
        });
        using var client = api.Client();
        var plan = ManifestPlan.Build(Sample(), "harness-op-1");

        var applied = await ManifestApplier.ApplyAsync(client, plan, ct: TestContext.Current.CancellationToken);

        var requests = api.Requests.ToList();
        var patches = requests.Where(r => r.Method == "PATCH").ToList();
        patches.Select(p => p.Path).Should().Equal(
            "/api/v1/namespaces/harness-op-1",
            CrdPath,
            "/apis/apps/v1/namespaces/harness-op-1/deployments/greeter-operator",
            "/apis/networking.k8s.io/v1/namespaces/harness-op-1/networkpolicies/default-deny",
            "/apis/networking.k8s.io/v1/namespaces/harness-op-1/networkpolicies/greeter-operator-egress",
            "/apis/networking.k8s.io/v1/namespaces/harness-op-1/networkpolicies/greeter-operator-apiserver",
            "/api/v1/namespaces/harness-op-1/serviceaccounts/greeter-operator",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/harness-op-1/roles/greeter-operator",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/harness-op-1/rolebindings/greeter-operator",
            "/apis/demo.harness.dev/v1/namespaces/harness-op-1/greetings/hello");
        patches.Should().OnlyContain(p => p.ContentType!.StartsWith("application/apply-patch+yaml", StringComparison.Ordinal)
            && p.PathAndQuery.Contains("fieldManager=harness", StringComparison.Ordinal) && !p.PathAndQuery.Contains("force=true", StringComparison.Ordinal),
            "the harness never forces: it does not take over fields another manager owns");
        var establishedCheck = requests.FindLastIndex(r => r.Method == "GET" && r.Path == CrdPath);
        establishedCheck.Should().BeGreaterThan(requests.FindIndex(r => r.Method == "PATCH" && r.Path == CrdPath))
            .And.BeLessThan(requests.FindIndex(r => r.Method == "PATCH" && r.Path.EndsWith("/greetings/hello", StringComparison.Ordinal)),
                "custom resources wait until their CRD is Established");
        applied.Should().HaveCount(10).And.OnlyContain(a => a.Created);
        applied.Single(a => a.Object.Kind == "Greeting").Plural.Should().Be("greetings");
    }

    [Fact]
    public async Task ApplyAsync_KindTheClusterDoesNotServe_NamesTheManifestLine()
    {
        using var api = new LoopbackHttpServer(r => r.Method == "GET" ? Discovery(r.Path) : (200, r.Body));
        using var client = api.Client();
        var docs = ManifestLoader.LoadText("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: widgets.example/v1\nkind: Widget\nmetadata: {name: w}\n", "cr.yaml");

        var act = () => ManifestApplier.ApplyAsync(client, ManifestPlan.Build(docs, "t"), ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<ManifestException>()).Which.Message
            .Should().Be("cr.yaml:5: the cluster does not serve kind Widget in widgets.example/v1; install its CRD (or the operator's CRDs) first, or check apiVersion.");
    }
}
