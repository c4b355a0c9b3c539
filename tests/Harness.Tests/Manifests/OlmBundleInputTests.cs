using Harness.Manifests;
using Harness.Preflight;

namespace Harness.Tests.Manifests;

/// <summary>
/// Issue #25 item 3: an OLM bundle (a ClusterServiceVersion of our own, with its CRD) read as the objects OLM would create,
/// located in the CSV, and judged as the same objects written out by hand.
/// </summary>
public sealed class OlmBundleInputTests : IDisposable
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("harness-bundle-");

    private const string Csv = """
        apiVersion: operators.coreos.com/v1alpha1
        kind: ClusterServiceVersion
        metadata:
          name: widget-operator.v0.1.0
          namespace: placeholder
        spec:
          install:
            strategy: deployment
            spec:
              deployments:
                - name: widget-controller-manager
                  label: {control-plane: controller-manager}
                  spec:
                    selector: {matchLabels: {control-plane: controller-manager}}
                    template:
                      metadata: {labels: {control-plane: controller-manager}}
                      spec:
                        serviceAccountName: widget-controller-manager
                        containers:
                          - name: manager
                            image: registry.example/widget@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
              permissions:
                - serviceAccountName: widget-controller-manager
                  rules:
                    - {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update]}
              clusterPermissions:
                - serviceAccountName: widget-controller-manager
                  rules:
                    - {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
          webhookdefinitions:
            - type: ValidatingAdmissionWebhook
              generateName: vwidget.example.com
              deploymentName: widget-controller-manager
              containerPort: 443
              targetPort: 9443
              webhookPath: /validate-widget
              admissionReviewVersions: [v1]
              sideEffects: None
              failurePolicy: Fail
              rules: [{apiGroups: [example.com], apiVersions: [v1], operations: [CREATE], resources: [widgets]}]
        """;

    public OlmBundleInputTests()
    {
        Directory.CreateDirectory(Path.Combine(root.FullName, "manifests"));
        File.WriteAllText(Path.Combine(root.FullName, "manifests", "widget-operator.clusterserviceversion.yaml"), Csv);
        File.Copy(RepoPaths.File("fixtures/sample-operator/shared/crd.yaml"), Path.Combine(root.FullName, "manifests", "greetings.crd.yaml"));
    }

    [Fact]
    public void ABundle_IsReadAsTheObjectsOlmWouldCreate_LocatedInTheCsv()
    {
        var skipped = new List<string>();

        var docs = ManifestLoader.LoadPath(root.FullName, skipped);

        docs.Select(d => $"{d.Kind} {d.Namespace}/{d.Name}").Should().BeEquivalentTo(
            "CustomResourceDefinition /greetings.demo.harness.dev",
            "Deployment placeholder/widget-controller-manager",
            "ServiceAccount placeholder/widget-controller-manager",
            "Role placeholder/widget-operator.v0.1.0-widget-controller-manager-0",
            "RoleBinding placeholder/widget-operator.v0.1.0-widget-controller-manager-0",
            "ClusterRole /widget-operator.v0.1.0-widget-controller-manager-1",
            "ClusterRoleBinding /widget-operator.v0.1.0-widget-controller-manager-1",
            "Service placeholder/widget-controller-manager-service",
            "ValidatingWebhookConfiguration /vwidget.example.com");
        docs.Single(d => d.Kind == "Deployment").Line.Should().Be(11, "the CSV entry it comes from");
        skipped.Should().ContainSingle(s => s.Contains("read as the 8 objects OLM would create", StringComparison.Ordinal));
    }

    [Fact]
    public void PreflightOnABundle_JudgesItsDeploymentPermissionsAndWebhooks()
    {
        var report = PreflightAnalyzer.Run(root.FullName, new PreflightOptions());
        var csv = Path.Combine(root.FullName, "manifests", "widget-operator.clusterserviceversion.yaml");

        report.Findings.Should().Contain(f => f.Id == "RBAC-SECRETS" && f.Subject == "ServiceAccount placeholder/widget-controller-manager" && f.Path == csv);
        report.Findings.Should().Contain(f => f.Id == "PSA" && f.Subject == "Deployment placeholder/widget-controller-manager" && f.Path == csv);
        report.Findings.Should().NotContain(f => f.Id == "WEBHOOK-CABUNDLE-MISSING", "OLM injects the CA of a CSV's webhooks");
        report.Findings.Should().NotContain(f => f.Id == "WEBHOOK-SERVICE-MISSING" || f.Id == "WEBHOOK-NO-BACKEND", "OLM's Service selects the Deployment");
        report.Notes.Should().Contain(n => n.Contains("ClusterServiceVersion widget-operator.v0.1.0", StringComparison.Ordinal));
    }

    [Fact]
    public void ACsvWithoutAnInstallStrategy_IsBadInputThatSaysSo()
    {
        File.WriteAllText(Path.Combine(root.FullName, "manifests", "widget-operator.clusterserviceversion.yaml"),
            "apiVersion: operators.coreos.com/v1alpha1\nkind: ClusterServiceVersion\nmetadata: {name: w.v1}\nspec: {}\n");

        var act = () => ManifestLoader.LoadPath(root.FullName);

        act.Should().Throw<ManifestException>().WithMessage("*ClusterServiceVersion w.v1 has no deployment install strategy*");
    }

    public void Dispose() => root.Delete(recursive: true);

    [Fact]
    public void ABundle_GivesTheFindingsOfTheObjectsOlmWouldCreate_WrittenByHand()
    {
        // What OLM creates from the CSV above, as plain YAML.
        var plain = Path.Combine(root.FullName, "by-hand.yaml");
        File.WriteAllText(plain, """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: widget-controller-manager, namespace: placeholder, labels: {control-plane: controller-manager}}
            spec:
              selector: {matchLabels: {control-plane: controller-manager}}
              template:
                metadata: {labels: {control-plane: controller-manager}}
                spec:
                  serviceAccountName: widget-controller-manager
                  containers:
                    - name: manager
                      image: registry.example/widget@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
            ---
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: widget-controller-manager, namespace: placeholder}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-0, namespace: placeholder}
            rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-0, namespace: placeholder}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-operator.v0.1.0-widget-controller-manager-0}
            subjects: [{kind: ServiceAccount, name: widget-controller-manager, namespace: placeholder}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-1}
            rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-1}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-operator.v0.1.0-widget-controller-manager-1}
            subjects: [{kind: ServiceAccount, name: widget-controller-manager, namespace: placeholder}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: widget-controller-manager-service, namespace: placeholder}
            spec: {selector: {control-plane: controller-manager}, ports: [{port: 443, targetPort: 9443}]}
            ---
            apiVersion: admissionregistration.k8s.io/v1
            kind: ValidatingWebhookConfiguration
            metadata: {name: vwidget.example.com, annotations: {harness.dev/olm-ca-injection: "true"}}
            webhooks:
              - name: vwidget.example.com
                clientConfig: {service: {name: widget-controller-manager-service, namespace: placeholder, port: 443, path: /validate-widget}}
                admissionReviewVersions: [v1]
                sideEffects: None
                failurePolicy: Fail
                rules: [{apiGroups: [example.com], apiVersions: [v1], operations: [CREATE], resources: [widgets]}]
            """);
        File.Copy(Path.Combine(root.FullName, "manifests", "greetings.crd.yaml"), Path.Combine(root.FullName, "crd.yaml"));
        var byHand = Directory.CreateDirectory(Path.Combine(root.FullName, "by-hand"));
        File.Move(plain, Path.Combine(byHand.FullName, "objects.yaml"));
        File.Move(Path.Combine(root.FullName, "crd.yaml"), Path.Combine(byHand.FullName, "crd.yaml"));

        static IEnumerable<(string, string, string)> Judged(PreflightReport r) => r.Findings.Where(f => f.Severity != FindingSeverity.Note).Select(f => (f.Id, f.Subject, f.Message));

        Judged(PreflightAnalyzer.Run(Path.Combine(root.FullName, "manifests"), new PreflightOptions()))
            .Should().BeEquivalentTo(Judged(PreflightAnalyzer.Run(byHand.FullName, new PreflightOptions())));
    }
}
