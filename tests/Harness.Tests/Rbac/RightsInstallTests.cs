using k8s;
using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;
using k8s.Models;

namespace Harness.Tests.Rbac;

/// <summary>
/// Issue #27 item 3: `harness rights install` prints the CRD, the object and a restricted CronJob that checks the rights
/// on the cluster and writes the result into the object's status; the status round-trips through the loopback API server.
/// </summary>
public sealed class RightsInstallTests(Harness.Tests.Docker.DockerFixture docker)
{
    private static async Task<(string Path, string Text)> LockAsync(DirectoryInfo dir, string name = "greeter")
    {
        var (exit, locked, errors) = await CliRunner.RunAsync("rights", "lock", "--name", name, RepoPaths.File("fixtures/sample-operator/hardened"));
        exit.Should().Be(0, errors);
        var path = Path.Combine(dir.FullName, "rights.yaml");
        await File.WriteAllTextAsync(path, locked, TestContext.Current.CancellationToken);
        return (path, locked);
    }

    [Fact]
    public async Task Install_PrintsTheCrdTheCheckerAndTheObject_AndTheCronJobPassesOurOwnPreflightAtRestricted()
    {
        var dir = Directory.CreateTempSubdirectory("harness-rights-install-");
        try
        {
            var (rights, locked) = await LockAsync(dir);

            var (exit, output, errors) = await CliRunner.RunAsync("rights", "install", "--rights", rights, "--schedule", "0 * * * *", "--api-server", "172.18.0.2,10.96.0.1/32");

            exit.Should().Be(0, errors);
            var docs = ManifestLoader.LoadText(output, "install.yaml");
            docs.Select(d => d.Kind).Should().Equal("CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "CronJob", "NetworkPolicy", "NetworkPolicy", "OperatorRights");
            output.Should().EndWith(locked, "the object is the rights file itself, its comments kept");

            var crd = (V1CustomResourceDefinition)docs[0].Object!;
            crd.Metadata.Name.Should().Be("operatorrights.harness.dev");
            crd.Spec.Scope.Should().Be("Cluster");
            var version = crd.Spec.Versions.Single();
            version.Subresources.Status.Should().NotBeNull("the check writes through the status subresource");
            version.AdditionalPrinterColumns.Select(c => c.Name).Should().StartWith(["Compliant", "Excess"]).And.Contain("Last Checked");
            version.AdditionalPrinterColumns[0].JsonPath.Should().Be(".status.conditions[?(@.type==\"Compliant\")].status");

            var cron = (V1CronJob)docs[5].Object!;
            cron.Spec.Schedule.Should().Be("0 * * * *");
            var pod = cron.Spec.JobTemplate.Spec.Template.Spec;
            pod.ServiceAccountName.Should().Be("harness-rights-checker");
            pod.Containers.Single().Image.Should().Be(RightsInstall.DefaultImage);
            pod.Containers.Single().Args.Should().Equal("rights", "check", "--object", "greeter", "--write-status");
            ((V1Namespace)docs[1].Object!).Metadata.Labels["pod-security.kubernetes.io/enforce"].Should().Be("restricted");

            // The project's own pre-flight, at restricted, on what it asks users to install.
            var report = PreflightAnalyzer.Analyze(docs, new PreflightOptions());
            report.Findings.Where(f => f.Severity == FindingSeverity.Error).Should().BeEmpty(string.Join("\n", report.Findings));
            report.Findings.Should().NotContain(f => f.Id.StartsWith("PSA", StringComparison.Ordinal), "the CronJob's pod is restricted-compliant");

            // The checker may read RBAC, ask reviews and write status: nothing that writes RBAC or reads Secrets.
            var egress = ((V1NetworkPolicy)docs[7].Object!).Spec.Egress;
            egress[1].To.Select(t => t.IpBlock.Cidr).Should().Equal("172.18.0.2/32", "10.96.0.1/32");
            var rules = ((V1ClusterRole)docs[3].Object!).Rules;
            rules.SelectMany(r => r.Verbs).Distinct().Should().BeEquivalentTo(["get", "list", "watch", "create", "update", "patch"]);
            rules.Where(r => r.Verbs.Intersect(["create", "update", "patch"]).Any()).SelectMany(r => r.Resources)
                .Should().BeEquivalentTo(["subjectaccessreviews", "operatorrights/status"]);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Install_BadInput_NamesTheFileAndWhatToDo()
    {
        var dir = Directory.CreateTempSubdirectory("harness-rights-install-");
        try
        {
            var missing = await CliRunner.RunAsync("rights", "install", "--rights", Path.Combine(dir.FullName, "nope.yaml"), "--api-server", "10.0.0.1");
            missing.Exit.Should().Be(2);
            missing.Err.Should().Contain("nope.yaml: no such file").And.Contain("harness rights lock");

            var nameless = Path.Combine(dir.FullName, "nameless.yaml");
            await File.WriteAllTextAsync(nameless, "apiVersion: harness.dev/v1alpha1\nkind: OperatorRights\nspec:\n  accounts: []\n", TestContext.Current.CancellationToken);
            var noApi = await CliRunner.RunAsync("rights", "install", "--rights", nameless);
            noApi.Exit.Should().Be(2);
            noApi.Err.Should().Contain("--api-server").And.Contain("kubectl get endpointslices");
            var badApi = await CliRunner.RunAsync("rights", "install", "--rights", nameless, "--api-server", "apiserver.example");
            badApi.Exit.Should().Be(2);
            badApi.Err.Should().Contain("'apiserver.example' is not an address or CIDR");

            var unnamed = await CliRunner.RunAsync("rights", "install", "--rights", nameless, "--api-server", "10.0.0.1");
            unnamed.Exit.Should().Be(2);
            unnamed.Err.Should().Contain("nameless.yaml").And.Contain("metadata.name");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task CheckObject_WritesTheStatus_AndItRoundTrips_DriftThenFixed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        LiveRightsTests.Seed(api);
        var dir = Directory.CreateTempSubdirectory("harness-rights-status-");
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        try
        {
            var (rights, _) = await LockAsync(dir);
            var install = await CliRunner.RunAsync("rights", "install", "--rights", rights, "--api-server", "172.18.0.2");
            foreach (var doc in ManifestLoader.LoadText(install.Out, "install.yaml").Where(d => d.Kind is "CustomResourceDefinition" or "OperatorRights"))
            {
                api.Seed(doc.Kind == "OperatorRights" ? Harness.Manifests.YamlJson.FromText(doc.Text)!.ToJsonString() : k8s.KubernetesJson.Serialize(doc.Object), "kubectl");
            }

            // Drift: the binding added by hand (LiveRightsTests.Seed) grants Secrets.
            var drift = await CliRunner.RunAsync("rights", "check", "--object", "greeter", "--write-status", "--kubeconfig", kubeconfig);

            drift.Exit.Should().Be(1, drift.Out + drift.Err);
            var status = api.Get("apis/harness.dev/v1alpha1/operatorrights", null, "greeter")!["status"]!;
            var condition = status["conditions"]![0]!;
            ((string?)condition["type"]).Should().Be("Compliant");
            ((string?)condition["status"]).Should().Be("False");
            ((string?)condition["reason"]).Should().Be("ExcessRights");
            ((int)status["excessCount"]!).Should().Be(1);
            status["excess"]![0]!.ToString().Should().Contain("get on secrets (cluster-wide) via ClusterRoleBinding ops-debug-greeter");
            DateTimeOffset.Parse((string)status["lastChecked"]!, System.Globalization.CultureInfo.InvariantCulture).Should().BeCloseTo(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
            api.Requests.Should().Contain(r => r.StartsWith("PATCH /apis/harness.dev/v1alpha1/operatorrights/greeter/status", StringComparison.Ordinal));

            // Fixed: the binding is removed; the next check says so, and the condition's transition time moves.
            var firstTransition = (string?)condition["lastTransitionTime"];
            await Task.Delay(1100, ct);
            using (var client = api.Client())
            {
                await client.RbacAuthorizationV1.DeleteClusterRoleBindingAsync("ops-debug-greeter", cancellationToken: ct);
            }
            var fixedRun = await CliRunner.RunAsync("rights", "check", "--object", "greeter", "--write-status", "--kubeconfig", kubeconfig);

            fixedRun.Exit.Should().Be(0, fixedRun.Out + fixedRun.Err);
            status = api.Get("apis/harness.dev/v1alpha1/operatorrights", null, "greeter")!["status"]!;
            ((string?)status["conditions"]![0]!["status"]).Should().Be("True");
            ((int)status["excessCount"]!).Should().Be(0);
            status["excess"]!.AsArray().Should().BeEmpty();
            ((string?)status["conditions"]![0]!["lastTransitionTime"]).Should().NotBe(firstTransition);
        }
        finally
        {
            File.Delete(kubeconfig);
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task TheCronJobsImage_RunsTheCheckAsInAPod_ReadOnlyNonRootNoCapabilities_AndWritesTheStatus()
    {
        // The CronJob's container as the kubelet would run it: the pod's account (token and CA mounted where Kubernetes
        // mounts them, the API server named by the service environment), read-only root, uid 65532, no capabilities.
        docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var image = RightsInstall.DefaultImage;
        if (await RunAsync(ct, "docker", "image", "inspect", image) is { Exit: not 0 })
        {
            var missing = $"the harness CLI image {image} is not built (bash eng/build-cli-image.sh)";
            if (Harness.Tests.Docker.DockerFixture.Required)
            {
                throw new InvalidOperationException("HARNESS_REQUIRE_DOCKER=1 but " + missing);
            }
            Assert.Skip(missing);
        }
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        LiveRightsTests.Seed(api);
        var dir = Directory.CreateTempSubdirectory("harness-rights-pod-");
        try
        {
            var (rights, _) = await LockAsync(dir);
            var install = await CliRunner.RunAsync("rights", "install", "--rights", rights, "--api-server", "127.0.0.1");
            foreach (var doc in ManifestLoader.LoadText(install.Out, "install.yaml").Where(d => d.Kind is "CustomResourceDefinition" or "OperatorRights"))
            {
                api.Seed(doc.Kind == "OperatorRights" ? Harness.Manifests.YamlJson.FromText(doc.Text)!.ToJsonString() : k8s.KubernetesJson.Serialize(doc.Object), "kubectl");
            }
            var cron = ManifestLoader.LoadText(install.Out, "install.yaml").Select(d => d.Object).OfType<V1CronJob>().Single();
            var container = cron.Spec.JobTemplate.Spec.Template.Spec.Containers.Single();
            var account = Directory.CreateDirectory(Path.Combine(dir.FullName, "serviceaccount"));
            await File.WriteAllTextAsync(Path.Combine(account.FullName, "token"), "not-a-real-token", ct);
            await File.WriteAllTextAsync(Path.Combine(account.FullName, "ca.crt"), api.CaPem, ct);
            await File.WriteAllTextAsync(Path.Combine(account.FullName, "namespace"), "harness-rights", ct);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(dir.FullName, (UnixFileMode)0b111_101_101);
                File.SetUnixFileMode(account.FullName, (UnixFileMode)0b111_101_101);
            }

            var run = await RunAsync(ct, ["docker", "run", "--rm", "--network", "host", "--read-only", "--user", "65532:65532", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--label", "io.harness.owner=harness",
                "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1", "-e", $"KUBERNETES_SERVICE_PORT={api.Port}",
                "-v", $"{account.FullName}:/var/run/secrets/kubernetes.io/serviceaccount:ro", container.Image, .. container.Args]);

            run.Exit.Should().Be(1, "the hand-made binding is an excess: " + run.Out + run.Err);
            run.Out.Should().Contain("RIGHTS-EXCESS").And.Contain("ops-debug-greeter");
            var status = api.Get("apis/harness.dev/v1alpha1/operatorrights", null, "greeter")!["status"]!;
            ((string?)status["conditions"]![0]!["status"]).Should().Be("False");
            ((int)status["excessCount"]!).Should().Be(1);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(CancellationToken ct, params string[] command)
    {
        var start = new System.Diagnostics.ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command[1..])
        {
            start.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task CheckObject_Missing_SaysToInstallIt_AndWriteStatusNeedsAnObject()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        try
        {
            var missing = await CliRunner.RunAsync("rights", "check", "--object", "nope", "--kubeconfig", kubeconfig);
            missing.Exit.Should().Be(2);
            missing.Err.Should().Contain("no OperatorRights \"nope\"").And.Contain("harness rights install");

            var both = await CliRunner.RunAsync("rights", "check", "--write-status", "--rights", "x.yaml", "fixtures");
            both.Exit.Should().Be(2);
            both.Err.Should().Contain("--write-status").And.Contain("--object NAME");
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public void Status_KeepsTheTransitionTimeWhileTheConditionHolds()
    {
        var now = new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
        Finding[] excess = [new("RIGHTS-EXCESS", FindingSeverity.Error, "ServiceAccount ns/op", "get on secrets is not declared", "cluster", 0)];

        var first = LiveRights.Status(excess, now, null);
        var again = LiveRights.Status(excess, now.AddHours(1), first);
        var cleared = LiveRights.Status([], now.AddHours(2), again);

        ((string?)again["conditions"]![0]!["lastTransitionTime"]).Should().Be("2026-11-27T12:00:00Z");
        ((string?)again["lastChecked"]).Should().Be("2026-11-27T13:00:00Z");
        ((string?)cleared["conditions"]![0]!["lastTransitionTime"]).Should().Be("2026-11-27T14:00:00Z");
        ((string?)cleared["conditions"]![0]!["status"]).Should().Be("True");
    }
}
