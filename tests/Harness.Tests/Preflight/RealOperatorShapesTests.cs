using Harness.Manifests;
using Harness.Preflight;

namespace Harness.Tests.Preflight;

/// <summary>
/// Issue #24: pre-flight over manifests shaped like real operators' released install files (written for these tests,
/// not copied from any project), each reproducing one way the analyzer read them wrong.
/// </summary>
public sealed class RealOperatorShapesTests
{
    private static PreflightReport Run(string yaml, string? ns = null) =>
        PreflightAnalyzer.Analyze(ManifestLoader.LoadText(yaml, "install.yaml"), new PreflightOptions { DefaultNamespace = ns });

    private const string Controller = """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: gitops-controller}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: gitops-controller}
        spec:
          selector: {matchLabels: {app: gitops}}
          template:
            metadata: {labels: {app: gitops}}
            spec:
              serviceAccountName: gitops-controller
              containers: [{name: controller, image: "registry.example/gitops@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: gitops-controller}
        rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
        ---
        """;

    private static string Binding(params string[] namespaces) => $$"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: gitops-controller}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitops-controller}
        subjects: [{{string.Join(", ", namespaces.Select(n => $"{{kind: ServiceAccount, name: gitops-controller, namespace: {n}}}"))}}]
        """;

    [Fact]
    public void NamespacelessInstall_ItsBindingsNameTheInstallNamespace_TheGrantsAreAnalysedThereAndANoteSaysSo()
    {
        var report = Run(Controller + "\n" + Binding("gitops"));

        report.Options.DefaultNamespace.Should().Be("gitops");
        report.Findings.Should().Contain(f => f.Id == "RBAC-WILDCARD" && f.Subject == "ServiceAccount gitops/gitops-controller",
            "the cluster-wide * on * of the controller is what the binding grants");
        report.Notes.Should().Contain(n => n.Contains("analysed in namespace gitops", StringComparison.Ordinal) && n.Contains("--namespace", StringComparison.Ordinal));
    }

    [Fact]
    public void NamespacelessInstall_AGivenNamespaceWins_AndABindingThatMatchesNothingIsNamedInANote()
    {
        var report = Run(Controller + "\n" + Binding("gitops"), ns: "elsewhere");

        report.Findings.Should().NotContain(f => f.Id == "RBAC-WILDCARD");
        report.Findings.Should().ContainSingle(f => f.Id == "RBAC-NOT-ANALYSED").Which.Should().Match<Finding>(f =>
            f.Severity == FindingSeverity.Note && f.Subject == "ClusterRoleBinding gitops-controller" && f.Line == 21
            && f.Message == "binds ServiceAccount gitops/gitops-controller, which no workload in these manifests runs as: what it grants was not analyzed");
        PreflightAnalyzer.RenderText(report).Should().Contain("note: ClusterRoleBinding gitops-controller: binds ServiceAccount gitops/gitops-controller");
        PreflightAnalyzer.RenderJson(report).Should().Contain("\"notes\"").And.Contain("RBAC-NOT-ANALYSED");
        Sarif.Render(report, "0").Should().Contain("\"level\": \"note\"");
    }

    [Fact]
    public void NamespacelessInstall_BindingsNamingSeveralNamespaces_IsAWarningThatNamesThemAndTheFlag()
    {
        var report = Run(Controller + "\n" + Binding("gitops", "gitops-staging"));

        report.Findings.Should().ContainSingle(f => f.Id == "NAMESPACE-AMBIGUOUS").Which.Message.Should().Contain("gitops, gitops-staging").And.Contain("--namespace");
        report.Notes.Should().Contain(n => n.Contains("binds ServiceAccount gitops/gitops-controller", StringComparison.Ordinal));
    }

    /// <summary>An operator account whose ClusterRole holds one rule; the findings for its account.</summary>
    private static IReadOnlyList<Finding> Grants(string rule) =>
        Run(TestManifests.OperatorWithClusterRole(rule)).Findings.Where(f => f.Id.StartsWith("RBAC-", StringComparison.Ordinal)).ToList();

    [Theory]
    [InlineData("{apiGroups: [''], resources: [secrets], verbs: [create, update, patch, delete]}", "RBAC-SECRETS-WRITE", "forge TLS keys and tokens")]
    [InlineData("{apiGroups: [''], resources: [serviceaccounts/token], verbs: [create]}", "RBAC-TOKEN-REQUEST", "mint a token")]
    [InlineData("{apiGroups: [apiregistration.k8s.io], resources: [apiservices], verbs: [patch, update]}", "RBAC-APISERVICE", "redirect an aggregated API")]
    [InlineData("{apiGroups: [''], resources: [nodes/proxy], verbs: [get]}", "RBAC-NODES-PROXY", "kubelet API")]
    [InlineData("{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}", "RBAC-CSR-APPROVE", "issue client certificates")]
    [InlineData("{apiGroups: [certificates.k8s.io], resources: [signers], verbs: [approve]}", "RBAC-CSR-APPROVE", "certificate signers")]
    [InlineData("{apiGroups: [''], resources: [persistentvolumes], verbs: [create]}", "RBAC-PERSISTENTVOLUMES", "hostPath")]
    [InlineData("{apiGroups: [''], resources: [pods/ephemeralcontainers], verbs: [patch]}", "RBAC-EPHEMERAL-CONTAINERS", "ephemeral containers")]
    [InlineData("{apiGroups: [''], resources: [pods/attach], verbs: [create]}", "RBAC-POD-EXEC", "attach")]
    [InlineData("{apiGroups: [admissionregistration.k8s.io], resources: [mutatingadmissionpolicies], verbs: [create]}", "RBAC-ADMISSION", "MutatingAdmissionPolicies")]
    [InlineData("{apiGroups: [''], resources: [namespaces], verbs: [patch]}", "RBAC-NAMESPACES", "PodSecurity labels")]
    public void EveryEscalationPathOfTheGoodPracticesPage_IsItsOwnFinding(string rule, string id, string message)
    {
        var finding = Grants(rule).Should().ContainSingle(f => f.Id == id).Which;

        finding.Severity.Should().Be(FindingSeverity.Error);
        finding.Message.Should().Contain(message).And.Contain("cluster-wide");
    }

    [Theory]
    [InlineData("admissionregistration.k8s.io", "validatingwebhookconfigurations", "RBAC-ADMISSION")]
    [InlineData("apiextensions.k8s.io", "customresourcedefinitions", "RBAC-CRDS")]
    public void ResourceNames_NeverGrantCreate_ButStillLimitWhatTheyName(string group, string resource, string createId)
    {
        // The API server authorizes a create without a name: such a rule grants no create (a dry-run create as the account is Forbidden).
        var findings = Grants($"{{apiGroups: [{group}], resources: [{resource}], verbs: [create, delete], resourceNames: [op-owned]}}");

        // Only the delete (of the name it holds) remains, a warning that names it.
        findings.Should().Contain(f => f.Message.Contains("(only \"op-owned\"): delete cluster-wide", StringComparison.Ordinal) && f.Severity == FindingSeverity.Warning);
        findings.Where(f => f.Id == createId).Should().NotContain(f => f.Message.Contains(": create", StringComparison.Ordinal));
        findings.Should().NotContain(f => f.Message.Contains(": create", StringComparison.Ordinal) || f.Message.Contains("create/", StringComparison.Ordinal));
        new Harness.Rbac.RbacRule(["create", "get"], ["x"], ["y"], ["n"], []).Allows("create", "x", "y", null, "n").Should().BeFalse();
        new Harness.Rbac.RbacRule(["create", "get"], ["x"], ["y"], ["n"], []).Allows("get", "x", "y", null, "n").Should().BeTrue();
        new Harness.Rbac.RbacRule(["create"], ["x"], ["y"], [], []).Allows("create", "x", "y", null, null).Should().BeTrue();
    }

    private const string Webhook = """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: policy, namespace: policy-system}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: policy, namespace: policy-system}
        spec:
          selector: {matchLabels: {app: policy}}
          template:
            metadata: {labels: {app: policy}}
            spec: {serviceAccountName: policy, containers: [{name: policy, image: "registry.example/policy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: policy-webhook, namespace: policy-system}
        spec: {selector: {app: policy}, ports: [{port: 443, targetPort: 9443}]}
        ---
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingWebhookConfiguration
        metadata: {name: policy-validating}
        webhooks:
          - name: validate.policy.example
            admissionReviewVersions: [v1]
            sideEffects: None
            clientConfig: {service: {name: policy-webhook, namespace: policy-system, path: /validate}}
            rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: policy}
        rules: [@RULES]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: policy}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: policy}
        subjects: [{kind: ServiceAccount, name: policy, namespace: policy-system}]
        """;

    [Theory]
    [InlineData("{apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], resourceNames: [policy-validating], verbs: [get, patch]}", FindingSeverity.Note, "WEBHOOK-CABUNDLE-INJECTED")]
    [InlineData("{apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], resourceNames: [another-one], verbs: [get, patch]}", FindingSeverity.Error, "WEBHOOK-CABUNDLE-MISSING")]
    [InlineData("{apiGroups: [''], resources: [configmaps], verbs: [get]}", FindingSeverity.Error, "WEBHOOK-CABUNDLE-MISSING")]
    public void EmptyCaBundle_IsANoteNamingTheInjector_WhenAnAccountOfTheManifestsMayPatchThatConfiguration(string rule, FindingSeverity severity, string id)
    {
        var report = Run(Webhook.Replace("@RULES", rule, StringComparison.Ordinal));

        var finding = report.Findings.Single(f => f.Id.StartsWith("WEBHOOK-CABUNDLE", StringComparison.Ordinal));
        finding.Id.Should().Be(id);
        finding.Severity.Should().Be(severity);
        if (severity == FindingSeverity.Note)
        {
            finding.Message.Should().Contain("Deployment policy-system/policy runs as ServiceAccount policy-system/policy, which may patch this configuration");
            report.Findings.Should().NotContain(f => f.Id.StartsWith("WEBHOOK-", StringComparison.Ordinal) && f.Severity == FindingSeverity.Error);
        }
    }

    [Fact]
    public void TheSameRuleReachedTwice_IsOneFinding()
    {
        var twice = Grants("{apiGroups: [''], resources: [secrets], verbs: [get]}, {apiGroups: [''], resources: [secrets], verbs: [get]}");

        twice.Where(f => f.Id == "RBAC-SECRETS").Should().ContainSingle();
    }

    [Theory]
    [InlineData("hostNetwork: true", "[{containerPort: 7946}, {containerPort: 9120}]", "hostPort (container \"speaker\" uses hostPorts 7946, 9120)")]
    [InlineData("hostNetwork: false", "[{containerPort: 8080, hostPort: 80}, {containerPort: 8443, hostPort: 443}]", "hostPort (container \"speaker\" uses hostPorts 443, 80)")]
    public void HostPorts_AsTheApiServerSeesThemAfterDefaulting_InItsOrder(string hostNetwork, string ports, string expected)
    {
        // A load-balancer speaker: with hostNetwork, the API server defaults each hostPort to its containerPort before admission.
        var spec = new k8s.Models.V1PodSpec
        {
            HostNetwork = hostNetwork.EndsWith("true", StringComparison.Ordinal),
            Containers = [new k8s.Models.V1Container { Name = "speaker", Image = "x", Ports = k8s.KubernetesYaml.Deserialize<List<k8s.Models.V1ContainerPort>>(ports) }],
        };

        var violations = Harness.PodSecurity.PodSecurityEvaluator.Evaluate(null, spec, Harness.PodSecurity.PodSecurityLevel.Baseline, Harness.PodSecurity.PolicyVersion.Latest).Violations;

        violations.Select(v => v.ToString()).Should().Contain(expected);
    }

    [Fact]
    public void AFileOfCommentsOnly_IsBadInput_LikeAnEmptyFolder()
    {
        var dir = Directory.CreateTempSubdirectory("harness-empty-");
        try
        {
            var file = Path.Combine(dir.FullName, "install.yaml");
            File.WriteAllText(file, "# rendered nothing\n---\n# still nothing\n---\n");

            var act = () => PreflightAnalyzer.Run(file, new PreflightOptions());

            act.Should().Throw<ManifestException>().WithMessage("*holds no Kubernetes object*");
            FluentActions.Invoking(() => PreflightAnalyzer.Run(dir.FullName, new PreflightOptions())).Should().Throw<ManifestException>().WithMessage("*hold no Kubernetes object*");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void ATabInIndentation_NamesTheLineAndColumnOfTheTab()
    {
        var act = () => ManifestLoader.LoadText("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n", "tabs.yaml");

        act.Should().Throw<ManifestException>().WithMessage("tabs.yaml:4:1:*tab*");
    }

    [Fact]
    public void AContainerTruncatedToNoNameOrImage_IsAnError()
    {
        var report = Run("""
            apiVersion: v1
            kind: Pod
            metadata: {name: p, namespace: ops}
            spec:
              containers:
                - {}
            """);

        report.Findings.Should().ContainSingle(f => f.Id == "CONTAINER-INCOMPLETE").Which.Message.Should().Be("container #1 has no name and no image: the API server refuses it (is the file truncated?)");
        report.Passed.Should().BeFalse();
    }

    [Fact]
    public void AnObjectDefinedTwice_IsAnalysedOnce_WithANoteNamingBothPlaces()
    {
        var docs = ManifestLoader.LoadText(Controller + "\n" + Binding("gitops"), "a.yaml").Concat(ManifestLoader.LoadText(Controller + "\n" + Binding("gitops"), "b.yaml")).ToList();

        var report = PreflightAnalyzer.Analyze(docs, new PreflightOptions());

        report.Findings.Where(f => f.Id == "RBAC-WILDCARD").Should().ContainSingle().Which.Path.Should().Be("b.yaml");
        report.Findings.Where(f => f.Id == "DUPLICATE-OBJECT").Should().HaveCount(4).And.Contain(f => f.Subject == "Deployment/gitops-controller" && f.Message.Contains("a.yaml:5, b.yaml:5", StringComparison.Ordinal));
        report.Files.Select(f => f.Objects).Should().Equal(4, 4);
    }

    [Fact]
    public void Findings_PointAtTheRuleOrContainerThatCausesThem()
    {
        var report = Run("""
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: op, namespace: ops}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: op, namespace: ops}
            spec:
              selector: {matchLabels: {app: op}}
              template:
                metadata: {labels: {app: op}}
                spec:
                  serviceAccountName: op
                  containers:
                    - name: sidecar
                      image: "registry.example/side@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                      securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
                    - name: manager
                      image: "registry.example/op@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                      securityContext: {privileged: true}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: op}
            rules:
              # harmless
              - apiGroups: [""]
                resources: [configmaps]
                verbs: [get]
              - apiGroups: [""]
                resources: [secrets]
                verbs: [list]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: op}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
            subjects: [{kind: ServiceAccount, name: op, namespace: ops}]
            """);

        report.Findings.Single(f => f.Id == "RBAC-SECRETS").Line.Should().Be(30, "the rule that grants list on Secrets, not the binding (line 35)");
        report.Findings.Where(f => f.Id == "PSA" && f.Message.Contains("privileged", StringComparison.Ordinal)).Should().OnlyContain(f => f.Line == 18, "the manager container, not the Deployment (line 5)");
        report.Findings.Single(f => f.Id == "ROOTFS-WRITABLE").Line.Should().Be(18);
    }
}
