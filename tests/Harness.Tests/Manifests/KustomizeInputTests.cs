using System.Diagnostics;
using Harness.Manifests;
using Harness.Preflight;

namespace Harness.Tests.Manifests;

/// <summary>
/// Issue #25 item 1 (and 4): a kubebuilder-shaped <c>config/default</c> is rendered with kubectl's kustomize, and
/// pre-flight on it reports what it reports on the rendered YAML, located in the source files. Needs kubectl (these
/// machines have it; the test says so and fails when HARNESS_REQUIRE_DOCKER=1 makes every tool mandatory).
/// </summary>
public sealed class KustomizeInputTests : IDisposable
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("harness-kubebuilder-");

    public KustomizeInputTests()
    {
        void Write(string relative, string text)
        {
            var path = Path.Combine(root.FullName, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write("config/default/kustomization.yaml", "namespace: widget-system\nnamePrefix: widget-\nresources:\n- ../rbac\n- ../manager\n");
        Write("config/manager/kustomization.yaml", "resources:\n- manager.yaml\n");
        Write("config/manager/manager.yaml", """
            # The controller manager, as the scaffold writes it.
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: controller-manager
              namespace: system
            spec:
              selector: {matchLabels: {control-plane: controller-manager}}
              template:
                metadata: {labels: {control-plane: controller-manager}}
                spec:
                  serviceAccountName: controller-manager
                  containers:
                    - name: manager
                      image: controller:latest
                      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
            """);
        Write("config/rbac/kustomization.yaml", "resources:\n- service_account.yaml\n- role.yaml\n- role_binding.yaml\n");
        Write("config/rbac/service_account.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: controller-manager\n  namespace: system\n");
        Write("config/rbac/role.yaml", """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: manager-role
            rules:
              - apiGroups: [apps]
                resources: [deployments]
                verbs: [get, list, watch]
              - apiGroups: [""]
                resources: [secrets]
                verbs: [get, list, watch]
            """);
        Write("config/rbac/role_binding.yaml", """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: manager-rolebinding
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: manager-role}
            subjects:
              - kind: ServiceAccount
                name: controller-manager
                namespace: system
            """);
    }

    private static void RequireKubectl()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "kubectl")));
        if (!found)
        {
            Assert.Skip("kubectl (with its built-in kustomize) is not on PATH");
        }
    }

    [Fact]
    public void ConfigDefault_GivesTheFindingsOfItsRenderedYaml_LocatedInTheSourceFiles()
    {
        RequireKubectl();
        var folder = Path.Combine(root.FullName, "config/default");
        var rendered = Path.Combine(root.FullName, "rendered.yaml");
        using (var kubectl = Process.Start(new ProcessStartInfo("kubectl", ["kustomize", folder]) { RedirectStandardOutput = true })!)
        {
            File.WriteAllText(rendered, kubectl.StandardOutput.ReadToEnd());
            kubectl.WaitForExit();
        }

        var fromTree = PreflightAnalyzer.Run(folder, new PreflightOptions());
        var fromRendered = PreflightAnalyzer.Run(rendered, new PreflightOptions());

        fromTree.Findings.Select(f => (f.Id, f.Subject, f.Message)).Should().BeEquivalentTo(fromRendered.Findings.Select(f => (f.Id, f.Subject, f.Message)));
        fromTree.Findings.Should().Contain(f => f.Id == "RBAC-SECRETS" && f.Subject == "ServiceAccount widget-system/widget-controller-manager"
            && f.Path.EndsWith("config/rbac/role.yaml", StringComparison.Ordinal) && f.Line == 9, "at the rule in the source file, not in the rendered stream");
        fromTree.Findings.Where(f => f.Id == "PSA").Should().OnlyContain(f => f.Path.EndsWith("config/manager/manager.yaml", StringComparison.Ordinal) && f.Line == 14);
        ManifestLoader.LoadPath(folder).Should().OnlyContain(d => d.Object == null || d.Object.Metadata.Annotations == null || !d.Object.Metadata.Annotations.ContainsKey("config.kubernetes.io/origin"),
            "the origin annotation is the harness's, never applied");
    }

    [Fact]
    public void RemoteBase_IsRefusedWithWhatToDo()
    {
        File.WriteAllText(Path.Combine(root.FullName, "config/default/kustomization.yaml"), "resources:\n- https://github.com/example/operator//config/default?ref=v1\n");

        var act = () => ManifestLoader.LoadPath(Path.Combine(root.FullName, "config/default"));

        act.Should().Throw<ManifestException>().WithMessage("*remote base https://github.com/example/operator*vendor it*");
    }

    [Fact]
    public void TheHarnessesOwnFilesBesideTheManifests_AreLeftOutWithANote()
    {
        var folder = Path.Combine(root.FullName, "plain");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(root.FullName, "config/rbac/service_account.yaml"), Path.Combine(folder, "sa.yaml"));
        File.WriteAllText(Path.Combine(folder, "scenario.yaml"), "apiVersion: harness.dev/v1alpha1\nkind: QualificationScenario\nmetadata: {name: s}\noperator: {deployment: x, manifests: [.]}\n");
        File.WriteAllText(Path.Combine(folder, "values.yaml"), "replicas: 1\n");
        var skipped = new List<string>();

        var loaded = ManifestLoader.LoadPath(folder, skipped);

        loaded.Select(d => d.Kind).Should().Equal("ServiceAccount");
        skipped.Should().HaveCount(2).And.Contain(s => s.Contains("QualificationScenario s is the harness's own", StringComparison.Ordinal))
            .And.Contain(s => s.Contains("values.yaml: not a manifest", StringComparison.Ordinal));
    }

    public void Dispose() => root.Delete(recursive: true);
}
