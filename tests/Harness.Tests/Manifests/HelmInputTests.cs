using Harness.Manifests;
using Harness.Preflight;

namespace Harness.Tests.Manifests;

/// <summary>
/// Issue #25 item 2, in part: a chart folder is rendered with helm (here a stand-in script that checks its arguments and
/// prints what `helm template` prints, `# Source:` comments included; the real helm runs in the e2e workflow), and
/// findings point at the templates. No helm: one error naming it and what to do. The tests of this class share
/// HARNESS_HELM, so they run one after another.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HelmInputTests : IDisposable
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("harness-chart-");

    private string Chart => Path.Combine(root.FullName, "widget");

    public HelmInputTests()
    {
        Directory.CreateDirectory(Path.Combine(Chart, "templates"));
        File.WriteAllText(Path.Combine(Chart, "Chart.yaml"), "apiVersion: v2\nname: widget\nversion: 0.1.0\n");
        File.WriteAllText(Path.Combine(Chart, "values.yaml"), "image: registry.example/widget:1.0\n");
        File.WriteAllText(Path.Combine(Chart, "templates", "deployment.yaml"), """
            {{- /* the operator */ -}}
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: {{ .Release.Name }}-widget
            spec:
              template:
                spec:
                  containers:
                    - name: manager
                      image: {{ .Values.image }}
            """);
        var stand = Path.Combine(root.FullName, "helm");
        File.WriteAllText(stand, $$$"""
            #!/bin/sh
            # A stand-in for helm: `helm template harness CHART`, nothing else.
            [ "$1" = template ] && [ "$2" = harness ] && [ "$3" = "{{{Chart}}}" ] || { echo "Error: unexpected arguments: $*" >&2; exit 1; }
            cat <<'YAML'
            ---
            # Source: widget/templates/deployment.yaml
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: harness-widget
            spec:
              selector: {matchLabels: {app: widget}}
              template:
                metadata: {labels: {app: widget}}
                spec:
                  containers:
                    - name: manager
                      image: registry.example/widget:1.0
            YAML
            """);
        File.SetUnixFileMode(stand, (UnixFileMode)0b111_101_101);
    }

    [Fact]
    public void AChart_IsRenderedWithHelm_AndFindingsPointAtItsTemplates()
    {
        Environment.SetEnvironmentVariable(Helm.Variable, Path.Combine(root.FullName, "helm"));
        try
        {
            var report = PreflightAnalyzer.Run(Chart, new PreflightOptions { DefaultNamespace = "widgets" });

            report.Findings.Should().Contain(f => f.Id == "PSA" && f.Subject == "Deployment widgets/harness-widget");
            report.Findings.Where(f => f.Subject == "Deployment widgets/harness-widget").Should()
                .OnlyContain(f => f.Path == Path.Combine(Chart, "templates", "deployment.yaml") && f.Line == 3, "at the template's kind line, not the rendered stream");
        }
        finally
        {
            Environment.SetEnvironmentVariable(Helm.Variable, null);
        }
    }

    [Fact]
    public void HarnessHelmPointingNowhere_IsOneErrorNamingItAndWhatToDo()
    {
        // Issue #37 item 8: it said "helm is not on PATH", which sent the user looking in the wrong place.
        Environment.SetEnvironmentVariable(Helm.Variable, Path.Combine(root.FullName, "no-such-helm"));
        try
        {
            var act = () => ManifestLoader.LoadPath(Chart);

            act.Should().Throw<ManifestException>().WithMessage($"*Chart.yaml: is a Helm chart, and the helm given to render it (HARNESS_HELM={Path.Combine(root.FullName, "no-such-helm")}) does not exist: point HARNESS_HELM at the helm binary*helm template NAME DIR*");
        }
        finally
        {
            Environment.SetEnvironmentVariable(Helm.Variable, null);
        }
    }

    public void Dispose() => root.Delete(recursive: true);

    [Fact]
    public async Task ReleaseNamespaceValuesAndSet_ReachHelm_FromTheCommandLineAndTheScenario()
    {
        // A stand-in that records its arguments, then renders as before.
        var recorder = Path.Combine(root.FullName, "helm-recorder");
        var args = Path.Combine(root.FullName, "args.txt");
        File.WriteAllText(recorder, $"#!/bin/sh\necho \"$*\" > '{args}'\nexec '{Path.Combine(root.FullName, "helm")}' \"$1\" harness \"$3\"\n");
        File.SetUnixFileMode(recorder, (UnixFileMode)0b111_101_101);
        var values = Path.Combine(root.FullName, "prod.yaml");
        File.WriteAllText(values, "replicas: 2\n");
        Environment.SetEnvironmentVariable(Helm.Variable, recorder);
        try
        {
            var (exit, _, errors) = await CliRunner.RunAsync("preflight", Chart, "--namespace", "widgets", "--helm-release", "prod", "--helm-values", values, "--helm-set", "image.tag=2.0,debug=false");

            exit.Should().Be(1, errors);
            File.ReadAllText(args).Trim().Should().Be($"template prod {Chart} --include-crds --namespace widgets --values {values} --set image.tag=2.0 --set debug=false");

            var scenario = Harness.Qualification.ScenarioParser.Parse($$"""
                apiVersion: harness.dev/v1alpha1
                kind: QualificationScenario
                operator:
                  deployment: harness-widget
                  manifests: [widget]
                  helm: {release: staging, namespace: widgets, values: [prod.yaml], set: [debug=true]}
                """, Path.Combine(root.FullName, "scenario.yaml"));
            scenario.Helm.Should().BeEquivalentTo(new HelmOptions { ReleaseName = "staging", Namespace = "widgets", ValuesFiles = [values], Set = ["debug=true"] });
            Helm.Arguments(Chart, scenario.Helm).Should().Equal("template", "staging", Chart, "--include-crds", "--namespace", "widgets", "--values", values, "--set", "debug=true");
        }
        finally
        {
            Environment.SetEnvironmentVariable(Helm.Variable, null);
        }
    }

    [Fact]
    public void TemplatesThatCallLookup_RenderWithEmptyLookups_AndANoteSaysSo()
    {
        File.WriteAllText(Path.Combine(Chart, "templates", "secret.yaml"), "{{- $existing := lookup \"v1\" \"Secret\" .Release.Namespace \"widget-tls\" -}}\n");
        Environment.SetEnvironmentVariable(Helm.Variable, Path.Combine(root.FullName, "helm"));
        try
        {
            var notes = new List<string>();

            ManifestLoader.LoadPath(Chart, notes, HelmOptions.Default).Should().NotBeEmpty();

            notes.Should().ContainSingle(n => n.Contains("templates/secret.yaml call lookup", StringComparison.Ordinal) && n.Contains("empty lookups", StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Helm.Variable, null);
        }
    }

    [Fact]
    public void AChart_GivesTheFindingsOfItsRenderedYaml()
    {
        Environment.SetEnvironmentVariable(Helm.Variable, Path.Combine(root.FullName, "helm"));
        try
        {
            var rendered = Path.Combine(root.FullName, "rendered.yaml");
            var helm = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Path.Combine(root.FullName, "helm"), ["template", "harness", Chart]) { RedirectStandardOutput = true })!;
            File.WriteAllText(rendered, helm.StandardOutput.ReadToEnd());
            helm.WaitForExit();

            static IEnumerable<(string, string, string)> Judged(PreflightReport r) => r.Findings.Where(f => f.Severity != FindingSeverity.Note).Select(f => (f.Id, f.Subject, f.Message));

            Judged(PreflightAnalyzer.Run(Chart, new PreflightOptions())).Should().BeEquivalentTo(Judged(PreflightAnalyzer.Run(rendered, new PreflightOptions())));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Helm.Variable, null);
        }
    }

    [Fact]
    public void Place_EachRenderedObjectAtItsOwnKindLine_InTheOrderTheTemplateRendersThem()
    {
        // Issue #37 item 4: seven errors about four ClusterRoles of the certificate manager's templates/rbac.yaml all
        // pointed at line 50 (the first `kind: ClusterRole`), and one finding merged away.
        File.WriteAllText(Path.Combine(Chart, "templates", "rbac.yaml"), """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: {{ .Release.Name }}-issuers
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: {{ .Release.Name }}-issuers
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: {{ .Release.Name }}-certificates
            """);
        var rendered = """
            ---
            # Source: widget/templates/rbac.yaml
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: harness-issuers
            ---
            # Source: widget/templates/rbac.yaml
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: harness-issuers
            ---
            # Source: widget/templates/rbac.yaml
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: harness-certificates
            """;
        var lines = rendered.Split('\n');
        var templates = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var seen = new Dictionary<(string, string), int>();

        var placed = ManifestLoader.LoadText(rendered, "rendered.yaml").Select(d => Helm.Place(d, lines, Chart, templates, seen)).ToList();

        placed.Select(d => $"{d.Kind} {d.Name} {Path.GetFileName(d.Path)}:{d.Line}").Should().Equal(
            "ClusterRole harness-issuers rbac.yaml:2", "ClusterRoleBinding harness-issuers rbac.yaml:7", "ClusterRole harness-certificates rbac.yaml:12");
    }

    [Fact]
    public void Render_HarnessHelmPointingNowhere_SaysSo_NotThatHelmIsMissingFromPath()
    {
        var act = () => Helm.Render(Chart, HelmOptions.Default with { Program = "/nonexistent/helm" }, new List<string>());

        act.Should().Throw<ManifestException>().WithMessage("*the helm given to render it (/nonexistent/helm) does not exist*");
    }

    [Fact]
    public void Render_LookupNote_OnlyForACallInATemplate_NotForTheWordInProse()
    {
        // Issue #37 item 7: the note fired on "lookup" in a CRD's description.
        Directory.CreateDirectory(Path.Combine(Chart, "crds"));
        File.WriteAllText(Path.Combine(Chart, "crds", "widgets.yaml"), "description: the lookup table of widgets\n");
        File.WriteAllText(Path.Combine(Chart, "templates", "NOTES.txt"), "Run a lookup of your widgets with kubectl.\n");
        var notes = new List<string>();

        Helm.Render(Chart, HelmOptions.Default with { Program = Path.Combine(root.FullName, "helm") }, notes);
        notes.Should().NotContain(n => n.Contains("lookup", StringComparison.Ordinal));

        File.WriteAllText(Path.Combine(Chart, "templates", "secret.yaml"), "{{- $old := (lookup \"v1\" \"Secret\" .Release.Namespace \"w\") }}\n");
        Helm.Render(Chart, HelmOptions.Default with { Program = Path.Combine(root.FullName, "helm") }, notes);
        notes.Should().ContainSingle(n => n.Contains("templates/secret.yaml call lookup", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_TheChartsCrdsFolder_IsRead_AsHelmInstallCreatesIt()
    {
        // Issue #37 item 7: a chart's crds/ was skipped without a note (3 CRDs missing for one chart), so its custom
        // resources named kinds nothing served.
        var chart = Path.Combine(root.FullName, "crdchart");
        Directory.CreateDirectory(Path.Combine(chart, "templates"));
        Directory.CreateDirectory(Path.Combine(chart, "crds"));
        File.WriteAllText(Path.Combine(chart, "Chart.yaml"), "apiVersion: v2\nname: crdchart\nversion: 0.1.0\n");
        File.WriteAllText(Path.Combine(chart, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n");
        File.WriteAllText(Path.Combine(chart, "crds", "widgets.yaml"), """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              names: {kind: Widget, plural: widgets}
              scope: Namespaced
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
            """);

        var docs = Helm.Render(chart, HelmOptions.Default with { Program = RepoPaths.File("eng/helm-standin.sh") }, new List<string>());

        docs.Should().Contain(d => d.Kind == "CustomResourceDefinition" && d.Name == "widgets.example.com" && d.Path.EndsWith(Path.Combine("crds", "widgets.yaml"), StringComparison.Ordinal) && d.Line == 2);
        docs.Should().Contain(d => d.Kind == "ConfigMap" && d.Name == "harness-cm");
    }
}
