using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;

namespace Harness.Tests.Rbac;

public sealed class RbacAnalyzerTests
{
    private static readonly ServiceAccountRef Op = new("demo", "op");

    private static RbacModel Model(string yaml) => RbacModel.From(ManifestLoader.LoadText(yaml, "rbac.yaml"));

    private static string Role(string kind, string name, string rules, string? ns = null, string labels = "") => $"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: {kind}
        metadata:
          name: {name}
        {(ns is null ? "" : $"  namespace: {ns}\n")}{labels}rules:
        {rules}
        ---

        """;

    private static string Binding(string kind, string name, string roleKind, string role, string? ns = null, string subject = "{kind: ServiceAccount, name: op, namespace: demo}") => $"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: {kind}
        metadata:
          name: {name}
        {(ns is null ? "" : $"  namespace: {ns}\n")}subjects: [{subject}]
        roleRef: {"{"}apiGroup: rbac.authorization.k8s.io, kind: {roleKind}, name: {role}{"}"}
        ---

        """;

    [Fact]
    public void Analyze_ADeleteOnlyRightByName_IsTitledWithWhatIsGranted_NotCreateOrDelete()
    {
        // Issue #37 item 8: it said "can create or delete ValidatingWebhookConfigurations (only ...): delete cluster-wide".
        var model = Model(Role("ClusterRole", "cleanup", "- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [delete], resourceNames: [op-validating]}")
            + Binding("ClusterRoleBinding", "cleanup", "ClusterRole", "cleanup"));

        var finding = RbacAnalyzer.Analyze(model, Op).Single(f => f.Id == "RBAC-ADMISSION");

        finding.Message.Should().StartWith("can delete ValidatingWebhookConfigurations (only \"op-validating\"): delete");
        finding.Severity.Should().Be(FindingSeverity.Warning);
    }

    [Fact]
    public void Allows_RoleBindingToClusterRole_GrantsOnlyInTheBindingsNamespace()
    {
        var model = Model(Role("ClusterRole", "reader", "- {apiGroups: [''], resources: [configmaps], verbs: [get]}") + Binding("RoleBinding", "rb", "ClusterRole", "reader", "demo"));

        model.Allows(Op, "get", "", "configmaps", "demo").Should().BeTrue();
        model.Allows(Op, "get", "", "configmaps", "other").Should().BeFalse();
        model.Allows(Op, "list", "", "configmaps", "demo").Should().BeFalse();
        model.Allows(new ServiceAccountRef("other", "op"), "get", "", "configmaps", "demo").Should().BeFalse();
    }

    [Fact]
    public void Allows_ClusterRoleBinding_GrantsEverywhere()
    {
        var model = Model(Role("ClusterRole", "reader", "- {apiGroups: [''], resources: [secrets], verbs: [list]}") + Binding("ClusterRoleBinding", "crb", "ClusterRole", "reader"));

        model.Allows(Op, "list", "", "secrets", "kube-system").Should().BeTrue();
        model.Allows(Op, "list", "", "secrets", ns: null).Should().BeTrue();
    }

    [Fact]
    public void Allows_ResourceNames_RestrictToThoseNames()
    {
        var model = Model(Role("Role", "r", "- {apiGroups: [''], resources: [secrets], resourceNames: [op-tls], verbs: [get]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));

        model.Allows(Op, "get", "", "secrets", "demo", name: "op-tls").Should().BeTrue();
        model.Allows(Op, "get", "", "secrets", "demo", name: "other").Should().BeFalse();
        model.Allows(Op, "get", "", "secrets", "demo").Should().BeFalse("a request without a name is not limited to the named ones");
    }

    [Fact]
    public void Allows_SubresourcesNeedTheirOwnRuleOrASubresourceWildcard()
    {
        var model = Model(Role("Role", "r", "- {apiGroups: [''], resources: [pods, '*/status'], verbs: [create, get]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));

        model.Allows(Op, "get", "", "pods", "demo").Should().BeTrue();
        model.Allows(Op, "create", "", "pods", "demo", subresource: "exec").Should().BeFalse();
        model.Allows(Op, "get", "", "pods", "demo", subresource: "status").Should().BeTrue();
    }

    [Theory]
    [InlineData("{kind: Group, name: 'system:serviceaccounts'}", true)]
    [InlineData("{kind: Group, name: 'system:serviceaccounts:demo'}", true)]
    [InlineData("{kind: Group, name: 'system:serviceaccounts:other'}", false)]
    [InlineData("{kind: Group, name: 'system:authenticated'}", true)]
    [InlineData("{kind: User, name: 'system:serviceaccount:demo:op'}", true)]
    [InlineData("{kind: ServiceAccount, name: op}", true)]
    [InlineData("{kind: ServiceAccount, name: op, namespace: other}", false)]
    public void GrantsFor_SubjectsMatchTheAccountItsGroupsAndUserName(string subject, bool granted)
    {
        var model = Model(Role("Role", "r", "- {apiGroups: [''], resources: [pods], verbs: [get]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo", subject));

        model.GrantsFor(Op).Should().HaveCount(granted ? 1 : 0);
    }

    [Fact]
    public void GrantsFor_AggregatedClusterRole_CollectsTheSelectedRoles()
    {
        var yaml = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: aggregate}
            aggregationRule:
              clusterRoleSelectors: [{matchLabels: {demo/aggregate: "true"}}]
            rules: []
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: secrets-part, labels: {demo/aggregate: "true"}}
            rules: [{apiGroups: [''], resources: [secrets], verbs: [watch]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: unrelated, labels: {demo/aggregate: "false"}}
            rules: [{apiGroups: [''], resources: [nodes], verbs: [get]}]
            ---

            """ + Binding("ClusterRoleBinding", "crb", "ClusterRole", "aggregate");

        var model = Model(yaml);

        model.Allows(Op, "watch", "", "secrets", "x").Should().BeTrue();
        model.Allows(Op, "get", "", "nodes", null).Should().BeFalse();
        model.GrantsFor(Op).Single().Role.Should().Be("ClusterRole aggregate (aggregated from secrets-part)");
    }

    [Fact]
    public void AllowsUrl_MatchesExactAndPrefixWildcards()
    {
        var rule = new RbacRule(["get"], [], [], [], ["/metrics", "/logs/*"]);

        rule.AllowsUrl("get", "/metrics").Should().BeTrue();
        rule.AllowsUrl("get", "/logs/kubelet").Should().BeTrue();
        rule.AllowsUrl("get", "/healthz").Should().BeFalse();
        rule.AllowsUrl("post", "/metrics").Should().BeFalse();
    }

    [Fact]
    public void DanglingReferences_NameBindingsToRolesNotInTheManifests()
    {
        var model = Model(Binding("RoleBinding", "rb", "ClusterRole", "view", "demo"));

        model.DanglingReferences.Should().Equal("RoleBinding demo/rb -> ClusterRole view");
        model.GrantsFor(Op).Should().BeEmpty();
    }

    [Fact]
    public void Analyze_LeastPrivilegeRole_HasNoFindings()
    {
        var model = Model(Role("Role", "r", "- {apiGroups: [''], resources: [configmaps], verbs: [get, list, watch, create, update]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));

        RbacAnalyzer.Analyze(model, Op).Should().BeEmpty();
    }

    [Fact]
    public void Analyze_NamedSecret_IsAWarningThatNamesIt()
    {
        var model = Model(Role("Role", "r", "- {apiGroups: [''], resources: [secrets], resourceNames: [op-tls], verbs: [get]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));

        var finding = RbacAnalyzer.Analyze(model, Op).Single();

        finding.Severity.Should().Be(FindingSeverity.Warning);
        finding.Message.Should().Be("can read Secrets (only \"op-tls\"): get namespace demo via RoleBinding demo/rb -> Role demo/r");
        finding.Line.Should().BeGreaterThan(1);
    }

    [Fact]
    public void Analyze_PodCreationInOwnNamespace_IsFineButElsewhereIsAnError()
    {
        var own = Model(Role("Role", "r", "- {apiGroups: [''], resources: [pods], verbs: [create]}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));
        var elsewhere = Model(Role("Role", "r", "- {apiGroups: [''], resources: [pods], verbs: [create]}", "kube-system") + Binding("RoleBinding", "rb", "Role", "r", "kube-system"));

        RbacAnalyzer.Analyze(own, Op).Should().BeEmpty();
        RbacAnalyzer.Analyze(elsewhere, Op).Single().Should().Match<Finding>(f => f.Id == "RBAC-PODS-ELSEWHERE" && f.Message.Contains("namespace kube-system"));
    }

    [Fact]
    public void Analyze_Wildcards_AreReportedWithTheRule()
    {
        var model = Model(Role("Role", "r", "- {apiGroups: ['apps'], resources: [deployments], verbs: ['*']}", "demo") + Binding("RoleBinding", "rb", "Role", "r", "demo"));

        RbacAnalyzer.Analyze(model, Op).Single().Message.Should().StartWith("has a wildcard rule \"* on deployments.apps\" namespace demo");
    }

    [Fact]
    public void Quarantine_RbacElsewhereAndKubeSystemReads_AreFindings_WhileTheSameInItsOwnNamespaceIsNot()
    {
        var own = Model(
            Role("Role", "own", "- {apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [create, update]}\n- {apiGroups: [''], resources: [configmaps], verbs: [get, list]}", "demo")
            + Binding("RoleBinding", "own", "Role", "own", "demo"));
        RbacAnalyzer.Analyze(own, Op).Should().NotContain(f => RbacAnalyzer.QuarantineFindings.Contains(f.Id), "RBAC and ConfigMaps in its own namespace are its business");

        var elsewhere = Model(
            Role("ClusterRole", "wide", "- {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [create]}\n- {apiGroups: [''], resources: [configmaps], verbs: [list]}")
            + Binding("RoleBinding", "in-kube-system", "ClusterRole", "wide", "kube-system"));
        var findings = RbacAnalyzer.Analyze(elsewhere, Op);
        findings.Select(f => f.Id).Should().Contain(["RBAC-RBAC-ELSEWHERE", "RBAC-KUBE-SYSTEM"]);
        findings.Single(f => f.Id == "RBAC-KUBE-SYSTEM").Message.Should().Contain("can read ConfigMaps in kube-system: list").And.Contain("RoleBinding kube-system/in-kube-system");
    }

    [Fact]
    public void Quarantine_AdmissionObjectsAndForeignCrds_AreErrors_UnlessLimitedToNamedCrds()
    {
        var model = Model(
            Role("ClusterRole", "admission", "- {apiGroups: [admissionregistration.k8s.io], resources: [validatingadmissionpolicies], verbs: [create]}\n- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [patch], resourceNames: [widgets.demo.dev]}")
            + Binding("ClusterRoleBinding", "admission", "ClusterRole", "admission"));
        var findings = RbacAnalyzer.Analyze(model, Op);

        findings.Single(f => f.Id == "RBAC-ADMISSION").Severity.Should().Be(FindingSeverity.Error);
        var crd = findings.Single(f => f.Id == "RBAC-CRDS-CHANGE");
        crd.Severity.Should().Be(FindingSeverity.Warning, "a grant limited to its own CRDs by name is worth knowing, not a breach");
        crd.Message.Should().Contain("\"widgets.demo.dev\"");
    }
}
