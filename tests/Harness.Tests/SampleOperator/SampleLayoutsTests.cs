using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Preflight;

namespace Harness.Tests.SampleOperator;

/// <summary>
/// Issue #25: the hardened sample as it would ship, in three shapes (a kubebuilder-shaped kustomize tree, a Helm chart, an
/// OLM bundle), is the same operator as <c>fixtures/sample-operator/hardened</c>: the same objects once rendered and placed,
/// the same pre-flight findings, and each shape's findings are those of its own rendered YAML, located in its sources.
/// The chart renders through eng/helm-standin.sh (no helm on these machines; the e2e workflow uses the real one).
/// </summary>
public sealed class SampleLayoutsTests : IDisposable
{
    private readonly DirectoryInfo scratch = Directory.CreateTempSubdirectory("harness-layouts-");

    internal static string Kustomized => RepoPaths.File("fixtures/sample-operator/config/default");

    internal static string Chart => RepoPaths.File("fixtures/sample-operator/chart");

    internal static HelmOptions ChartOptions => new() { ReleaseName = "greeter-operator", Namespace = "greeter-system", Program = RepoPaths.File("eng/helm-standin.sh") };

    /// <summary>The bundle with what its install namespace brings (PodSecurity labels, NetworkPolicies), as fixtures/scenarios/greeter-bundle.yaml lists them.</summary>
    internal static string[] Bundled =>
    [
        RepoPaths.File("fixtures/sample-operator/hardened/namespace.yaml"), RepoPaths.File("fixtures/sample-operator/hardened/networkpolicy.yaml"), RepoPaths.File("fixtures/sample-operator/bundle"),
    ];

    private static IReadOnlyList<ManifestDocument> Load(HelmOptions? helm, params string[] paths) =>
        [.. paths.SelectMany(p => ManifestLoader.LoadPath(p, new List<string>(), helm ?? HelmOptions.Default))];

    private static IEnumerable<(string Id, FindingSeverity Severity, string Subject, string Message)> Judged(PreflightReport report) =>
        report.Findings.Where(f => f.Severity != FindingSeverity.Note).Select(f => (f.Id, f.Severity, f.Subject, f.Message));

    private static PreflightReport Preflight(string path, HelmOptions? helm = null) => PreflightAnalyzer.Run(path, new PreflightOptions { Helm = helm ?? HelmOptions.Default });

    /// <summary>What a run would apply, as kind, namespace and name, and the operator's pod template and role rules as JSON.</summary>
    private static (string[] Objects, string PodSpec, string Rules) Placed(IReadOnlyList<ManifestDocument> documents)
    {
        var plan = ManifestPlan.Build(documents, new Placement("run-ns", "s1", "greeter-system"));
        string Json(string kind, Func<JsonNode, JsonNode?> pick) => pick(JsonNode.Parse(plan.Single(p => p.Kind == kind).Json)!)!.ToJsonString();
        return (
            [.. plan.Select(p => $"{p.Kind} {p.Namespace}/{(p.Kind == "NetworkPolicy" ? "(policy)" : p.Name)}").Order(StringComparer.Ordinal)],
            Json("Deployment", d => d["spec"]!["template"]!["spec"]),
            Json("Role", r => r["rules"]));
    }

    [Fact]
    public async Task EveryShape_PlacesTheObjectsOfTheHardenedSample()
    {
        var hardened = Placed(Load(null, RepoPaths.File("fixtures/sample-operator/hardened")));
        // The bundle as a deploy reads it: with its namespace beside it, which is where OLM would be told to install it.
        var (bundle, _) = await OperatorDeployment.LoadManifestsAsync(Bundled, HelmOptions.Default, TextWriter.Null);

        foreach (var (shape, documents) in new (string, IReadOnlyList<ManifestDocument>)[]
        {
            ("kustomize", Load(null, Kustomized)),
            ("chart", Load(ChartOptions, Chart)),
            ("bundle", bundle),
        })
        {
            var placed = Placed(documents);
            placed.PodSpec.Should().Be(hardened.PodSpec, $"the {shape} runs the hardened pod template");
            placed.Rules.Should().Be(hardened.Rules, $"the {shape} grants the hardened Role's rules");
            placed.Objects.Where(o => !o.StartsWith("Role", StringComparison.Ordinal)).Should().Equal(hardened.Objects.Where(o => !o.StartsWith("Role", StringComparison.Ordinal)), $"the {shape} has the hardened sample's objects");
            placed.Objects.Count(o => o.StartsWith("Role", StringComparison.Ordinal)).Should().Be(2, $"the {shape} has one Role and one RoleBinding (OLM names them after the CSV)");
        }
    }

    [Fact]
    public void Kustomize_FindsWhatItsRenderedYamlAndTheHardenedSampleFind_AtItsSourceFiles()
    {
        var rendered = Path.Combine(scratch.FullName, "kustomized.yaml");
        File.WriteAllText(rendered, RenderTool.Run("kubectl", ["kustomize", Kustomized], Kustomized, "kubectl kustomize failed"));

        var report = Preflight(Kustomized);

        Judged(report).Should().BeEquivalentTo(Judged(Preflight(rendered)));
        Judged(report).Should().BeEquivalentTo(Judged(Preflight(RepoPaths.File("fixtures/sample-operator/hardened"))));
        report.Findings.Should().ContainSingle(f => f.Id == "IMAGE-NOT-PINNED")
            .Which.Should().Match<Finding>(f => f.Path == RepoPaths.File("fixtures/sample-operator/config/manager/manager.yaml") && f.Line == 11, "the Deployment's document in manager.yaml, not the rendered stream");
    }

    [Fact]
    public void Chart_FindsWhatItsRenderedYamlAndTheHardenedSampleFind_AtItsTemplates()
    {
        var rendered = Path.Combine(scratch.FullName, "chart.yaml");
        File.WriteAllText(rendered, RenderTool.Run(ChartOptions.Program!, Helm.Arguments(Chart, ChartOptions), Chart, "the helm stand-in failed"));

        var report = Preflight(Chart, ChartOptions);

        Judged(report).Should().BeEquivalentTo(Judged(Preflight(rendered)));
        Judged(report).Should().BeEquivalentTo(Judged(Preflight(RepoPaths.File("fixtures/sample-operator/hardened"))));
        report.Findings.Should().ContainSingle(f => f.Id == "IMAGE-NOT-PINNED")
            .Which.Should().Match<Finding>(f => f.Path == Path.Combine(Chart, "templates", "deployment.yaml") && f.Line == 2);
    }

    [Fact]
    public void Bundle_WithItsNamespace_FindsWhatTheHardenedSampleFinds_AtTheCsv()
    {
        // One folder, as pre-flight takes one path: the bundle beside its install namespace and policies.
        var folder = Directory.CreateDirectory(Path.Combine(scratch.FullName, "bundle-and-namespace"));
        foreach (var file in Bundled.Where(File.Exists))
        {
            File.Copy(file, Path.Combine(folder.FullName, Path.GetFileName(file)));
        }
        CopyTree(RepoPaths.File("fixtures/sample-operator/bundle"), Path.Combine(folder.FullName, "bundle"));

        var report = Preflight(folder.FullName);

        Judged(report).Should().BeEquivalentTo(Judged(Preflight(RepoPaths.File("fixtures/sample-operator/hardened"))));
        var csv = Path.Combine(folder.FullName, "bundle", "manifests", "greeter-operator.clusterserviceversion.yaml");
        report.Findings.Should().ContainSingle(f => f.Id == "IMAGE-NOT-PINNED").Which.Should().Match<Finding>(f => f.Path == csv && f.Line == 45, "at the deployment's entry in the CSV");
        report.Notes.Should()
            .Contain(m => m.Contains("an OLM bundle's metadata", StringComparison.Ordinal), "metadata/annotations.yaml is the bundle's, not a manifest")
            .And.Contain(m => m.Contains("deployed without OLM", StringComparison.Ordinal));
    }

    [Fact]
    public void HelmStandIn_RefusesWhatItDoesNotRender_InsteadOfPassingItThrough()
    {
        var chart = Directory.CreateDirectory(Path.Combine(scratch.FullName, "fancy"));
        Directory.CreateDirectory(Path.Combine(chart.FullName, "templates"));
        File.WriteAllText(Path.Combine(chart.FullName, "Chart.yaml"), "apiVersion: v2\nname: fancy\nversion: 0.1.0\n");
        File.WriteAllText(Path.Combine(chart.FullName, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"fancy.name\" . }}\n");
        var options = ChartOptions with { ReleaseName = "r", Namespace = null };

        var act = () => ManifestLoader.LoadPath(chart.FullName, new List<string>(), options);
        var flag = () => ManifestLoader.LoadPath(Chart, new List<string>(), options with { Set = ["image.tag=2"] });

        act.Should().Throw<ManifestException>().WithMessage("*`helm template` could not render the chart: Error: template: fancy/templates/cm.yaml:4: helm-standin does not render {{ include \"fancy.name\" . }}; install helm");
        flag.Should().Throw<ManifestException>().WithMessage("*helm-standin sets top-level values only, not image.tag=2");
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    public void Dispose() => scratch.Delete(recursive: true);
}
