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
        report.Notes.Should().Contain("ClusterRoleBinding gitops-controller binds ServiceAccount gitops/gitops-controller, which no workload in these manifests runs as: what it grants was not analyzed");
    }

    [Fact]
    public void NamespacelessInstall_BindingsNamingSeveralNamespaces_IsAWarningThatNamesThemAndTheFlag()
    {
        var report = Run(Controller + "\n" + Binding("gitops", "gitops-staging"));

        report.Findings.Should().ContainSingle(f => f.Id == "NAMESPACE-AMBIGUOUS").Which.Message.Should().Contain("gitops, gitops-staging").And.Contain("--namespace");
        report.Notes.Should().Contain(n => n.Contains("binds ServiceAccount gitops/gitops-controller", StringComparison.Ordinal));
    }
}
