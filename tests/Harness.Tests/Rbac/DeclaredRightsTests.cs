using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;

namespace Harness.Tests.Rbac;

/// <summary>
/// Issue #27 items 1 and 2, offline: a lock of the manifests' effective rights, and the check that names every right
/// granted beyond it (at the rule and binding that grant it) and every declared right no longer granted.
/// </summary>
public sealed class DeclaredRightsTests : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("harness-rights-");

    private static string Hardened => RepoPaths.File("fixtures/sample-operator/hardened");

    private string Lock(string manifests)
    {
        var (model, accounts) = DeclaredRights.Read(manifests, new PreflightOptions());
        var file = Path.Combine(dir.FullName, "rights.yaml");
        File.WriteAllText(file, DeclaredRights.Lock(model, accounts, "greeter"));
        return file;
    }

    /// <summary>The hardened sample in a folder of its own, with <paramref name="rbac"/> in place of its rbac.yaml.</summary>
    private string Changed(Func<string, string> rbac)
    {
        var copy = Directory.CreateDirectory(Path.Combine(dir.FullName, "changed"));
        foreach (var file in Directory.GetFiles(Hardened))
        {
            var text = File.ReadAllText(file);
            File.WriteAllText(Path.Combine(copy.FullName, Path.GetFileName(file)), Path.GetFileName(file) == "rbac.yaml" ? rbac(text) : text);
        }
        return copy.FullName;
    }

    private static IEnumerable<Finding> Judged(PreflightReport report) => report.Findings.Where(f => f.Severity != FindingSeverity.Note);

    [Fact]
    public void Lock_OfTheHardenedSample_DeclaresItsRoleRuleByRule_AndChecksClean()
    {
        var rights = Lock(Hardened);
        var declared = DeclaredRights.Parse(File.ReadAllText(rights), rights);

        declared.Accounts.Should().ContainSingle().Which.Account.Should().Be(new ServiceAccountRef("greeter-system", "greeter-operator"));
        declared.Accounts[0].Rules.Should().HaveCount(4).And.OnlyContain(r => r.Namespace == "greeter-system");
        File.ReadAllText(rights).Should().Contain("# via RoleBinding greeter-system/greeter-operator -> Role greeter-system/greeter-operator")
            .And.Contain("verbs: [create, delete, get, list, patch, update, watch]", "lists are sorted");
        Judged(DeclaredRights.CheckPath(rights, Hardened, new PreflightOptions())).Should().BeEmpty();
        DeclaredRights.CheckPath(rights, Hardened, new PreflightOptions()).ExitCode.Should().Be(0);
    }

    [Fact]
    public void Lock_IsTheSameWhateverTheOrderOfTheManifests()
    {
        var a = File.ReadAllText(Lock(Hardened));
        var reordered = Changed(rbac => string.Join("---\n", rbac.Split("---\n").Reverse()).Replace("verbs: [get, list, watch, create, update, patch, delete]", "verbs: [delete, patch, update, create, watch, list, get]", StringComparison.Ordinal));

        File.ReadAllText(Lock(reordered)).Should().Be(a);
    }

    [Fact]
    public void Check_ARightAddedInARoleAndABindingAddedBesideIt_AreEachAnExcessAtTheirRule()
    {
        var rights = Lock(Hardened);
        var changed = Changed(rbac => rbac.Replace("""
              - apiGroups: [""]
                resources: [events]
            """, """
              - apiGroups: [""]
                resources: [secrets]
                verbs: [get]
              - apiGroups: [""]
                resources: [events]
            """, StringComparison.Ordinal) + """
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: greeter-operator-view
            subjects:
              - kind: ServiceAccount
                name: greeter-operator
                namespace: greeter-system
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: greeter-view
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: greeter-view
            rules:
              - apiGroups: [apps]
                resources: [deployments]
                verbs: [get, list]
            """);

        var report = DeclaredRights.CheckPath(rights, changed, new PreflightOptions());

        var excess = Judged(report).Where(f => f.Id == "RIGHTS-EXCESS").ToList();
        excess.Select(f => f.Message).Should().BeEquivalentTo(
        [
            "get on secrets (namespace greeter-system) via RoleBinding greeter-system/greeter-operator -> Role greeter-system/greeter-operator is not declared in rights.yaml",
            "get,list on deployments.apps (cluster-wide) via ClusterRoleBinding greeter-operator-view -> ClusterRole greeter-view is not declared in rights.yaml",
        ]);
        var rbacFile = Path.Combine(changed, "rbac.yaml");
        var lines = File.ReadAllLines(rbacFile);
        excess.Should().OnlyContain(f => f.Path == rbacFile && f.Severity == FindingSeverity.Error);
        lines[excess.Single(f => f.Message.StartsWith("get on secrets", StringComparison.Ordinal)).Line - 1].Should().Contain("apiGroups", "at the rule that grants it");
        Judged(report).Should().NotContain(f => f.Id == "RIGHTS-UNUSED");
        report.ExitCode.Should().Be(1);
    }

    [Fact]
    public void Check_ARightTakenAway_IsUnusedAtItsDeclaration()
    {
        var rights = Lock(Hardened);
        var changed = Changed(rbac => rbac.Replace("""
              - apiGroups: [""]
                resources: [events]
                verbs: [create, patch]
            """, "", StringComparison.Ordinal));

        var report = DeclaredRights.CheckPath(rights, changed, new PreflightOptions());

        var unused = Judged(report).Should().ContainSingle().Which;
        unused.Id.Should().Be("RIGHTS-UNUSED");
        unused.Severity.Should().Be(FindingSeverity.Warning);
        unused.Message.Should().StartWith("create,patch on events (namespace greeter-system) is declared and no longer granted");
        unused.Path.Should().Be(rights);
        File.ReadAllLines(rights)[unused.Line - 1].Should().Contain("namespace: greeter-system");
        report.ExitCode.Should().Be(0, "a right given up is no risk: a warning");
    }

    [Fact]
    public void Check_TheWeakSampleAgainstTheHardenedLock_NamesEveryGrantWithItsBinding()
    {
        var rights = Lock(Hardened);

        var report = DeclaredRights.CheckPath(rights, RepoPaths.File("fixtures/sample-operator/weak"), new PreflightOptions());

        var excess = Judged(report).Where(f => f.Id == "RIGHTS-EXCESS").ToList();
        var (model, accounts) = DeclaredRights.Read(RepoPaths.File("fixtures/sample-operator/weak"), new PreflightOptions());
        excess.Should().HaveCount(accounts.SelectMany(a => model.GrantsFor(a)).Select(g => g.RuleLocation).Distinct().Count(), "one per granting rule");
        excess.Should().OnlyContain(f => f.Message.Contains("via ClusterRoleBinding greeter-operator-weak -> ClusterRole greeter-operator-weak", StringComparison.Ordinal)
            || f.Message.Contains("via RoleBinding", StringComparison.Ordinal));
        excess.Should().Contain(f => f.Message.StartsWith("* on *.demo.harness.dev (cluster-wide)", StringComparison.Ordinal), "a wildcard is an excess of its own");
        Judged(report).Should().Contain(f => f.Id == "RIGHTS-UNUSED" && f.Message == "is declared and no workload runs as it any more");
    }

    [Theory]
    [InlineData("""{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}""", "", "a wildcard declaration covers everything")]
    [InlineData("""{apiGroups: [""], resources: [configmaps], verbs: ["*"]}""", "get,list on secrets", "a verb wildcard on one resource covers only it")]
    [InlineData("""{apiGroups: [""], resources: [configmaps, secrets], resourceNames: [a], verbs: [get, list]}""", "get,list on configmaps,secrets", "names declared: a grant of any name is wider")]
    public void Check_Wildcards_CoverWhatTheyWouldAuthorize_AndNothingElse(string declaredRule, string excessStart, string because)
    {
        var manifests = Path.Combine(dir.FullName, "op.yaml");
        File.WriteAllText(manifests, TestManifests.OperatorWithClusterRole("""{apiGroups: [""], resources: [configmaps, secrets], verbs: [get, list]}"""));
        var rights = Path.Combine(dir.FullName, "rights.yaml");
        File.WriteAllText(rights, $"apiVersion: harness.dev/v1alpha1\nkind: OperatorRights\nmetadata: {{name: op}}\nspec:\n  accounts:\n    - serviceAccount: {{namespace: ops, name: op}}\n      rules:\n        - {declaredRule}\n");

        var excess = Judged(DeclaredRights.CheckPath(rights, manifests, new PreflightOptions())).Where(f => f.Id == "RIGHTS-EXCESS").Select(f => f.Message).ToList();

        if (excessStart.Length == 0)
        {
            excess.Should().BeEmpty(because);
        }
        else
        {
            excess.Should().ContainSingle(because).Which.Should().StartWith(excessStart + " (cluster-wide) via ClusterRoleBinding op -> ClusterRole op");
        }
    }

    [Theory]
    [InlineData("apiVersion: v1\nkind: ConfigMap\n", "r.yaml:1:1: not a rights file: apiVersion must be harness.dev/v1alpha1 and kind OperatorRights, got v1 and ConfigMap.")]
    [InlineData("apiVersion: harness.dev/v1alpha1\nkind: OperatorRights\nspec:\n  accounts:\n    - serviceAccount: {namespace: a, name: b}\n      rules:\n        - {verbs: [get], resource: [pods]}\n", "r.yaml:7:26: unknown field 'resource' in a rule; expected namespace, apiGroups, resources, resourceNames, nonResourceURLs, verbs.")]
    [InlineData("apiVersion: harness.dev/v1alpha1\nkind: OperatorRights\nspec:\n  accounts:\n    - rules: []\n", "r.yaml:5:7: each account needs serviceAccount: {namespace: NS, name: NAME}.")]
    public void Parse_BadRightsFile_IsOneLineWithItsPlace(string text, string message)
    {
        var act = () => DeclaredRights.Parse(text, "r.yaml");

        act.Should().Throw<ManifestException>().Which.Message.Should().Be(message);
    }

    [Fact]
    public async Task Cli_LockThenCheck_ExitsZeroOneAndTwo()
    {
        var (lockExit, yaml, lockErr) = await CliRunner.RunAsync("rights", "lock", Hardened, "--name", "greeter");
        var rights = Path.Combine(dir.FullName, "cli-rights.yaml");
        await File.WriteAllTextAsync(rights, yaml, TestContext.Current.CancellationToken);

        var clean = await CliRunner.RunAsync("rights", "check", "--rights", rights, Hardened);
        var weak = await CliRunner.RunAsync("rights", "check", "--rights", rights, RepoPaths.File("fixtures/sample-operator/weak"), "--format", "sarif");
        var missing = await CliRunner.RunAsync("rights", "check", "--rights", Path.Combine(dir.FullName, "none.yaml"), Hardened);

        lockExit.Should().Be(0, lockErr);
        yaml.Should().Contain("kind: OperatorRights").And.Contain("name: greeter");
        clean.Exit.Should().Be(0, clean.Out + clean.Err);
        clean.Out.Should().EndWith("0 errors, 0 warnings: PASS" + Environment.NewLine);
        weak.Exit.Should().Be(1);
        weak.Out.Should().Contain("\"ruleId\": \"RIGHTS-EXCESS\"");
        missing.Exit.Should().Be(2);
        missing.Err.Should().Contain("none.yaml: no such rights file; write one with `harness rights lock DIR > rights.yaml`.");
    }

    public void Dispose() => dir.Delete(recursive: true);
}
