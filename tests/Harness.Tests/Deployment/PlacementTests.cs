using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Manifests;

namespace Harness.Tests.Deployment;

/// <summary>
/// Issue #23, items 1 and 3: each namespace of the manifests maps to a namespace of the run (labels kept), every
/// reference follows, and cluster-scoped objects that can be renamed get the run's names. Pure.
/// </summary>
public sealed class PlacementTests
{
    private static readonly IReadOnlyList<ManifestDocument> Docs = ManifestLoader.LoadPath(RepoPaths.File("fixtures/manifests/multi-namespace-operator.yaml"));

    private static readonly List<PlannedObject> Plan = [.. ManifestPlan.Build(Docs, new Placement("harness-sample-controller-s1", "s1", "sc-system"))];

    private static JsonObject Json(string kind, string name) => JsonNode.Parse(Plan.Single(p => p.Kind == kind && p.Name == name).Json)!.AsObject();

    [Fact]
    public void EveryNamespaceOfTheManifests_MapsToOneOfTheRun_KeepingItsLabels()
    {
        // The reproduction: the tenants namespace was never created and its Foo landed in the operator's namespace.
        Plan.Where(p => p.Kind == "Namespace").Select(p => p.Name).Should().Equal("harness-sample-controller-s1", "sc-tenants-s1");
        Json("Namespace", "sc-tenants-s1")["metadata"]!["labels"]!["pod-security.kubernetes.io/enforce"]!.GetValue<string>().Should().Be("baseline");
        Json("Namespace", "harness-sample-controller-s1")["metadata"]!["labels"]!["pod-security.kubernetes.io/enforce"]!.GetValue<string>().Should().Be("restricted");
        Plan.Single(p => p.Kind == "Foo").Namespace.Should().Be("sc-tenants-s1");
        Plan.Single(p => p.Kind == "Deployment").Namespace.Should().Be("harness-sample-controller-s1");
        Plan.Single(p => p.Kind == "RoleBinding").Namespace.Should().Be("sc-tenants-s1");
    }

    [Fact]
    public void ClusterScopedObjectsThatCanBeRenamed_GetTheRunsNames_AndTheirReferencesFollow()
    {
        Plan.Where(p => p.Namespace is null && p.Kind != "Namespace").Select(p => $"{p.Kind} {p.Name}").Should().BeEquivalentTo(
            "CustomResourceDefinition foos.samplecontroller.k8s.io", // shared: it cannot be renamed
            "ClusterRole sample-controller-s1", "ClusterRoleBinding sample-controller-s1", "PriorityClass sample-controller-critical-s1",
            "ValidatingWebhookConfiguration sample-controller-s1", "APIService v1alpha1.metrics.samplecontroller.k8s.io");
        var binding = Json("ClusterRoleBinding", "sample-controller-s1");
        binding["roleRef"]!["name"]!.GetValue<string>().Should().Be("sample-controller-s1");
        binding["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be("harness-sample-controller-s1");
        var tenants = Json("RoleBinding", "sample-controller-tenants");
        tenants["roleRef"]!["name"]!.GetValue<string>().Should().Be("view", "a built-in ClusterRole is not the manifests' and keeps its name");
        tenants["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be("harness-sample-controller-s1");
        tenants["subjects"]![1]!["namespace"]!.GetValue<string>().Should().Be("kube-system", "a namespace the manifests do not declare is the cluster's");
        Json("Deployment", "sample-controller")["spec"]!["template"]!["spec"]!["priorityClassName"]!.GetValue<string>().Should().Be("sample-controller-critical-s1");
        Json("ClusterRole", "sample-controller-s1")["rules"]![2]!["resourceNames"]!.AsArray().Select(n => n!.GetValue<string>())
            .Should().Equal(["sample-controller-s1"], "its right to patch its own webhook configuration follows the rename");
    }

    [Fact]
    public void ServiceReferencesSelectorsAndNames_FollowTheNamespaces()
    {
        var webhook = Json("ValidatingWebhookConfiguration", "sample-controller-s1");
        webhook["metadata"]!["annotations"]!["cert-manager.io/inject-ca-from"]!.GetValue<string>().Should().Be("harness-sample-controller-s1/sample-webhook");
        var hook = webhook["webhooks"]![0]!;
        hook["clientConfig"]!["service"]!["namespace"]!.GetValue<string>().Should().Be("harness-sample-controller-s1");
        var expressions = hook["namespaceSelector"]!["matchExpressions"]!.AsArray();
        expressions[0]!["values"]!.AsArray().Select(v => v!.GetValue<string>()).Should().Equal("kube-system", "harness-sample-controller-s1");
        // The run's webhook judges only the run's namespaces: other runs on the cluster never meet it.
        expressions[1]!["operator"]!.GetValue<string>().Should().Be("In");
        expressions[1]!["values"]!.AsArray().Select(v => v!.GetValue<string>()).Should().Equal("harness-sample-controller-s1", "sc-tenants-s1");

        Json("APIService", "v1alpha1.metrics.samplecontroller.k8s.io")["spec"]!["service"]!["namespace"]!.GetValue<string>().Should().Be("harness-sample-controller-s1");
        Json("Certificate", "sample-webhook")["spec"]!["dnsNames"]!.AsArray().Select(v => v!.GetValue<string>())
            .Should().Equal("sample-webhook.harness-sample-controller-s1.svc", "sample-webhook.harness-sample-controller-s1.svc.cluster.local");
        Json("NetworkPolicy", "webhook-from-apiserver")["spec"]!["ingress"]![0]!["from"]!.AsArray().Select(p => p!["namespaceSelector"]!["matchLabels"]!["kubernetes.io/metadata.name"]!.GetValue<string>())
            .Should().Equal("sc-tenants-s1", "kube-system");
        var container = Json("Deployment", "sample-controller")["spec"]!["template"]!["spec"]!["containers"]![0]!;
        container["args"]![0]!.GetValue<string>().Should().Be("--webhook-url=https://sample-webhook.harness-sample-controller-s1.svc:443/validate");
        container["env"]![0]!["value"]!.GetValue<string>().Should().Be("sc-tenants-s1");
        container["env"]![1]!["valueFrom"]!["fieldRef"]!["fieldPath"]!.GetValue<string>().Should().Be("metadata.namespace");
    }

    [Fact]
    public void ContainerFlagsNamingAMappedNamespace_FollowIt_OthersStay()
    {
        // Issue #36 item 6: the certificate manager keeps its leader-election Role in kube-system; the run places that Role
        // in kube-system-s1, so its --leader-election-namespace must say so too, or the operator cannot take its lease.
        var docs = ManifestLoader.LoadText("""
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: cm:leaderelection, namespace: kube-system}
            rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update]}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: cm, namespace: cert-manager}
            spec:
              selector: {matchLabels: {app: cm}}
              template:
                metadata: {labels: {app: cm}}
                spec:
                  containers:
                    - name: controller
                      image: cm:1
                      args: ["--leader-election-namespace=kube-system", "--cluster-resource-namespace", "cert-manager", "--v=kube-system", "-n", "kube-system"]
            """, "cm.yaml");

        var plan = ManifestPlan.Build(docs, new Placement("harness-cm-s1", "s1", "cert-manager"));

        plan.Single(p => p.Kind == "Role").Namespace.Should().Be("kube-system-s1");
        var args = System.Text.Json.Nodes.JsonNode.Parse(plan.Single(p => p.Kind == "Deployment").Json)!["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>());
        args.Should().Equal("--leader-election-namespace=kube-system-s1", "--cluster-resource-namespace", "harness-cm-s1", "--v=kube-system", "-n", "kube-system-s1");
    }

    [Fact]
    public void NamespaceLessInstallFiles_GoToTheRunsNamespace_AndWithoutASuffixEverythingFolds()
    {
        var docs = ManifestLoader.LoadText("""
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: op}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: op}
            subjects: [{kind: ServiceAccount, name: op}]
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
            """, "install.yaml");

        var plan = ManifestPlan.Build(docs, new Placement("harness-op-s2", "s2"));

        plan.Select(p => $"{p.Kind} {p.Namespace}/{p.Name}").Should().Equal("Namespace /harness-op-s2", "ClusterRoleBinding /op-s2", "ServiceAccount harness-op-s2/op");
        JsonNode.Parse(plan.Single(p => p.Kind == "ClusterRoleBinding").Json)!["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be("harness-op-s2");
        JsonNode.Parse(plan.Single(p => p.Kind == "ClusterRoleBinding").Json)!["roleRef"]!["name"]!.GetValue<string>().Should().Be("op", "the ClusterRole is not among the manifests: not renamed");
        ManifestPlan.Build(Docs, "one").Where(p => p.Kind == "Namespace").Select(p => p.Name).Should().Equal("one");
    }

    [Theory]
    [InlineData("harness-a-very-long-operator-name-that-goes-on-and-on-and-on-forever", "abcdef12")]
    [InlineData("short", "s1")]
    public void WithSuffix_KeepsTheSuffixWhole_AndFitsADnsLabel(string name, string suffix)
    {
        var named = RunNames.WithSuffix(name, suffix, 63);
        named.Length.Should().BeLessThanOrEqualTo(63);
        named.Should().EndWith("-" + suffix);
    }
}
