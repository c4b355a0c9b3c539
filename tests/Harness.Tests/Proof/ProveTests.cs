using Harness.Deployment;
using Harness.Manifests;
using Harness.Probes;
using Harness.Proof;
using Harness.Tests.Docker;
using k8s.Models;

namespace Harness.Tests.Proof;

/// <summary>
/// Issue #28: `harness prove` derives one mutant per hardening control the operator has, runs each through the same
/// vehicle, and prints the kill matrix; a blind configuration shows what it cannot prove.
/// </summary>
public sealed class ProveTests(DockerFixture docker)
{
    private static async Task<List<ManifestDocument>> LoadAsync(string variant) =>
        (await OperatorDeployment.LoadManifestsAsync([RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File($"fixtures/sample-operator/{variant}")], HelmOptions.Default, TextWriter.Null)).Documents;

    private static readonly WorkloadRef Greeter = new("Deployment", "greeter-operator");

    [Fact]
    public async Task Derive_TheHardenedSample_OneMutantPerControl_EachRemovingOnlyThatControl()
    {
        var docs = await LoadAsync("hardened");

        var set = Mutants.Derive(docs, Greeter, "operator", onCluster: false);

        set.Mutants.Select(m => m.Id).Should().Equal("rootfs-writable", "privilege-escalation-allowed", "runs-as-root", "capabilities-added", "seccomp-unconfined",
            "egress-policies-removed", "legacy-token-mounted", "namespace-privileged");
        set.Absent.Should().BeEmpty();
        set.NotObservable.Should().HaveCount(2).And.OnlyContain(n => n.Contains("needs a cluster", StringComparison.Ordinal));
        Mutants.Derive(docs, Greeter, "operator", onCluster: true).NotObservable.Should().OnlyContain(n => n.Contains("derives no", StringComparison.Ordinal), "said, not silently left out");

        static V1Container Container(Mutant m) => ((V1Deployment)m.Manifests.Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec.Containers.Single();
        var original = ((V1Deployment)docs.Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec.Containers.Single();
        var rootfs = set.Mutants.Single(m => m.Id == "rootfs-writable");
        Container(rootfs).SecurityContext.ReadOnlyRootFilesystem.Should().BeFalse();
        Container(rootfs).SecurityContext.AllowPrivilegeEscalation.Should().BeFalse("only the one control is removed");
        original.SecurityContext.ReadOnlyRootFilesystem.Should().BeTrue("the caller's documents are never changed");
        Container(set.Mutants.Single(m => m.Id == "capabilities-added")).SecurityContext.Capabilities.Add.Should().Equal("NET_RAW", "SYS_ADMIN");
        set.Mutants.Single(m => m.Id == "egress-policies-removed").Manifests.Should().NotContain(d => d.Kind == "NetworkPolicy")
            .And.HaveCount(docs.Count - docs.Count(d => d.Kind == "NetworkPolicy"));
        set.Mutants.Single(m => m.Id == "legacy-token-mounted").Manifests.Select(d => d.Object).OfType<V1Secret>().Should().Contain(s => s.Type == "kubernetes.io/service-account-token");
    }

    [Fact]
    public async Task Derive_TheWeakSample_NamesTheControlsItDoesNotHave_AndMakesNoMutantForThem()
    {
        var docs = await LoadAsync("weak");
        var workload = docs.Single(d => d.Kind == "Deployment");

        var set = Mutants.Derive(docs, workload.Ref, Harness.Vehicles.TargetDiscovery.FromWorkload(workload.Object!).Container, onCluster: false);

        set.Absent.Should().Contain(a => a.StartsWith("readOnlyRootFilesystem", StringComparison.Ordinal));
        set.Mutants.Should().NotContain(m => m.Item == HardeningItem.RootFilesystemReadOnly);
    }

    [Fact]
    public async Task Prove_TheHardenedSampleThroughTheDockerVehicle_CatchesEveryMutant()
    {
        docker.Require();

        var reports = Directory.CreateTempSubdirectory("harness-prove-reports-");
        var (exit, output, error) = await CliRunner.RunAsync("prove", "--scenario", RepoPaths.File("fixtures/scenarios/greeter-docker.yaml"), "--parallel", "3", "--output", reports.FullName);

        exit.Should().Be(0, output + error);
        try
        {
            // The four reports gain the proof; JUnit has one test case per mutant.
            var junit = System.Xml.Linq.XDocument.Load(Path.Combine(reports.FullName, "qualification.junit.xml"));
            var proof = junit.Descendants("testsuite").Single(s => (string?)s.Attribute("name") == "proof");
            ((int)proof.Attribute("tests")!).Should().Be(8);
            ((int)proof.Attribute("failures")!).Should().Be(0);
            (await File.ReadAllTextAsync(Path.Combine(reports.FullName, "qualification.md"), TestContext.Current.CancellationToken)).Should().Contain("## Proof").And.Contain("| `rootfs-writable` | readOnlyRootFilesystem | `rootfs-readonly` | CAUGHT |");
            using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(reports.FullName, "qualification.json"), TestContext.Current.CancellationToken));
            json.RootElement.GetProperty("proof").GetArrayLength().Should().Be(8);
            (await File.ReadAllTextAsync(Path.Combine(reports.FullName, "qualification.html"), TestContext.Current.CancellationToken)).Should().Contain("<h2>Proof</h2>");
        }
        finally
        {
            reports.Delete(recursive: true);
        }
        output.Should().Contain("8 mutants, 8 caught, 0 not").And.Contain("PROVEN: every control the operator has")
            .And.Contain("CAUGHT    rootfs-writable").And.Contain("CAUGHT    egress-policies-removed").And.Contain("CAUGHT    legacy-token-mounted")
            .And.Contain("NOT RUN   a RoleBinding granting Secrets read");
    }

    [Fact]
    public async Task Prove_ABlindConfiguration_ExitsOne_NamingWhatItCannotProve()
    {
        // A wrong writable directory: the filesystem probes' control cannot write, so they cannot tell a read-only root.
        docker.Require();
        var dir = Directory.CreateTempSubdirectory("harness-prove-blind-");
        try
        {
            var scenario = Path.Combine(dir.FullName, "blind.yaml");
            await File.WriteAllTextAsync(scenario, (await File.ReadAllTextAsync(RepoPaths.File("fixtures/scenarios/greeter-docker.yaml"), TestContext.Current.CancellationToken))
                .Replace("manifests: [../sample-operator/hardened]", $"manifests: [{RepoPaths.File("fixtures/sample-operator/hardened")}]", StringComparison.Ordinal)
                .Replace("rights: ../sample-operator/rights.yaml", $"rights: {RepoPaths.File("fixtures/sample-operator/rights.yaml")}", StringComparison.Ordinal)
                + "probes:\n  writableDirectory: /var/cache/nowhere\n", TestContext.Current.CancellationToken);

            var (exit, output, error) = await CliRunner.RunAsync("prove", "--scenario", scenario, "--parallel", "3", "--output", Path.Combine(dir.FullName, "reports"));

            exit.Should().Be(1, output + error);
            output.Should().MatchRegex(@"(SURVIVED|UNPROVEN)\s+rootfs-writable").And.Contain("NOT PROVEN: rootfs-writable was not caught");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
