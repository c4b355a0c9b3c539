using Harness.Manifests;
using Harness.Payload;
using Harness.Preflight;
using Harness.Rbac;

namespace Harness.Tests.Payload;

public sealed class PayloadAnalyzerTests
{
    private static readonly ServiceAccountRef Operator = new("greeter-system", "greeter-operator");

    private static IReadOnlyList<ManifestDocument> Cluster(string yaml) => ManifestLoader.LoadText(yaml, "cluster.yaml");

    private const string Objects = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: hello-greeting
          namespace: greeter-system
          uid: cm-1
          ownerReferences: [{apiVersion: demo.harness.dev/v1, kind: Greeting, name: hello, uid: greeting-1, controller: true}]
          managedFields: [{manager: greeter-operator, operation: Apply, apiVersion: v1}]
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: sidecar
          namespace: payload
          uid: pod-1
          managedFields: [{manager: greeter-operator, operation: Apply, apiVersion: v1}]
        spec:
          containers: [{name: c, image: x, securityContext: {privileged: true}}]
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: greeter-operator
          namespace: greeter-system
          uid: dep-1
          managedFields: [{manager: harness, operation: Apply, apiVersion: apps/v1}]
        spec:
          selector: {matchLabels: {a: b}}
          template:
            metadata: {labels: {a: b}}
            spec: {containers: [{name: operator, image: x}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: greeter-operator-abc
          namespace: greeter-system
          uid: pod-2
          ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: greeter-operator-5d, uid: rs-1, controller: true}]
          managedFields: [{manager: kube-controller-manager, operation: Update, apiVersion: v1}]
        spec:
          containers: [{name: operator, image: x}]
        """;

    [Fact]
    public void Select_FindsOwnedObjectsAndLearnsTheirManager_ButNotWhatTheHarnessOrTheControlPlaneWrote()
    {
        var created = PayloadAnalyzer.Select(Cluster(Objects), new OperatorIdentity(["greeting-1"], []));

        created.Select(c => c.ToString()).Should().Equal(
            "ConfigMap greeter-system/hello-greeting (owned by Greeting/hello, written by field manager greeter-operator)",
            "Pod payload/sidecar (written by field manager greeter-operator)");
    }

    [Fact]
    public void Select_AnotherRunsInstanceOwnsIt_ItIsThatRunsPayload_EvenWrittenByTheSameManager()
    {
        // Issue #35: three runs of the sample on one cluster; each run's inventory took the others' presenter Pods
        // (same CRD, same field manager) for its own payload, and the hardened run failed payload-separation.
        var other = """
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: hello-presenter
              namespace: harness-greeter-operator-8b72bae3
              uid: pod-9
              ownerReferences: [{apiVersion: demo.harness.dev/v1, kind: Greeting, name: hello, uid: greeting-2, controller: true}]
              managedFields: [{manager: greeter-operator, operation: Apply, apiVersion: v1}]
            spec:
              containers: [{name: c, image: x, securityContext: {privileged: true}}]
            """;

        var created = PayloadAnalyzer.Select(Cluster(Objects + "\n" + other), new OperatorIdentity(["greeting-1"], []) { ForeignOwnerUids = ["greeting-2"] });

        created.Select(c => c.Document.Name).Should().Equal(["hello-greeting", "sidecar"], "the other run's presenter is owned by its own Greeting");
    }

    [Fact]
    public void Select_WithoutOwnerReferences_NeedsTheManagerToBeGiven()
    {
        var yaml = Objects.Replace("ownerReferences: [{apiVersion: demo.harness.dev/v1, kind: Greeting, name: hello, uid: greeting-1, controller: true}]", "labels: {a: b}");

        PayloadAnalyzer.Select(Cluster(yaml), new OperatorIdentity(["greeting-1"], [])).Should().BeEmpty();
        PayloadAnalyzer.Select(Cluster(yaml), new OperatorIdentity(["greeting-1"], ["greeter-operator"])).Should().HaveCount(2);
    }

    [Fact]
    public void Select_IgnoresStatusWritesAndTheCustomResourceItself()
    {
        var yaml = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: unrelated
              namespace: other
              uid: cm-9
              managedFields: [{manager: greeter-operator, operation: Update, apiVersion: v1, subresource: status}, {manager: kubectl-client-side-apply, operation: Update, apiVersion: v1}]
            """;

        PayloadAnalyzer.Select(Cluster(yaml), new OperatorIdentity(["cm-9"], ["greeter-operator"])).Should().BeEmpty();
        PayloadAnalyzer.Select(Cluster(yaml), new OperatorIdentity([], ["greeter-operator"])).Should().BeEmpty("a status write is the reconciler's report, not a change");
    }

    [Fact]
    public void Analyze_APrivilegedPayloadUnderTheOperatorsAccount_FailsForBothReasons()
    {
        var yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: hello-presenter, namespace: greeter-system, uid: p}
            spec:
              serviceAccountName: greeter-operator
              containers: [{name: presenter, image: x, securityContext: {privileged: true, runAsUser: 0}}]
            """;
        var created = Cluster(yaml).Select(d => new CreatedObject(d, "owned by Greeting/hello")).ToList();

        var findings = PayloadAnalyzer.Analyze(created, Operator);

        findings.Should().Contain(f => f.Id == PayloadAnalyzer.PodSecurityFinding && f.Severity == FindingSeverity.Error && f.Message.Contains("privileged"));
        findings.Should().Contain(f => f.Id == PayloadAnalyzer.OperatorAccount && f.Severity == FindingSeverity.Error);
        findings.Should().Contain(f => f.Id == PayloadAnalyzer.SharedNamespace && f.Severity == FindingSeverity.Warning);
    }

    [Fact]
    public void Analyze_ARestrictedPayloadInItsOwnNamespace_HasNoFinding()
    {
        var yaml = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: payload, uid: d}
            spec:
              selector: {matchLabels: {a: b}}
              template:
                metadata: {labels: {a: b}}
                spec:
                  serviceAccountName: web
                  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
                  containers:
                    - name: web
                      image: x
                      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
            """;

        PayloadAnalyzer.Analyze([.. Cluster(yaml).Select(d => new CreatedObject(d, "owned by Greeting/hello"))], Operator).Should().BeEmpty();
    }

    [Fact]
    public void Analyze_RbacTheOperatorCreated_IsJudgedLikeTheOperatorsOwn()
    {
        var yaml = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: payload, namespace: payload}
            rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: payload, namespace: payload}
            subjects: [{kind: ServiceAccount, name: web}]
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: payload}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: payload-admin}
            subjects: [{kind: ServiceAccount, name: web, namespace: payload}]
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
            """;

        var findings = PayloadAnalyzer.Analyze([.. Cluster(yaml).Select(d => new CreatedObject(d, "written by field manager op"))], Operator);

        findings.Should().Contain(f => f.Id == PayloadAnalyzer.Rbac && f.Message.Contains("can read Secrets") && f.Message.Contains("RBAC-SECRETS"));
        findings.Should().Contain(f => f.Id == PayloadAnalyzer.Rbac && f.Message.Contains("cluster-admin"));
    }

    [Fact]
    public void PayloadInventory_Fingerprint_ChangesWithAnyObjectsResourceVersion_NotWithTheirOrder()
    {
        // Issue #26: the payload settles when this stays the same for a quiet period, instead of after fixed 3-second polls.
        static CreatedObject Made(string name, string rv) => new(Harness.Payload.PayloadInventory.Document("v1", "Pod",
            new k8s.Models.V1Pod { Metadata = new k8s.Models.V1ObjectMeta { Name = name, NamespaceProperty = "work", ResourceVersion = rv } }), "owned");

        var first = Harness.Payload.PayloadInventory.Fingerprint([Made("a", "10"), Made("b", "11")]);

        Harness.Payload.PayloadInventory.Fingerprint([Made("b", "11"), Made("a", "10")]).Should().Be(first);
        Harness.Payload.PayloadInventory.Fingerprint([Made("a", "10"), Made("b", "12")]).Should().NotBe(first, "the operator is still updating b");
        Harness.Payload.PayloadInventory.Fingerprint([Made("a", "10")]).Should().NotBe(first);
        Harness.Payload.PayloadInventory.QuietPeriod.Should().BeLessThan(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void PayloadInventory_CustomResourceItems_ReadsUidsFromTheClientsListShape()
    {
        var list = System.Text.Json.JsonDocument.Parse("""{"apiVersion":"demo.harness.dev/v1","kind":"GreetingList","items":[{"metadata":{"name":"hello","namespace":"ns","uid":"u1"}},{"metadata":{"name":"no-uid"}}]}""").RootElement;

        Harness.Payload.PayloadInventory.CustomResourceItems(list, "Greeting").Should().Equal([("u1", "Greeting/ns/hello")]);
    }

    [Fact]
    public void PayloadInventory_Ours_OnASharedCrd_KeepsOnlyTheRunsOwnCustomResources()
    {
        // Issue #23: other runs' Greetings share the CRD; their payload is theirs, not this operator's.
        var manifests = Harness.Manifests.ManifestLoader.LoadText("""
            apiVersion: demo.harness.dev/v1
            kind: Greeting
            metadata: {name: hello, namespace: harness-greeter-operator-run1}
            """, "greeting.yaml");
        var crd = k8s.KubernetesYaml.Deserialize<k8s.Models.V1CustomResourceDefinition>(File.ReadAllText(RepoPaths.File("fixtures/sample-operator/shared/crd.yaml")));
        (string, string)[] found = [("u1", "Greeting/harness-greeter-operator-run1/hello"), ("u2", "Greeting/harness-greeter-operator-run2/hello")];

        Harness.Payload.PayloadInventory.Ours([.. found], manifests, [crd]).Should().Equal([("u1", "Greeting/harness-greeter-operator-run1/hello")]);
        Harness.Payload.PayloadInventory.Ours([.. found], [], [crd]).Should().Equal(found, "an operator found on the cluster: every instance is its");
    }

    [Fact]
    public void PayloadInventory_Document_SetsApiVersionAndKindFromTheList()
    {
        var secret = new k8s.Models.V1Secret { Metadata = new() { Name = "s", NamespaceProperty = "n" } };

        var doc = Harness.Payload.PayloadInventory.Document("v1", "Secret", secret);

        doc.Kind.Should().Be("Secret");
        doc.Object!.ApiVersion.Should().Be("v1");
        doc.Path.Should().Be("cluster Secret n/s");
    }
}
