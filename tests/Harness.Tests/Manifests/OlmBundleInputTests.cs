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
            "Deployment <install namespace>/widget-controller-manager",
            "ServiceAccount <install namespace>/widget-controller-manager",
            "Role <install namespace>/widget-operator.v0.1.0-widget-controller-manager-0",
            "RoleBinding <install namespace>/widget-operator.v0.1.0-widget-controller-manager-0",
            "ClusterRole /widget-operator.v0.1.0-widget-controller-manager-1",
            "ClusterRoleBinding /widget-operator.v0.1.0-widget-controller-manager-1",
            "Service <install namespace>/widget-controller-manager-service",
            "ValidatingWebhookConfiguration /vwidget.example.com");
        docs.Single(d => d.Kind == "Deployment").Line.Should().Be(11, "the CSV entry it comes from");
        skipped.Should().ContainSingle(s => s.Contains("read as the 8 objects OLM would create", StringComparison.Ordinal));
    }

    [Fact]
    public void PreflightOnABundle_JudgesItsDeploymentPermissionsAndWebhooks()
    {
        var report = PreflightAnalyzer.Run(root.FullName, new PreflightOptions());
        var csv = Path.Combine(root.FullName, "manifests", "widget-operator.clusterserviceversion.yaml");

        report.Findings.Should().Contain(f => f.Id == "RBAC-SECRETS" && f.Subject == "ServiceAccount <install namespace>/widget-controller-manager" && f.Path == csv);
        report.Findings.Should().Contain(f => f.Id == "PSA" && f.Subject == "Deployment <install namespace>/widget-controller-manager" && f.Path == csv);
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

    private string WriteCsv(string csv)
    {
        var file = Path.Combine(root.FullName, "manifests", "widget-operator.clusterserviceversion.yaml");
        File.WriteAllText(file, csv);
        return file;
    }

    [Fact]
    public void InstallNamespace_IsTheGivenOne_ForEveryObjectOfTheBundle_NeverTheCsvsPlaceholder()
    {
        // Issue #37 item 2: four of five real bundles say `namespace: placeholder`; --namespace was ignored.
        File.WriteAllText(Path.Combine(root.FullName, "manifests", "metrics-service.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: widget-metrics}\nspec: {ports: [{port: 8443}]}\n");

        var report = PreflightAnalyzer.Run(root.FullName, new PreflightOptions { DefaultNamespace = "widgets" });
        var docs = ManifestLoader.LoadPath(root.FullName, new List<string>(), HelmOptions.Default, new OlmInstall { Namespace = "widgets" });

        docs.Where(d => d.Kind is not ("CustomResourceDefinition" or "ValidatingWebhookConfiguration" or "ClusterRole" or "ClusterRoleBinding" or "Service"))
            .Select(d => d.Namespace).Distinct().Should().Equal("widgets");
        report.Findings.Should().NotContain(f => f.Subject.Contains("placeholder", StringComparison.Ordinal) || f.Message.Contains("placeholder", StringComparison.Ordinal));
        report.Findings.Should().Contain(f => f.Id == "RBAC-SECRETS" && f.Subject == "ServiceAccount widgets/widget-controller-manager");
        PreflightAnalyzer.Run(root.FullName, new PreflightOptions()).Findings.Should().Contain(f => f.Subject == "ServiceAccount <install namespace>/widget-controller-manager", "without one, messages say so plainly");
    }

    [Fact]
    public void AllNamespacesMode_TurnsPermissionsClusterWide_AndIsJudgedByDefaultWhenSupported()
    {
        // Issue #37 item 3: a database bundle grants `*` on secrets and pods in permissions[]; in AllNamespaces mode OLM
        // makes that a ClusterRole, which is many more errors than the same rules in a Role.
        var csv = WriteCsv(Csv
            .Replace("spec:\n  install:", "spec:\n  installModes:\n    - {type: OwnNamespace, supported: true}\n    - {type: AllNamespaces, supported: true}\n  install:", StringComparison.Ordinal)
            .Replace("""{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update]}""", """{apiGroups: [""], resources: [secrets, pods], verbs: ["*"]}""", StringComparison.Ordinal));
        var notes = new List<string>();

        var widest = ManifestLoader.LoadPath(root.FullName, notes, HelmOptions.Default, new OlmInstall { Namespace = "widgets" });
        var own = ManifestLoader.LoadPath(root.FullName, new List<string>(), HelmOptions.Default, new OlmInstall { Namespace = "widgets", Mode = "OwnNamespace" });

        widest.Where(d => d.Name.EndsWith("-0", StringComparison.Ordinal)).Select(d => d.Kind).Should().BeEquivalentTo(["ClusterRole", "ClusterRoleBinding"]);
        own.Where(d => d.Name.EndsWith("-0", StringComparison.Ordinal)).Select(d => d.Kind).Should().BeEquivalentTo(["Role", "RoleBinding"]);
        notes.Should().Contain(n => n.Contains("install mode AllNamespaces (supported: AllNamespaces, OwnNamespace)", StringComparison.Ordinal) && n.Contains("cluster-wide", StringComparison.Ordinal));
        var cluster = PreflightAnalyzer.Run(root.FullName, new PreflightOptions { DefaultNamespace = "widgets" }).Findings.Count(f => f.Severity == FindingSeverity.Error);
        var inOwn = PreflightAnalyzer.Run(root.FullName, new PreflightOptions { DefaultNamespace = "widgets", OlmInstallMode = "OwnNamespace" }).Findings.Count(f => f.Severity == FindingSeverity.Error);
        cluster.Should().BeGreaterThan(inOwn, "the same rules granted cluster-wide reach kube-system and every other namespace");
        var act = () => ManifestLoader.LoadPath(root.FullName, new List<string>(), HelmOptions.Default, new OlmInstall { Mode = "MultiNamespace" });
        act.Should().Throw<ManifestException>().WithMessage("*does not support install mode MultiNamespace (it supports AllNamespaces, OwnNamespace)*");
        _ = csv;
    }

    [Fact]
    public void APermissionWithoutServiceAccountName_IsBadInput_AndTheDefaultAccountIsSaid()
    {
        WriteCsv(Csv.Replace("      clusterPermissions:\n", "      clusterPermissions:\n        - rules: []\n", StringComparison.Ordinal));

        var act = () => ManifestLoader.LoadPath(root.FullName);

        act.Should().Throw<ManifestException>().WithMessage("*spec.install.spec.clusterPermissions[0] has no serviceAccountName*");

        WriteCsv(Csv.Replace("      permissions:\n        - serviceAccountName: widget-controller-manager", "      permissions:\n        - serviceAccountName: default", StringComparison.Ordinal));
        var notes = new List<string>();
        ManifestLoader.LoadPath(root.FullName, notes, HelmOptions.Default, new OlmInstall { Namespace = "widgets" });
        notes.Should().Contain(n => n.Contains("permissions[0] go to ServiceAccount default in widgets, which every pod there that names no account shares", StringComparison.Ordinal));
    }

    [Fact]
    public void ABundle_GivesTheFindingsOfTheObjectsOlmWouldCreate_WrittenByHand()
    {
        // What OLM creates from the CSV above, as plain YAML.
        var plain = Path.Combine(root.FullName, "by-hand.yaml");
        File.WriteAllText(plain, """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: widget-controller-manager, namespace: "<install namespace>", labels: {control-plane: controller-manager}}
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
            metadata: {name: widget-controller-manager, namespace: "<install namespace>"}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-0, namespace: "<install namespace>"}
            rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: widget-operator.v0.1.0-widget-controller-manager-0, namespace: "<install namespace>"}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-operator.v0.1.0-widget-controller-manager-0}
            subjects: [{kind: ServiceAccount, name: widget-controller-manager, namespace: "<install namespace>"}]
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
            subjects: [{kind: ServiceAccount, name: widget-controller-manager, namespace: "<install namespace>"}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: widget-controller-manager-service, namespace: "<install namespace>"}
            spec: {selector: {control-plane: controller-manager}, ports: [{port: 443, targetPort: 9443}]}
            ---
            apiVersion: admissionregistration.k8s.io/v1
            kind: ValidatingWebhookConfiguration
            metadata: {name: vwidget.example.com, annotations: {harness.dev/olm-ca-injection: "true"}}
            webhooks:
              - name: vwidget.example.com
                clientConfig: {service: {name: widget-controller-manager-service, namespace: "<install namespace>", port: 443, path: /validate-widget}}
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
