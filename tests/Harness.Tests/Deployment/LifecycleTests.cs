using Harness.Runs;
using System.Text.Json.Nodes;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Manifests;
using Microsoft.Extensions.Time.Testing;

namespace Harness.Tests.Deployment;

/// <summary>Issue #12, item 4: what the harness applies it tracks as it applies, removes exactly, and never takes over.</summary>
public sealed class LifecycleTests
{
    private const string Established = """{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"greetings.demo.harness.dev"},"status":{"conditions":[{"type":"Established","status":"True"}]}}""";

    private static List<ManifestDocument> Sample() =>
    [
        .. ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened")),
        .. ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/shared")),
    ];

    [Fact]
    public async Task ApplyAsync_FailsHalfWay_RecordsWhatWasSentAndDeleteRemovesExactlyThat()
    {
        // Given an API server that refuses the Deployment (the third object) after the namespace and the CRD went in
        var crdApplied = false;
        using var api = new LoopbackHttpServer(r => (r.Method, r.Path) switch
        {
            // The release of the shared CRD at teardown: its hold removed, no other run holds it.
            ("PATCH", _) when r.ContentType?.Contains("merge-patch", StringComparison.Ordinal) == true => (200, """{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"greetings.demo.harness.dev","resourceVersion":"7","labels":{"io.harness.owner":"harness","io.harness.session":"s1"}}}"""),
            ("PATCH", var p) when p.Contains("/deployments/", StringComparison.Ordinal) => (500, """{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","reason":"InternalError","code":500}"""),
            ("PATCH", var p) => (crdApplied |= p.EndsWith("/greetings.demo.harness.dev", StringComparison.Ordinal)) is var _ ? (200, r.Body) : default,
            ("DELETE", _) => (200, """{"kind":"Status","apiVersion":"v1","status":"Success"}"""),
            ("GET", var p) when p.EndsWith("/greetings.demo.harness.dev", StringComparison.Ordinal) => crdApplied ? (200, Established) : (404, LoopbackHttpServer.NotFound),
            ("GET", var p) => p.Split('/').Length <= 4 || p.StartsWith("/apis/", StringComparison.Ordinal) && p.Split('/').Length == 4 ? DeploymentTests.Discovery(p) : (404, LoopbackHttpServer.NotFound),
            _ => (405, "{}"),
        });
        using var client = api.Client();
        var applied = new List<AppliedObject>();

        // When the apply fails
        var act = () => ManifestApplier.ApplyAsync(client, ManifestPlan.Build(Sample(), "harness-op-1"), applied, SessionId.Parse("s1"), ct: TestContext.Current.CancellationToken);
        await act.Should().ThrowAsync<k8s.Autorest.HttpOperationException>();

        // Then what was sent is known, including the object whose request failed
        applied.Select(a => a.Object.Display).Should().Equal("Namespace harness-op-1", "CustomResourceDefinition greetings.demo.harness.dev", "Deployment harness-op-1/greeter-operator");
        applied.Should().OnlyContain(a => a.Created);
        // and teardown removes the cluster-scoped CRD and the namespace (which takes the Deployment with it)
        await ManifestApplier.DeleteCreatedAsync(client, applied);
        api.Requests.Where(r => r.Method == "DELETE").Select(r => r.Path).Should().Equal(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/greetings.demo.harness.dev",
            "/api/v1/namespaces/harness-op-1");
        // Every object it created carries the session label, so a sweep finds it if the run dies; the shared CRD carries
        // the session's hold instead (runs applying it at once would conflict on one session label), which the sweep reads.
        var created = api.Requests.Where(r => r.Method == "PATCH" && r.ContentType!.Contains("apply-patch", StringComparison.Ordinal))
            .Select(r => (Path: r.Path, Labels: JsonNode.Parse(r.Body)!["metadata"]!["labels"]!)).ToList();
        created.Where(c => !c.Path.Contains("customresourcedefinitions", StringComparison.Ordinal)).Should().OnlyContain(c => (string?)c.Labels["io.harness.session"] == "s1");
        created.Where(c => c.Path.Contains("customresourcedefinitions", StringComparison.Ordinal)).Should().ContainSingle()
            .Which.Labels.AsObject().Select(l => $"{l.Key}={l.Value}").Should().Contain(["io.harness.owner=harness", "hold.harness.dev/s1=true"]).And.NotContain(l => l.StartsWith("io.harness.session", StringComparison.Ordinal));
    }

    [Fact]
    public void ToDelete_ObjectsInANamespaceThatExisted_AreDeletedOneByOne()
    {
        // Qualification deploys into an existing namespace: the harness must remove its own objects there itself.
        var plan = ManifestPlan.Build(Sample(), "greeter-qualify");
        var applied = plan.Select(p => new AppliedObject(p, p.Kind.ToLowerInvariant() + "s", Created: p.Kind != "Namespace" && p.Kind != "ServiceAccount")).ToList();

        var order = ManifestApplier.ToDelete(applied).Select(a => a.Object.Display).ToList();

        order.Should().NotContain("Namespace greeter-qualify", "it existed before").And.NotContain("ServiceAccount greeter-qualify/greeter-operator", "it existed before");
        order.Should().StartWith("Greeting greeter-qualify/hello", "newest first").And.Contain("Deployment greeter-qualify/greeter-operator").And.EndWith("CustomResourceDefinition greetings.demo.harness.dev");
    }

    [Fact]
    public async Task ApplyAsync_ExistingObjectOwnedByAnotherManager_IsRefusedNotTakenOver()
    {
        const string Conflict = """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .metadata.labels.pod-security.kubernetes.io/enforce","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-client-side-apply\" using v1","field":".metadata.labels.pod-security.kubernetes.io/enforce"}]},"code":409}""";
        using var api = new LoopbackHttpServer(r => (r.Method, r.Path) switch
        {
            ("GET", "/api/v1/namespaces/greeter-qualify") => (200, """{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"greeter-qualify","labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}"""),
            ("PATCH", "/api/v1/namespaces/greeter-qualify") => (409, Conflict),
            ("GET", var p) => DeploymentTests.Discovery(p),
            _ => (405, "{}"),
        });
        using var client = api.Client();
        var applied = new List<AppliedObject>();

        var act = () => ManifestApplier.ApplyAsync(client, ManifestPlan.Build(Sample(), "greeter-qualify"), applied, SessionId.Parse("s1"), ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<DeploymentException>()).Which.Message.Should()
            .Contain("Namespace greeter-qualify").And.Contain("already exists and has fields another manager owns")
            .And.Contain("pod-security.kubernetes.io/enforce").And.Contain("does not take them over");
        var patch = api.Requests.Single(r => r.Method == "PATCH");
        patch.PathAndQuery.Should().Contain("force=false");
        JsonNode.Parse(patch.Body)!["metadata"]!["labels"]!.AsObject().ContainsKey("io.harness.session").Should().BeFalse("an object the harness did not create gets no label of its");
        applied.Single().Created.Should().BeFalse();
        ManifestApplier.ToDelete(applied).Should().BeEmpty("nothing it did not create is ever deleted");
    }

    [Fact]
    public async Task SweepAsync_LeftoversOlderThanTheBound_AreDeletedAndNothingElse()
    {
        var now = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(now);
        string Meta(string name, string? ns, int hoursAgo) =>
            "{\"name\":\"" + name + "\"," + (ns is null ? "" : "\"namespace\":\"" + ns + "\",")
            + "\"creationTimestamp\":\"" + now.AddHours(-hoursAgo).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture)
            + "\",\"labels\":{\"io.harness.session\":\"old1\",\"io.harness.owner\":\"harness\"}}";
        using var api = new LoopbackHttpServer(r => (r.Method, r.Path) switch
        {
            ("GET", "/api/v1/namespaces") => (200, $$$"""{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{{{Meta("harness-greeter-operator-old1", null, 9)}}}},{"metadata":{{{Meta("harness-control-new2", null, 1)}}}}]}"""),
            ("GET", "/api/v1/pods") => (200, $$$"""{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{{{Meta("greeter-operator-harness-twin-old1", "widgets", 30)}}}}]}"""),
            ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions") => (200, $$$"""{"kind":"CustomResourceDefinitionList","apiVersion":"apiextensions.k8s.io/v1","metadata":{},"items":[{"metadata":{{{Meta("greetings.demo.harness.dev", null, 7)}}},"spec":{"group":"demo.harness.dev","names":{"plural":"greetings","kind":"Greeting"},"scope":"Namespaced","versions":[]}}]}"""),
            ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles") => (403, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}"""),
            ("GET", var p) => (200, """{"apiVersion":"v1","metadata":{},"items":[]}"""),
            ("DELETE", var p) when p.Contains("/pods/", StringComparison.Ordinal) => (200, """{"kind":"Pod","apiVersion":"v1","metadata":{"name":"greeter-operator-harness-twin-old1"}}"""),
            ("DELETE", _) => (200, """{"kind":"Status","apiVersion":"v1","status":"Success"}"""),
            _ => (405, "{}"),
        });
        using var client = api.Client();
        var log = new StringWriter();

        var deleted = await LeftoverSweep.SweepAsync(client, TimeSpan.FromHours(6), time, log, TestContext.Current.CancellationToken);

        deleted.Should().Equal("Namespace harness-greeter-operator-old1", "Pod widgets/greeter-operator-harness-twin-old1", "CustomResourceDefinition greetings.demo.harness.dev");
        api.Requests.Where(r => r.Method == "DELETE").Select(r => r.Path).Should().Equal(
            "/api/v1/namespaces/harness-greeter-operator-old1", "/api/v1/namespaces/widgets/pods/greeter-operator-harness-twin-old1",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/greetings.demo.harness.dev");
        api.Requests.Where(r => r.Method == "GET").Should().OnlyContain(r => r.PathAndQuery.Contains("labelSelector=io.harness.", StringComparison.Ordinal));
        log.ToString().Should().Contain("sweep: cannot list ClusterRole (403); skipped");
    }
}
