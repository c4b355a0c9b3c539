using Harness.Manifests;
using k8s.Models;

namespace Harness.Tests.Manifests;

public sealed class ManifestLoaderTests
{
    [Fact]
    public void LoadText_MultiDocument_GivesEachObjectWithItsStartLine()
    {
        var yaml = """
            # Source: chart/templates/sa.yaml
            apiVersion: v1
            kind: ServiceAccount
            metadata:
              name: op
              namespace: demo
            ---
            # an empty document, as Helm renders for a disabled template
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: op
            spec:
              selector: {matchLabels: {app: op}}
              template:
                metadata: {labels: {app: op}}
                spec:
                  containers: [{name: op, image: x}]
            """;

        var docs = ManifestLoader.LoadText(yaml, "all.yaml");

        docs.Should().HaveCount(2);
        docs[0].Should().Match<ManifestDocument>(d => d.Kind == "ServiceAccount" && d.Name == "op" && d.Namespace == "demo" && d.Line == 2 && d.Object is V1ServiceAccount);
        docs[1].Should().Match<ManifestDocument>(d => d.Kind == "Deployment" && d.Namespace == null && d.Line == 10 && d.Object is V1Deployment);
        docs[1].Location.Should().Be("all.yaml:10");
    }

    [Fact]
    public void LoadText_ListKind_GivesItsItems()
    {
        var yaml = """
            apiVersion: v1
            kind: List
            items:
            - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
            - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
            """;

        ManifestLoader.LoadText(yaml, "list.yaml").Select(d => d.Name).Should().Equal("a", "b");
    }

    [Fact]
    public void LoadText_CustomResource_IsKeptUntyped()
    {
        var doc = ManifestLoader.LoadText("apiVersion: demo.harness.dev/v1\nkind: Greeting\nmetadata: {name: hi}\n", "cr.yaml").Single();

        doc.Object.Should().BeNull();
        doc.DisplayName.Should().Be("Greeting/hi");
    }

    [Fact]
    public void LoadText_MalformedYaml_NamesFileLineAndProblem()
    {
        var yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n";

        var act = () => ManifestLoader.LoadText(yaml, "bad.yaml");

        var ex = act.Should().Throw<ManifestException>().Which;
        ex.Path.Should().Be("bad.yaml");
        ex.Line.Should().BeGreaterThanOrEqualTo(8);
        ex.Message.Should().StartWith($"bad.yaml:{ex.Line}:");
    }

    [Theory]
    [InlineData("kind: Pod\nmetadata: {name: a}\n", "apiVersion")]
    [InlineData("apiVersion: v1\nmetadata: {name: a}\n", "kind")]
    public void LoadText_MissingTypeFields_SaysWhichOne(string yaml, string field)
    {
        var act = () => ManifestLoader.LoadText("# header\n" + yaml, "x.yaml");

        act.Should().Throw<ManifestException>().WithMessage($"x.yaml:2:*no {field}*");
    }

    [Fact]
    public void LoadText_WrongFieldType_NamesTheLineInTheFile()
    {
        var yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: not-a-list\n";

        var act = () => ManifestLoader.LoadText(yaml, "typed.yaml");

        var ex = act.Should().Throw<ManifestException>().Which;
        ex.Line.Should().Be(9);
        ex.Problem.Should().StartWith("Pod p: ");
    }

    [Fact]
    public void LoadText_ScalarDocument_IsRejected()
    {
        var act = () => ManifestLoader.LoadText("just text\n", "s.yaml");

        act.Should().Throw<ManifestException>().WithMessage("s.yaml:1: *not a mapping*");
    }

    [Fact]
    public void LoadPath_Folder_ReadsEveryManifestInPathOrder()
    {
        var docs = ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened"));

        docs.Select(d => Path.GetFileName(d.Path)).Distinct().Should().Equal("deployment.yaml", "namespace.yaml", "networkpolicy.yaml", "rbac.yaml");
        docs.Select(d => d.Kind).Should().Contain(["Deployment", "Namespace", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding"]);
    }

    [Fact]
    public void LoadPath_Missing_SaysSo()
    {
        var act = () => ManifestLoader.LoadPath("/nonexistent/manifests");

        act.Should().Throw<ManifestException>().WithMessage("/nonexistent/manifests: no such file or folder.");
    }

    [Fact]
    public void LoadPath_FolderWithoutManifests_SaysWhatItLooksFor()
    {
        var dir = Directory.CreateTempSubdirectory("harness-empty-");
        try
        {
            var act = () => ManifestLoader.LoadPath(dir.FullName);

            act.Should().Throw<ManifestException>().WithMessage("*no .yaml, .yml or .json files*");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Selector_RendersMatchLabelsAndExpressionsInQuerySyntax()
    {
        var selector = new V1LabelSelector
        {
            MatchLabels = new Dictionary<string, string> { ["app"] = "op" },
            MatchExpressions =
            [
                new V1LabelSelectorRequirement { Key = "tier", OperatorProperty = "In", Values = ["a", "b"] },
                new V1LabelSelectorRequirement { Key = "env", OperatorProperty = "NotIn", Values = ["dev"] },
                new V1LabelSelectorRequirement { Key = "owned", OperatorProperty = "Exists" },
                new V1LabelSelectorRequirement { Key = "legacy", OperatorProperty = "DoesNotExist" },
            ],
        };

        Labels.Selector(selector).Should().Be("app=op,tier in (a,b),env notin (dev),owned,!legacy");
        Labels.Selector(null).Should().BeEmpty();
    }
}
