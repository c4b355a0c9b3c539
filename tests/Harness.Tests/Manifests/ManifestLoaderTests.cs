using Harness.Manifests;
using k8s.Models;

namespace Harness.Tests.Manifests;

public sealed class ManifestLoaderTests
{
    [Theory]
    [InlineData("apiVersion: batch/v1\nkind: Job\nmetadata:\n")]
    [InlineData("apiVersion: batch/v1\nkind: Job\nmetadata: {labels: {a: b}}\nspec: {template: {spec: {containers: [{name: c, image: x}]}}}\n")]
    public void LoadText_AnObjectWithoutAName_IsBadInputThatSaysSo_NotASilentPass(string yaml)
    {
        // Issue #37 item 8: a truncated, nameless Job was read as an empty object and the file passed.
        var act = () => ManifestLoader.LoadText(yaml, "job.yaml");

        act.Should().Throw<ManifestException>().WithMessage("job.yaml:1:*Job has no metadata.name*cut short*");
        ManifestLoader.LoadText("apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n", "job.yaml").Should().ContainSingle("generateName names it at creation");
    }

    [Fact]
    public void LoadPath_AKubebuilderConfigFolder_SaysWhichKustomizationToGive_InsteadOfFailingOnKustomizeconfig()
    {
        // Issue #37 item 6: `preflight config` failed on config/crd/kustomizeconfig.yaml ("the object has no apiVersion").
        var root = Directory.CreateTempSubdirectory("harness-config-");
        try
        {
            foreach (var folder in new[] { "default", "crd", "rbac" })
            {
                Directory.CreateDirectory(Path.Combine(root.FullName, folder));
                File.WriteAllText(Path.Combine(root.FullName, folder, "kustomization.yaml"), "resources: []\n");
            }
            File.WriteAllText(Path.Combine(root.FullName, "crd", "kustomizeconfig.yaml"), "nameReference:\n- kind: Service\n  version: v1\n");

            var act = () => ManifestLoader.LoadPath(root.FullName);

            act.Should().Throw<ManifestException>().WithMessage($"*only folders to render*Give one of them (for a kubebuilder tree, `{Path.Combine(root.FullName, "default")}`)*");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void LoadPath_AChartBelow_IsLeftOutWithANote_AndALinkLoopIsNotFollowed()
    {
        var root = Directory.CreateTempSubdirectory("harness-below-");
        try
        {
            File.WriteAllText(Path.Combine(root.FullName, "sa.yaml"), "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: op}\n");
            Directory.CreateDirectory(Path.Combine(root.FullName, "chart", "templates"));
            File.WriteAllText(Path.Combine(root.FullName, "chart", "Chart.yaml"), "apiVersion: v2\nname: c\nversion: 0.1.0\n");
            File.WriteAllText(Path.Combine(root.FullName, "chart", "templates", "cm.yaml"), "{{- if .Values.on }}\nkind: ConfigMap\n{{- end }}\n");
            Directory.CreateSymbolicLink(Path.Combine(root.FullName, "loop"), ".");
            var skipped = new List<string>();

            var docs = ManifestLoader.LoadPath(root.FullName, skipped);

            docs.Select(d => d.DisplayName).Should().Equal(["ServiceAccount/op"], "one file, read once, and not the chart's raw templates");
            skipped.Should().Contain(n => n.Contains("a Helm chart, left out of", StringComparison.Ordinal) && n.Contains($"give `{Path.Combine(root.FullName, "chart")}` itself", StringComparison.Ordinal));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void LoadText_EmptyValues_AreNullLikeTilde_AsKubectlReadsThem()
    {
        // Issue #37 item 1: the policy engine's release file has `replicas: ` with no value in four Deployments, and
        // Helm output is full of empty `hostNetwork:`, `automountServiceAccountToken:`, `securityContext:`.
        var yaml = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: kyverno-admission-controller
            spec:
              replicas: 
              selector: {matchLabels: {app: k}}
              template:
                metadata: {labels: {app: k}}
                spec:
                  hostNetwork:
                  automountServiceAccountToken: Null
                  securityContext:
                  containers:
                    - name: k
                      image: x:1
                      securityContext:
                        runAsNonRoot:
                        readOnlyRootFilesystem: True
            """;

        var doc = ManifestLoader.LoadText(yaml, "install-latest-testing.yaml").Single();

        var deployment = doc.Object.Should().BeOfType<V1Deployment>().Subject;
        deployment.Spec.Replicas.Should().BeNull();
        deployment.Spec.Template.Spec.HostNetwork.Should().BeNull();
        deployment.Spec.Template.Spec.AutomountServiceAccountToken.Should().BeNull();
        deployment.Spec.Template.Spec.SecurityContext.Should().BeNull();
        deployment.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot.Should().BeNull();
        deployment.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem.Should().BeTrue("True is YAML 1.2's true too");
    }

    [Theory]
    [InlineData("replicas: \"three\"", "expected a number, found a string")]
    [InlineData("replicas: [1]", "expected a number, found a list")]
    [InlineData("minReadySeconds: true", "expected a number, found true or false")]
    public void LoadText_AWrongTypeForANullableField_SaysItInYamlsWords_NeverADotNetTypeName(string field, string words)
    {
        var act = () => ManifestLoader.LoadText($"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  {field}\n", "d.yaml");

        act.Should().Throw<ManifestException>().Which.Message.Should().Contain(words).And.NotContain("System.").And.NotContain("`1");
    }

    [Fact]
    public void LoadText_QuotedEmptyString_StaysAString()
    {
        var doc = ManifestLoader.LoadText("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {empty: \"\", blank: ''}\n", "cm.yaml").Single();

        doc.Object.Should().BeOfType<V1ConfigMap>().Which.Data.Should().Equal(new Dictionary<string, string> { ["empty"] = "", ["blank"] = "" });
    }

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

    private const string CrdHead = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.demo.harness.dev}
        spec:
          group: demo.harness.dev
          scope: Namespaced
          names: {kind: Widget, plural: widgets}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
        """;

    [Fact]
    public void LoadText_ACrdsVersionSchemas_AreCheckedAsTheRestIs_ThoughNotBuilt()
    {
        // Left out of the typed object (nothing judges them), but a schema's faults are still the file's faults.
        var good = ManifestLoader.LoadText(CrdHead + "\n          properties:\n            spec: {type: object}\n", "crd.yaml").Single();
        ((V1CustomResourceDefinition)good.Object!).Spec.Versions.Single().Schema.Should().BeNull();
        ((V1CustomResourceDefinition)good.Object!).Spec.Names.Kind.Should().Be("Widget");
        good.Text.Should().Contain("properties:", "what is applied is the text, schema and all");

        var twice = () => ManifestLoader.LoadText(CrdHead + "\n          properties:\n            spec: {type: object}\n            spec: {type: string}\n", "crd.yaml");
        twice.Should().Throw<ManifestException>().Which.Message.Should().Be("crd.yaml:17:13: the key 'spec' appears twice in this mapping");
        var broken = () => ManifestLoader.LoadText(CrdHead + "\n          properties: [a, b\n", "crd.yaml");
        broken.Should().Throw<ManifestException>().Which.Line.Should().BeGreaterThanOrEqualTo(16);
        var keyed = () => ManifestLoader.LoadText(CrdHead + "\n          ? [a]\n          : b\n", "crd.yaml");
        keyed.Should().Throw<ManifestException>().Which.Message.Should().Contain("a mapping key must be a plain value");
    }

    [Fact]
    public void LoadText_AnAnchorInACrdSchemaNamedOutsideIt_IsReadWhole()
    {
        // Unread, the anchor would be unknown where the alias names it: the document is read whole instead.
        var yaml = CrdHead.Replace("openAPIV3Schema:", "openAPIV3Schema: &schema", StringComparison.Ordinal)
            + "\n    - name: v2\n      served: true\n      storage: false\n      schema: {openAPIV3Schema: {type: object}}\n      subresources: *schema\n";

        var crd = (V1CustomResourceDefinition)ManifestLoader.LoadText(yaml, "crd.yaml").Single().Object!;

        crd.Spec.Versions.Select(v => v.Name).Should().Equal("v1", "v2");
    }

    [Fact]
    public void LoadText_ADocumentThatOnlyMentionsTheCrdKindInABlockScalar_IsReadWhole()
    {
        var doc = ManifestLoader.LoadText("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: notes}
            data:
              crd.yaml: |
                kind: CustomResourceDefinition
              spec: "versions"
            """, "cm.yaml").Single();

        ((V1ConfigMap)doc.Object!).Data.Should().ContainKey("crd.yaml").WhoseValue.Should().Be("kind: CustomResourceDefinition\n");
    }
}
