using Harness.Images;
using Harness.Probes;
using Harness.Qualification;
using Harness.Runs;
using Harness.Tests.Docker;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Vehicles;

/// <summary>
/// Issue #22 on real containers: a monitoring-operator-shaped pod (runAsUser 65534 and no runAsGroup, no volumes at all,
/// read-only root) whose image gives 65534 a passwd entry with gid 65534 and a supplementary group. The probe image has no
/// entry for 65534, so a vehicle that ran it with the spec alone would get gid 0 and fail setgid(0) for the wrong reason.
/// </summary>
public sealed class OperatorIdentityTests(DockerFixture docker)
{
    private const string OperatorImage = "harness.local/nobody-operator:identity-test";

    private static readonly UnixFileMode Data = (UnixFileMode)0b110_100_100;

    /// <summary>An image FROM scratch with only passwd and group: its USER is 65534 (nobody), gid 65534, also in group 2000.</summary>
    private static async Task<string> OperatorImageAsync(Harness.Docker.DockerHost host, CancellationToken ct) =>
        await ProbeImage.BuildTaggedAsync(host, OperatorImage,
        [
            new("/etc", null, (UnixFileMode)0b111_101_101),
            new("/etc/passwd", null, Data, "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"),
            new("/etc/group", null, Data, "root:x:0:\nmonitoring:x:2000:nobody\nnogroup:x:65534:\n"),
        ], ["USER 65534:65534", "LABEL io.harness.owner=harness"], ct);

    /// <summary>The flagship shape: hardened as they come, no volumes, uid from the spec, gid from the image.</summary>
    internal static V1PodSpec NoVolumesUidOnly(string image) => new()
    {
        SecurityContext = new V1PodSecurityContext { RunAsNonRoot = true, RunAsUser = 65534, SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" } },
        Containers =
        [
            new V1Container
            {
                Name = "operator",
                Image = image,
                SecurityContext = new V1SecurityContext
                {
                    AllowPrivilegeEscalation = false,
                    ReadOnlyRootFilesystem = true,
                    Capabilities = new V1Capabilities { Drop = ["ALL"] },
                },
            },
        ],
    };

    private async Task<ProbeRunReport> RunAsync(V1PodSpec pod, ContainerIdentity? identity, string? why, CancellationToken ct)
    {
        var (host, image) = docker.Require();
        await using var vehicle = await DockerVehicle.StartAsync(host, ContainerRunSpec.FromPodSpec(pod, "operator", image, identity, why), ct: ct);
        var options = new OperatorProbeOptions().StandardOptions([], VehicleKind.Docker, false, pod, "operator");
        var report = await ProbeRunner.RunAsync(StandardProbes.Create(options), vehicle, ct: ct);
        foreach (var r in report.Results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-26} {r.Status,-12} {r.Verdict} | {r.Explanation}");
        }
        return report;
    }

    [Fact]
    public async Task LearnIdentity_OperatorsOwnImage_GivesItsPasswdGidAndGroups()
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, _) = docker.Require();
        await OperatorImageAsync(host, ct);

        var (identity, why) = await DockerVehicle.LearnIdentityAsync(host, NoVolumesUidOnly(OperatorImage), "operator", ProbeArtifacts.Locate().KernelHelperPath, ct);

        why.Should().BeNull();
        identity!.Uid.Should().Be(65534);
        identity.Gid.Should().Be(65534, "the image's passwd gives nobody gid 65534; the probe image would give 0");
        identity.Groups.Should().Contain(2000, "the image's /etc/group adds nobody to monitoring");
        identity.Source.Should().Contain(OperatorImage);
    }

    [Fact]
    public async Task Run_WithTheLearnedIdentity_PassesEveryCheck_AndSaysWhoseIdsItRanWith()
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, _) = docker.Require();
        await OperatorImageAsync(host, ct);
        var pod = NoVolumesUidOnly(OperatorImage);
        var (identity, _) = await DockerVehicle.LearnIdentityAsync(host, pod, "operator", ProbeArtifacts.Locate().KernelHelperPath, ct);

        var report = await RunAsync(pod, identity, null, ct);

        report["kernel.setgid"].Status.Should().Be(ProbeStatus.Passed, "gid 65534 cannot setgid(0)");
        report["kernel.setgid"].Evidence.Observed.Should().Contain("with the operator's ids: uid 65534, gid 65534, groups [2000,65534]");
        report["proc.non-root"].Status.Should().Be(ProbeStatus.Passed);
        report.Results.Select(r => r.Probe.Id).Should().NotContain("fs.writable", "the operator declares no writable directory");
        report["fs.root"].Status.Should().Be(ProbeStatus.Passed, "the harness's own control (/dev/shm) proves the agent can write");
        report["fs.root"].Evidence.Control!.Detail.Should().Contain("/dev/shm");
        foreach (var check in new[] { HardeningCheck.RootFilesystemReadOnly, HardeningCheck.PrivilegeEscalationDenied, HardeningCheck.ProcessHardening })
        {
            CheckOutcome.Of(check, report.Results).Status.Should().Be(ProbeStatus.Passed, check.ToString());
        }
    }

    [Fact]
    public async Task Run_IdentityNotLearned_GidDependentVerdictIsInconclusive_NeverTheProbesOwn()
    {
        var ct = TestContext.Current.CancellationToken;
        var pod = NoVolumesUidOnly("harness.local/not-on-this-machine:none");
        var (host, _) = docker.Require();
        var (identity, why) = await DockerVehicle.LearnIdentityAsync(host, pod, "operator", ProbeArtifacts.Locate().KernelHelperPath, ct);
        identity.Should().BeNull();
        why.Should().Contain("not on this machine");

        var report = await RunAsync(pod, null, why, ct);

        // The probe image has no passwd entry for 65534: the container got gid 0, and setgid(0) "succeeded" for the probe.
        report["kernel.setgid"].Status.Should().Be(ProbeStatus.Inconclusive);
        report["kernel.setgid"].Explanation.Should().Contain("gid comes from its image").And.Contain("not on this machine").And.Contain("the agent saw Allowed");
        report["proc.non-root"].Status.Should().Be(ProbeStatus.Passed, "runAsUser fixes the uid");
    }

    [Fact]
    public async Task Run_VehicleWithOtherIdsThanTheOperators_MakesIdDependentVerdictsInconclusive()
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, image) = docker.Require();
        var pod = NoVolumesUidOnly(OperatorImage);
        // Claims the operator's identity but runs as --user 65534 (gid 0 from the probe image): the check catches it.
        var spec = ContainerRunSpec.FromPodSpec(pod, "operator", image) with { Identity = new ContainerIdentity(65534, 65534, [65534], "learned (test)") };
        await using var vehicle = await DockerVehicle.StartAsync(host, spec, ct: ct);

        var report = await ProbeRunner.RunAsync(StandardProbes.Create(new StandardProbeOptions()), vehicle, ct: ct);

        report["kernel.setgid"].Status.Should().Be(ProbeStatus.Inconclusive);
        report["kernel.setgid"].Explanation.Should().Contain("the vehicle ran as uid 65534, gid 0").And.Contain("not with the operator's ids");
        report["proc.non-root"].Status.Should().Be(ProbeStatus.Inconclusive);
        report["proc.capabilities"].Status.Should().Be(ProbeStatus.Passed, "capabilities do not depend on the ids");
    }

    [Fact]
    public async Task Qualify_DockerVehicle_MonitoringOperatorShape_PassesTheFourItems()
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, _) = docker.Require();
        await OperatorImageAsync(host, ct);
        var dir = Directory.CreateTempSubdirectory("harness-identity-");
        try
        {
            var deployment = new V1Deployment
            {
                ApiVersion = "apps/v1",
                Kind = "Deployment",
                Metadata = new V1ObjectMeta { Name = "monitor", NamespaceProperty = "monitoring" },
                Spec = new V1DeploymentSpec
                {
                    Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "monitor" } },
                    Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "monitor" } }, Spec = NoVolumesUidOnly(OperatorImage) },
                },
            };
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "deployment.yaml"), k8s.KubernetesYaml.Serialize(deployment), ct);
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "netpol.yaml"), """
                apiVersion: networking.k8s.io/v1
                kind: NetworkPolicy
                metadata: {name: deny, namespace: monitoring}
                spec: {podSelector: {}, policyTypes: [Egress, Ingress]}
                """, ct);

            var report = await Qualifier.RunAsync(new QualifyRequest
            {
                Scenario = new QualificationScenario { Path = "test", Name = "monitor", Deployment = "monitor", Manifests = [dir.FullName], Vehicle = VehicleKind.Docker },
            }, TextWriter.Null, ct);

            foreach (var item in new[] { "rootfs-readonly", "no-privilege-escalation", "non-root" })
            {
                report.Checklist.Single(i => i.Id == item).Status.Should().Be(ChecklistStatus.Passed, item);
            }
            report.Mission.Single(m => m.Check == HardeningCheck.RootFilesystemReadOnly).Status.Should().Be(ProbeStatus.Passed);
            report.Mission.Single(m => m.Check == HardeningCheck.PrivilegeEscalationDenied).Status.Should().Be(ProbeStatus.Passed);
            report.Notes.Should().Contain(n => n.Contains("runs with the operator's ids: uid 65534, gid 65534", StringComparison.Ordinal));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary>The identity pod and the parsing of what it reports. Pure.</summary>
public sealed class IdentityPodTests
{
    private static OperatorTarget Target() => new("monitoring", new Harness.Manifests.WorkloadRef("Deployment", "monitor"), "operator", "monitor",
        new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "monitor" } }, OperatorIdentityTests.NoVolumesUidOnly("quay.example/monitor:v1"));

    [Fact]
    public void Build_RunsTheHelperInTheOperatorsImageUnderItsSecurityContext_CopiedByARestrictedInitContainer()
    {
        var pod = IdentityPod.Build(Target(), "harness.local/probe:abc", SessionId.Parse("s1"));

        var main = pod.Spec.Containers.Single();
        main.Image.Should().Be("quay.example/monitor:v1");
        main.Command.Should().Equal("/harness-identity/kprobe", "identity", "/dev/termination-log");
        main.SecurityContext.Should().BeEquivalentTo(Target().PodSpec.Containers[0].SecurityContext);
        pod.Spec.SecurityContext.RunAsUser.Should().Be(65534);
        pod.Spec.RestartPolicy.Should().Be("Never");
        pod.Spec.AutomountServiceAccountToken.Should().BeFalse();
        var init = pod.Spec.InitContainers.Single();
        init.Command.Should().Equal("/probe/bin/kprobe", "install-self", "/harness-identity/kprobe");
        init.SecurityContext.RunAsNonRoot.Should().BeTrue();
        init.SecurityContext.Capabilities.Drop.Should().Equal("ALL");
        pod.Metadata.Labels.Should().ContainKey(SessionLabels.Session).And.NotContainKey("app", "no Service or policy should select it as the operator");
        var violations = Harness.PodSecurity.PodSecurityEvaluator.Evaluate(pod.Metadata, pod.Spec, Harness.PodSecurity.PodSecurityLevel.Restricted, Harness.PodSecurity.PolicyVersion.Latest).Violations;
        violations.Should().BeEmpty("the operator's own spec is restricted, and so is everything the harness adds");
    }

    [Fact]
    public void Read_TerminatedWithIds_GivesTheIdentity_AndFailuresGiveTheReason()
    {
        V1Pod Pod(V1ContainerState state) => new()
        {
            Metadata = new V1ObjectMeta { Name = "harness-identity-s1" },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "operator", Image = "quay.example/monitor:v1" }] },
            Status = new V1PodStatus { ContainerStatuses = [new V1ContainerStatus { Name = "operator", State = state }] },
        };

        var (identity, why) = IdentityPod.Read(Pod(new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 0, Message = "uid=65534 gid=65534 groups=2000,65534" } }), "operator");
        (identity!.Uid, identity.Gid).Should().Be((65534L, 65534L));
        identity.Groups.Should().Equal(2000, 65534);
        why.Should().BeNull();

        IdentityPod.Read(Pod(new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "back-off pulling" } }), "operator")
            .Why.Should().Contain("ImagePullBackOff");
        IdentityPod.Read(Pod(new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 1, Reason = "Error", Message = "kprobe: cannot write" } }), "operator")
            .Why.Should().Contain("exited 1").And.Contain("cannot write");
    }

    [Theory]
    [InlineData("uid=1 gid=2 groups=", 1, 2, new long[0])]
    [InlineData("ok uid=65534 gid=65534 groups=65534,2000", 65534, 65534, new long[] { 2000, 65534 })]
    public void Parse_HelperLines(string line, long uid, long gid, long[] groups)
    {
        var parsed = ContainerIdentity.Parse(line.StartsWith("ok ", StringComparison.Ordinal) ? line[3..] : line, "t")!;
        parsed.Uid.Should().Be(uid);
        parsed.Gid.Should().Be(gid);
        parsed.Groups.Should().Equal(groups);
        ContainerIdentity.Parse("uid=x gid=1 groups=", "t").Should().BeNull();
        ContainerIdentity.Parse("", "t").Should().BeNull();
    }
}

/// <summary>
/// The identity pod against the loopback API server, whose kubelet stand-in finishes it as the real one does: the ids
/// come back from its termination message, a pod that cannot start gives the reason, and the pod is always removed.
/// </summary>
public sealed class IdentityPodLiveTests
{
    private static OperatorTarget Target() => new("monitoring", new Harness.Manifests.WorkloadRef("Deployment", "monitor"), "operator", "monitor",
        new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "monitor" } }, OperatorIdentityTests.NoVolumesUidOnly("quay.example/monitor:v1"));

    private static async Task<FakeKubeApiServer> ApiAsync(System.Text.Json.Nodes.JsonObject state, CancellationToken ct)
    {
        var api = await FakeKubeApiServer.StartAsync(ct);
        api.Seed("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"monitoring"}}""", "kube-apiserver");
        api.Created = (_, obj) =>
        {
            if ((string?)obj["kind"] == "Pod" && (string?)obj["metadata"]!["labels"]?[SessionLabels.Role] == "identity")
            {
                obj["status"] = new System.Text.Json.Nodes.JsonObject
                {
                    ["phase"] = state.ContainsKey("terminated") ? "Succeeded" : "Pending",
                    ["containerStatuses"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                    {
                        ["name"] = "operator", ["ready"] = false, ["restartCount"] = 0, ["image"] = "quay.example/monitor:v1", ["imageID"] = "", ["state"] = state.DeepClone(),
                    }),
                };
            }
        };
        return api;
    }

    [Fact]
    public async Task LearnIdentity_ReadsTheIdsTheRuntimeGaveTheOperatorsImage_AndRemovesThePod()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ApiAsync(new System.Text.Json.Nodes.JsonObject { ["terminated"] = new System.Text.Json.Nodes.JsonObject { ["exitCode"] = 0, ["reason"] = "Completed", ["message"] = "uid=65534 gid=65534 groups=2000,65534" } }, ct);
        using var client = api.Client();

        var (identity, why) = await ClusterVehicles.LearnIdentityAsync(client, Target(), "harness.local/probe:abc", SessionId.Parse("id1"), null, ct);

        why.Should().BeNull();
        (identity!.Uid, identity.Gid).Should().Be((65534L, 65534L));
        identity.Groups.Should().Equal(2000, 65534);
        identity.Source.Should().Contain("quay.example/monitor:v1").And.Contain("harness-identity-id1");
        api.Requests.Should().Contain(r => r.StartsWith("POST /api/v1/namespaces/monitoring/pods", StringComparison.Ordinal));
        api.Get("api/v1/pods", "monitoring", "harness-identity-id1").Should().BeNull("the identity pod is removed once read");
    }

    [Fact]
    public async Task LearnIdentity_AnImageTheNodeCannotPull_GivesTheReason_NeverIds()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ApiAsync(new System.Text.Json.Nodes.JsonObject { ["waiting"] = new System.Text.Json.Nodes.JsonObject { ["reason"] = "ImagePullBackOff", ["message"] = "Back-off pulling image \"quay.example/monitor:v1\"" } }, ct);
        using var client = api.Client();

        var (identity, why) = await ClusterVehicles.LearnIdentityAsync(client, Target(), "harness.local/probe:abc", SessionId.Parse("id2"), null, ct);

        identity.Should().BeNull();
        why.Should().Contain("ImagePullBackOff").And.Contain("Back-off pulling image");
        api.Get("api/v1/pods", "monitoring", "harness-identity-id2").Should().BeNull();
    }
}
