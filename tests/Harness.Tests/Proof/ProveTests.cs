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
        set.NotObservable.Should().HaveCount(2, "said, not silently left out");
        set.NotObservable.Should().ContainSingle(n => n.Contains("cannot read Secrets", StringComparison.Ordinal)).Which.Should().Contain("the access matrix needs a cluster");

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
    public async Task Derive_OnACluster_ASecretsReaderBoundToItsAccount_ThatStillGrantsItOnceTheRunRenamesEverything()
    {
        var docs = await LoadAsync("hardened");
        var account = new Harness.Rbac.ServiceAccountRef("greeter-system", "greeter-operator");
        Harness.Rbac.RbacModel.From(docs, "greeter-system").Allows(account, "list", "", "secrets", "greeter-system").Should().BeFalse("the hardened sample cannot read Secrets");

        var set = Mutants.Derive(docs, Greeter, "operator", onCluster: true);

        var mutant = set.Mutants.Should().ContainSingle(m => m.Id == "secrets-readable").Subject;
        mutant.Item.Should().Be(HardeningItem.ServiceAccountLeastPrivilege);
        mutant.Manifests.Should().HaveCount(docs.Count + 2, "a Role and its RoleBinding, nothing else changed");
        // The run puts the manifests in a namespace of its own and rewrites every reference: the grant must follow.
        var planned = ManifestPlan.Build(mutant.Manifests, "harness-run-1");
        var model = Harness.Rbac.RbacModel.From(planned.SelectMany(p => ManifestLoader.LoadText(p.Json, "plan")), "harness-run-1");
        model.Allows(account with { Namespace = "harness-run-1" }, "list", "", "secrets", "harness-run-1").Should().BeTrue();
        model.Allows(account with { Namespace = "harness-run-1" }, "list", "", "secrets", null).Should().BeFalse("only its namespace's Secrets");
    }

    [Fact]
    public async Task Derive_TheWeakSampleOnACluster_ItsAccountReadsSecretsAlready_NoRbacMutant()
    {
        var docs = await LoadAsync("weak");
        var workload = docs.Single(d => d.Kind == "Deployment");

        var set = Mutants.Derive(docs, workload.Ref, Harness.Vehicles.TargetDiscovery.FromWorkload(workload.Object!).Container, onCluster: true);

        set.Mutants.Should().NotContain(m => m.Id == "secrets-readable");
        set.Absent.Should().Contain(a => a.Contains("cannot read Secrets", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Derive_CustomResourcesWithoutAContainer_PayloadNotRun_WithTheReason_AndTheirTextReachesTheRun()
    {
        // The sample's Greeting carries a message only: what the operator creates is its code's choice.
        var docs = await LoadAsync("hardened");

        var set = Mutants.Derive(docs, Greeter, "operator", onCluster: true);

        set.Mutants.Should().NotContain(m => m.Item == HardeningItem.PayloadSeparation);
        set.NotObservable.Should().ContainSingle(n => n.Contains("payload-separation", StringComparison.Ordinal)).Which.Should().Contain("Greeting/hello").And.Contain("no container");
        // Every run applies each document's own text: the CRD keeps its schema, the custom resource is there.
        var yaml = Mutants.ToYaml(set.Mutants.Single(m => m.Id == "rootfs-writable").Manifests);
        var read = ManifestLoader.LoadText(yaml, "mutant.yaml");
        read.Should().Contain(d => d.Kind == "Greeting" && d.Name == "hello");
        read.Single(d => d.Kind == "CustomResourceDefinition").Text.Should().Contain("openAPIV3Schema");
        read.Select(d => d.DisplayName).Should().Equal(docs.Select(d => d.DisplayName));
        ((V1Deployment)read.Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec.Containers.Single().SecurityContext.ReadOnlyRootFilesystem.Should().BeFalse();
    }

    [Fact]
    public async Task Derive_ACustomResourceWithAPodTemplate_APrivilegedPayloadMutant_OnlyOnACluster()
    {
        var docs = (await LoadAsync("hardened")).Where(d => d.Kind is not ("CustomResourceDefinition" or "Greeting")).Concat(ManifestLoader.LoadText("""
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: workers.demo.harness.dev}
            spec:
              group: demo.harness.dev
              scope: Namespaced
              names: {kind: Worker, plural: workers, singular: worker, listKind: WorkerList}
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
            ---
            apiVersion: demo.harness.dev/v1
            kind: Worker
            metadata: {name: batch, namespace: greeter-system}
            spec:
              replicas: 1
              template:
                spec:
                  securityContext: {runAsNonRoot: true}
                  containers:
                    - name: work
                      image: example.test/worker:1
                      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
                    - name: sidecar
                      image: example.test/sidecar:1
            """, "worker.yaml")).ToList();

        var docker = Mutants.Derive(docs, Greeter, "operator", onCluster: false);
        var cluster = Mutants.Derive(docs, Greeter, "operator", onCluster: true);

        docker.Mutants.Should().NotContain(m => m.Id == "payload-privileged");
        docker.NotObservable.Should().Contain(n => n.Contains("payload inventory needs a cluster", StringComparison.Ordinal));
        var mutant = cluster.Mutants.Should().ContainSingle(m => m.Id == "payload-privileged").Subject;
        mutant.Item.Should().Be(HardeningItem.PayloadSeparation);
        mutant.Control.Should().Contain("Worker/batch: spec.template.spec.containers[0].securityContext, spec.template.spec.containers[1].securityContext");
        var worker = Harness.Manifests.YamlJson.FromText(ManifestLoader.LoadText(Mutants.ToYaml(mutant.Manifests), "m.yaml").Single(d => d.Kind == "Worker").Text)!;
        var containers = worker["spec"]!["template"]!["spec"]!["containers"]!.AsArray();
        containers.Select(c => (bool?)c!["securityContext"]!["privileged"]).Should().Equal(true, true);
        ((bool?)containers[0]!["securityContext"]!["readOnlyRootFilesystem"]).Should().BeTrue("only the payload's privilege changes");
        ((bool?)worker["spec"]!["template"]!["spec"]!["securityContext"]!["runAsNonRoot"]).Should().BeTrue("a pod-level securityContext holds no container field: left alone");
        docs.Single(d => d.Kind == "Worker").Text.Should().NotContain("privileged", "the caller's documents are never changed");
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
            .And.Contain("NOT RUN   a ServiceAccount that cannot read Secrets (serviceaccount-least-privilege): the access matrix needs a cluster")
            .And.Contain("NOT RUN   a restricted payload (payload-separation): the manifests declare no CustomResourceDefinition");
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
