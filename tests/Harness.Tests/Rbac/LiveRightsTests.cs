using System.Text.Json.Nodes;
using Harness.Manifests;
using Harness.Rbac;

namespace Harness.Tests.Rbac;

/// <summary>
/// Issue #27 item 2, live, against the loopback API server: the cluster's own bindings are read (one added outside the
/// manifests is found), each excess is confirmed by a SubjectAccessReview (one the authorizer denies is not reported),
/// and Kubernetes' default bindings to every account's groups are no operator's excess.
/// </summary>
public sealed class LiveRightsTests
{
    private const string ReviewCollection = "apis/authorization.k8s.io/v1/subjectaccessreviews";

    /// <summary>
    /// The hardened sample's Role and binding, a ClusterRoleBinding added by hand (Secrets get, pods list), Kubernetes'
    /// discovery binding, and an authorizer that allows everything but listing pods.
    /// </summary>
    internal static void Seed(FakeKubeApiServer api)
    {
        // What the hardened sample's manifests put there...
        foreach (var doc in ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened/rbac.yaml")).Where(d => d.Kind is "Role" or "RoleBinding"))
        {
            api.Seed(k8s.KubernetesJson.Serialize(doc.Object), "kubectl");
        }
        // ...a binding someone added by hand, granting Secrets and pods...
        api.Seed("""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"ops-debug"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]},{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}]}""", "kubectl");
        api.Seed("""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"ops-debug-greeter"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"ops-debug"},"subjects":[{"kind":"ServiceAccount","name":"greeter-operator","namespace":"greeter-system"}]}""", "kubectl");
        // ...and Kubernetes' own discovery binding, which every account has.
        api.Seed("""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"system:discovery","labels":{"kubernetes.io/bootstrapping":"rbac-defaults"}},"rules":[{"nonResourceURLs":["/api","/apis","/version"],"verbs":["get"]}]}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"system:discovery","labels":{"kubernetes.io/bootstrapping":"rbac-defaults"}},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:discovery"},"subjects":[{"kind":"Group","name":"system:authenticated"}]}""", "kube-apiserver");
        // The authorizer: everything is allowed but listing pods (a webhook authorizer, say, that denies it).
        api.Created = (_, obj) =>
        {
            if ((string?)obj["kind"] == "SubjectAccessReview")
            {
                obj["status"] = new JsonObject { ["allowed"] = (string?)obj["spec"]?["resourceAttributes"]?["resource"] != "pods" };
            }
        };
    }

    [Fact]
    public async Task Check_OnACluster_FindsABindingAddedOutsideTheManifests_AndReportsOnlyWhatTheAuthorizerAllows()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        Seed(api);
        var dir = Directory.CreateTempSubdirectory("harness-live-rights-");
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        try
        {
            var rights = Path.Combine(dir.FullName, "rights.yaml");
            var (_, locked, _) = await CliRunner.RunAsync("rights", "lock", RepoPaths.File("fixtures/sample-operator/hardened"));
            await File.WriteAllTextAsync(rights, locked, ct);

            var (exit, output, errors) = await CliRunner.RunAsync("rights", "check", "--rights", rights, "--kubeconfig", kubeconfig);

            exit.Should().Be(1, output + errors);
            output.Should().Contain("get on secrets (cluster-wide) via ClusterRoleBinding ops-debug-greeter -> ClusterRole ops-debug is not declared in rights.yaml (allowed: confirmed by a SubjectAccessReview)")
                .And.NotContain("on pods", "the authorizer denies it: no excess")
                .And.NotContain("/version", "Kubernetes' default bindings are every account's, not the operator's")
                .And.NotContain("RIGHTS-UNUSED", "what the manifests granted is on the cluster too");
            api.Requests.Count(r => r.StartsWith("POST", StringComparison.Ordinal) && r.Contains(ReviewCollection, StringComparison.Ordinal))
                .Should().Be(2, "one review per excess permission (get secrets, list pods); nothing declared is reviewed");
        }
        finally
        {
            File.Delete(kubeconfig);
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Review_AsksForOnePermissionWhereTheGrantApplies()
    {
        var account = new ServiceAccountRef("ops", "op");

        var resource = LiveRights.Review(account, "ops", new DeclaredRights.Atom("update", "demo.harness.dev", "greetings/status", "hello", null));
        var url = LiveRights.Review(account, null, new DeclaredRights.Atom("get", null, null, null, "/metrics"));

        resource.Spec.ResourceAttributes.Should().BeEquivalentTo(new k8s.Models.V1ResourceAttributes { Verb = "update", Group = "demo.harness.dev", Resource = "greetings", Subresource = "status", Name = "hello", NamespaceProperty = "ops" });
        resource.Spec.Groups.Should().Contain("system:serviceaccounts:ops");
        url.Spec.ResourceAttributes.Should().BeNull();
        url.Spec.NonResourceAttributes.Should().BeEquivalentTo(new k8s.Models.V1NonResourceAttributes { Path = "/metrics", Verb = "get" });
    }
}
