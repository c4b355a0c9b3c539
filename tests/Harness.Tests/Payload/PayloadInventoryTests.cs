using Docker.DotNet.Models;
using Harness.Images;
using Harness.Payload;
using Harness.Runs;
using Harness.Tests.Docker;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Payload;

/// <summary>
/// The payload inventory end to end without a cluster: the real sample operator (its NativeAOT image, configured by the
/// env of the sample's own Deployment manifest) reconciles a Greeting against a loopback HTTPS API server, and the
/// harness takes the inventory from that server through KubernetesClient, as on a cluster.
/// </summary>
public sealed class PayloadInventoryTests(DockerFixture docker)
{
    private const string OperatorImage = "harness.local/greeter-operator:payload-test";

    /// <summary>The sample operator's field manager (fixtures/sample-operator/src/GreeterOperator/Reconciler.cs).</summary>
    private const string Reconciler = "greeter-operator";

    [Theory]
    [InlineData("weak", "greeter-weak")]
    [InlineData("hardened", "greeter-system")]
    public async Task TakeAsync_TheSampleOperator_WeakCreatesAPrivilegedPayload_HardenedStaysClean(string variant, string ns)
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, _) = docker.Require();
        var binary = RepoPaths.File("artifacts/sample-operator/greeter-operator");
        Assert.SkipUnless(File.Exists(binary) || DockerFixture.Required, $"the sample operator is not published at {binary} (bash eng/build-sample-operator.sh)");
        var image = await ProbeImage.BuildApplicationAsync(host, binary, OperatorImage, ct);
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        var op = await OperatorFromManifestsAsync(variant, ns);
        SeedCluster(api, op, ns);
        var dir = ServiceAccountDirectory(api, ns);
        string? container = null;
        try
        {
            container = await StartOperatorAsync(host, image, dir, api.Port, op, ct);

            var report = await PayloadInventory.TakeAsync(api.Client(), op, TimeSpan.FromSeconds(45), [], new RunSession(ct: ct));

            report.Evidence.Should().Contain($"custom resources: Greeting/{ns}/hello");
            report.Evidence.Should().Contain(e => e.StartsWith("control held", StringComparison.Ordinal));
            report.Created.Select(c => c.Display).Should().Contain($"ConfigMap {ns}/hello-greeting")
                .And.NotContain($"Deployment {ns}/greeter-operator", "the harness applied it")
                .And.NotContain($"Pod {ns}/greeter-operator-7c9", "the ReplicaSet controller created it")
                .And.NotContain($"Pod {ns}/greeter-operator-twin", "the harness's own pod, though its field manager is the operator's");
            api.Get("apis/demo.harness.dev/v1/greetings", ns, "hello")!["status"]!["configMap"]!.GetValue<string>().Should().Be("hello-greeting");
            if (variant == "weak")
            {
                report.Status.Should().Be(ProbeStatus.Failed);
                report.Created.Select(c => c.Display).Should().Contain($"Pod {ns}/hello-presenter");
                report.Findings.Should().Contain(f => f.Id == PayloadAnalyzer.PodSecurityFinding && f.Subject == $"Pod {ns}/hello-presenter" && f.Message.Contains("privileged"));
                report.Findings.Should().Contain(f => f.Id == PayloadAnalyzer.OperatorAccount && f.Message.Contains($"{ns}/greeter-operator"));
            }
            else
            {
                report.Status.Should().Be(ProbeStatus.Passed, string.Join("\n", report.Evidence));
                report.Created.Select(c => c.Display).Should().Equal($"ConfigMap {ns}/hello-greeting", $"Secret {ns}/hello-seeded");
                report.Findings.Should().NotContain(f => f.Severity == Harness.Preflight.FindingSeverity.Error);
            }
            var secret = report.Created.Single(c => c.Document.Kind == "Secret").Document.Object.Should().BeOfType<V1Secret>().Subject;
            secret.Data.Should().BeNull("Secret data never enters the inventory");
        }
        finally
        {
            if (container is not null)
            {
                await host.RemoveContainerAsync(container, CancellationToken.None);
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TakeAsync_AnOperatorThatNeverReconciles_IsInconclusive_NotPassed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        var op = await OperatorFromManifestsAsync("hardened", "greeter-system");
        SeedCluster(api, op, "greeter-system", seedOwnedSecret: false);

        var report = await PayloadInventory.TakeAsync(api.Client(), op, TimeSpan.FromSeconds(2), [], new RunSession(ct: ct));

        report.Status.Should().Be(ProbeStatus.Inconclusive);
        report.Tested.Should().BeTrue();
        report.Evidence.Should().Contain(e => e.StartsWith("control FAILED: the operator created nothing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TakeAsync_WithoutACustomResource_IsUntested()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        var op = await OperatorFromManifestsAsync("hardened", "greeter-system");

        var report = await PayloadInventory.TakeAsync(api.Client(), op, TimeSpan.FromSeconds(1), [], new RunSession(ct: ct));

        report.Tested.Should().BeFalse();
        report.Evidence.Single().Should().Contain("no custom resource of Greeting.demo.harness.dev exists on the cluster");
    }

    private static async Task<OperatorUnderTest> OperatorFromManifestsAsync(string variant, string ns)
    {
        var lookup = new OperatorLookup
        {
            Deployment = "greeter-operator",
            Namespace = ns,
            Manifests = [RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File($"fixtures/sample-operator/{variant}")],
        };
        return (await new ManifestStage(lookup).LocateAsync(new RunSession())).Operator;
    }

    /// <summary>What a cluster holds after the harness applied the manifests: the Greeting, the operator's Deployment and its pod, and (optionally) a Secret the Greeting owns.</summary>
    private static System.Text.Json.Nodes.JsonObject SeedCluster(FakeKubeApiServer api, OperatorUnderTest op, string ns, bool seedOwnedSecret = true)
    {
        var greetingDoc = op.Manifests.Single(d => d.Kind == "Greeting");
        var greeting = api.Seed("""
            {"apiVersion":"demo.harness.dev/v1","kind":"Greeting","metadata":{"name":"@NAME","namespace":"@NS"},"spec":{"message":"Hello from the harness"}}
            """.Replace("@NS", ns, StringComparison.Ordinal).Replace("@NAME", greetingDoc.Name, StringComparison.Ordinal), "harness");
        api.Seed("""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"greeter-operator","namespace":"@NS"},
             "spec":{"selector":{"matchLabels":{"app":"greeter"}},"template":{"metadata":{"labels":{"app":"greeter"}},"spec":{"serviceAccountName":"greeter-operator","containers":[{"name":"operator","image":"x"}]}}}}
            """.Replace("@NS", ns, StringComparison.Ordinal).Replace("@NAME", greetingDoc.Name, StringComparison.Ordinal), "harness");
        api.Seed("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"greeter-operator-7c9","namespace":"@NS",
              "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"greeter-operator-5d","uid":"rs-1","controller":true}]},
             "spec":{"serviceAccountName":"greeter-operator","containers":[{"name":"operator","image":"x"}]}}
            """.Replace("@NS", ns, StringComparison.Ordinal), "kube-controller-manager");
        // The harness's twin pod, probing beside the inventory: the operator's account and labels, written by the same
        // field manager as the operator (the same client library). Its harness role label keeps it out of the payload.
        api.Seed("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"greeter-operator-twin","namespace":"@NS","labels":{"app":"greeter","io.harness.role":"twin"}},
             "spec":{"serviceAccountName":"greeter-operator","containers":[{"name":"operator","image":"x","securityContext":{"privileged":true}}]}}
            """.Replace("@NS", ns, StringComparison.Ordinal), Reconciler);
        if (seedOwnedSecret)
        {
            var uid = (string)greeting["metadata"]!["uid"]!;
            api.Seed("""
                {"apiVersion":"v1","kind":"Secret","type":"Opaque","metadata":{"name":"hello-seeded","namespace":"@NS",
                  "ownerReferences":[{"apiVersion":"demo.harness.dev/v1","kind":"Greeting","name":"hello","uid":"@UID"}]},
                 "data":{"password":"c2VjcmV0LXZhbHVl"}}
                """.Replace("@NS", ns, StringComparison.Ordinal).Replace("@UID", uid, StringComparison.Ordinal), "kube-controller-manager");
        }
        return greeting;
    }

    /// <summary>What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount: a token, the API server's CA, the namespace.</summary>
    private static string ServiceAccountDirectory(FakeKubeApiServer api, string ns)
    {
        var dir = Directory.CreateTempSubdirectory("harness-sa-").FullName;
        File.WriteAllText(Path.Combine(dir, "token"), "header.payload.signature");
        File.WriteAllText(Path.Combine(dir, "ca.crt"), api.CaPem);
        File.WriteAllText(Path.Combine(dir, "namespace"), ns);
        // Readable by the operator's non-root uid, as the kubelet's mount is.
        const UnixFileMode read = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        const UnixFileMode search = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (OperatingSystem.IsLinux())
        {
            foreach (var f in Directory.EnumerateFiles(dir))
            {
                File.SetUnixFileMode(f, read);
            }
            File.SetUnixFileMode(dir, read | search);
        }
        return dir;
    }

    /// <summary>
    /// Runs the operator image with the env of its manifest's container (downward-API references resolved as the kubelet
    /// would), on the host's network so that 127.0.0.1 is the loopback API server, with the ServiceAccount files mounted.
    /// </summary>
    private static async Task<string> StartOperatorAsync(Harness.Docker.DockerHost host, string image, string dir, int port, OperatorUnderTest op, CancellationToken ct)
    {
        var container = op.Target.PodSpec.Containers.Single(c => c.Name == op.Target.Container);
        var env = (container.Env ?? []).Select(e => $"{e.Name}={e.Value ?? e.ValueFrom?.FieldRef?.FieldPath switch
        {
            "metadata.namespace" => op.Target.Namespace,
            "spec.serviceAccountName" => op.Target.ServiceAccount,
            var other => throw new InvalidOperationException($"unexpected downward-API field {other}"),
        }}").Concat([$"KUBERNETES_SERVICE_HOST=127.0.0.1", $"KUBERNETES_SERVICE_PORT={port}"]).ToList();
        var created = await host.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Cmd = [.. container.Args ?? ["run"]],
            Env = env,
            User = "65532",
            Labels = host.Labels("operator"),
            HostConfig = new HostConfig
            {
                NetworkMode = "host",
                ReadonlyRootfs = true,
                CapDrop = ["ALL"],
                SecurityOpt = ["no-new-privileges:true"],
                Binds = [$"{dir}:/var/run/secrets/kubernetes.io/serviceaccount:ro"],
            },
        }, ct);
        await host.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
        return created.ID;
    }
}
