using Harness.Clusters;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Docker;

/// <summary>
/// Networks, the sink and the outside vantage for the matrix: the hardened pod sits on an internal network of its
/// own (no path to the sink: packets are dropped, as under a default-deny NetworkPolicy); the sink and the outside
/// control container share another. Nothing leaves the machine.
/// </summary>
public sealed class MatrixFixture(DockerFixture docker) : IAsyncLifetime
{
    private ProbeRunReport? baseline;

    public DockerFixture Docker => docker;

    public string PodNetwork { get; private set; } = "";

    public string SinkNetwork { get; private set; } = "";

    internal EgressSink? Sink { get; private set; }

    internal DockerVehicle? Outside { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (docker.Unavailable is not null)
        {
            return;
        }
        var ct = TestContext.Current.CancellationToken;
        // Each test class gets its own instance: the names must not collide within the session.
        var instance = Guid.NewGuid().ToString("N")[..6];
        PodNetwork = await docker.Docker!.CreateNetworkAsync($"matrix-pod-{instance}", isolated: true, ct);
        SinkNetwork = await docker.Docker.CreateNetworkAsync($"matrix-sink-{instance}", isolated: true, ct);
        Sink = await EgressSink.StartAsync(docker.Docker, docker.ProbeImage!, SinkNetwork, ct: ct);
        Outside = await DockerVehicle.StartAsync(docker.Docker, new ContainerRunSpec { Image = docker.ProbeImage!, Networks = [SinkNetwork] }, "docker:outside", ct);
    }

    public static ProbePlan Plan(IEnumerable<EgressTarget> targets) =>
        StandardProbes.Create(new StandardProbeOptions { EgressTargets = [.. targets], NetworkTimeoutMs = 2000 });

    /// <summary>Runs the standard plan (egress to the sink's HTTP and HTTPS targets) in a container made from <paramref name="pod"/>.</summary>
    internal async Task<ProbeRunReport> RunAsync(V1PodSpec pod, bool joinSinkNetwork, EgressSink? sink, CancellationToken ct)
    {
        var (host, image) = docker.Require();
        var spec = ContainerRunSpec.FromPodSpec(pod, null, image) with
        {
            Networks = joinSinkNetwork ? [PodNetwork, SinkNetwork] : [PodNetwork],
        };
        await using var vehicle = await DockerVehicle.StartAsync(host, spec, ct: ct);
        var targets = sink ?? Sink!;
        var report = await ProbeRunner.RunAsync(Plan([targets.Target, targets.HttpsTarget]), vehicle, Outside, ct: ct);
        foreach (var r in report.Results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-26} {r.Status,-12} {r.Verdict} | {r.Evidence.Attempt}");
        }
        return report;
    }

    public async Task<ProbeRunReport> BaselineAsync(CancellationToken ct) =>
        baseline ??= await RunAsync(ReferencePods.Hardened(), joinSinkNetwork: false, sink: null, ct);

    public async ValueTask DisposeAsync()
    {
        if (Outside is not null)
        {
            await Outside.DisposeAsync();
        }
        if (Sink is not null)
        {
            await Sink.DisposeAsync();
        }
    }
}

public sealed class MutationMatrixTests(MatrixFixture matrix) : IClassFixture<MatrixFixture>
{
    private static readonly string[] Egress = ["egress.sink.tcp", "egress.sink.http", "egress.sink-tls.tcp", "egress.sink-tls.https"];

    [Fact]
    public async Task Baseline_HardenedPod_DeniesEveryProbeByItsMechanismWithControls()
    {
        matrix.Docker.Require();
        var report = await matrix.BaselineAsync(TestContext.Current.CancellationToken);

        report.Results.Where(r => r.Status != ProbeStatus.Passed).Should().BeEmpty("every probe passes on the hardened pod");
        report["fs.root"].Verdict.Should().Be(Verdict.Denied(Mechanism.ReadOnlyFilesystem));
        report["kernel.raw-socket"].Verdict.Should().Be(Verdict.Denied(Mechanism.OperationNotPermitted));
        report["kernel.setuid-helper"].Verdict.Should().Be(Verdict.Denied(Mechanism.SetuidIgnored));
        report["egress.sink.tcp"].Verdict.Should().Be(Verdict.Denied(Mechanism.ConnectTimeout), "the pod network drops packets to the sink");
        report["egress.sink.tcp"].Evidence.Control!.Succeeded.Should().BeTrue("the outside vantage reaches the sink");
        report.Results.Where(r => r.Evidence.Control is not null).Should().OnlyContain(r => r.Evidence.Control!.Succeeded);
        report.Notes.Should().Contain(n => n.Contains("approximation", StringComparison.Ordinal));
    }

    public static TheoryData<string> Knobs => [.. Mutations.Keys];

    private static readonly Dictionary<string, (Action<V1PodSpec> Weaken, bool JoinSink, string[] Flips)> Mutations = new()
    {
        // uid 1000 on a writable root: "/" and "/etc" refuse by EACCES (not EROFS: inconclusive), the world-writable canary accepts the write.
        ["writable rootfs"] = (p => Sc(p).ReadOnlyRootFilesystem = false, false, ["fs.root", "fs.etc", "fs.usr", "fs.probe-rootfs-canary"]),
        // Root: setuid(0) is a no-op success and the setuid helper runs with euid 0; setgid(0) still needs CAP_SETGID (gid stays 1000).
        ["uid 0"] = (p => { p.SecurityContext.RunAsUser = 0; p.SecurityContext.RunAsNonRoot = false; }, false, ["proc.non-root", "kernel.setuid", "kernel.setuid-helper"]),
        // A non-root process gets added capabilities in its bounding set only (no ambient caps): the capability check flips, the kernel attempts stay denied.
        ["add NET_RAW"] = (p => Sc(p).Capabilities.Add = ["NET_RAW"], false, ["proc.capabilities"]),
        // Docker's default seccomp profile opens unshare/mount/... to a container granted SYS_ADMIN: an unprivileged user namespace becomes possible.
        ["add SYS_ADMIN"] = (p => Sc(p).Capabilities.Add = ["SYS_ADMIN"], false, ["proc.capabilities", "kernel.unshare-user"]),
        ["add SETUID"] = (p => Sc(p).Capabilities.Add = ["SETUID"], false, ["proc.capabilities"]),
        // Without no_new_privs the setuid-root helper gets euid 0.
        ["allow privilege escalation"] = (p => Sc(p).AllowPrivilegeEscalation = true, false, ["proc.no-new-privs", "kernel.setuid-helper"]),
        // Without a filter, unshare(CLONE_NEWUSER) is allowed to an unprivileged process by this kernel.
        ["seccomp unconfined"] = (p => p.SecurityContext.SeccompProfile.Type = "Unconfined", false, ["proc.seccomp", "kernel.unshare-user"]),
        ["network path to the sink"] = (_ => { }, true, Egress),
    };

    private static V1SecurityContext Sc(V1PodSpec pod) => pod.Containers[0].SecurityContext;

    [Theory]
    [MemberData(nameof(Knobs))]
    public async Task Weaken_OneKnob_FlipsExactlyTheMatchingProbes(string knob)
    {
        matrix.Docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var baseline = await matrix.BaselineAsync(ct);
        var (weaken, joinSink, expected) = Mutations[knob];
        var pod = ReferencePods.Hardened();
        weaken(pod);

        var report = await matrix.RunAsync(pod, joinSink, sink: null, ct);

        var flipped = report.Results
            .Where(r => r.Status != baseline[r.Probe.Id].Status)
            .Select(r => r.Probe.Id)
            .ToList();
        flipped.Should().BeEquivalentTo(expected, $"weakening '{knob}' must flip exactly its probes");
        report.Results.Where(r => expected.Contains(r.Probe.Id)).Should().OnlyContain(r => r.Status != ProbeStatus.Passed);
    }

    [Fact]
    public async Task NetworkPath_Egress_IsAllowedAndReachesTheSink()
    {
        matrix.Docker.Require();
        var report = await matrix.RunAsync(ReferencePods.Hardened(), joinSinkNetwork: true, sink: null, TestContext.Current.CancellationToken);

        report["egress.sink.http"].Verdict.Should().Be(Verdict.Allowed());
        report["egress.sink.http"].Status.Should().Be(ProbeStatus.Failed);
        report["egress.sink.http"].Evidence.Data["sinkToken"].Should().Be(matrix.Sink!.Target.SinkToken, "the answer came from the harness's own sink");
        report["egress.sink-tls.https"].Verdict.Should().Be(Verdict.Allowed(), "HTTPS to the sink verifies against the sink's own CA");
        report["egress.sink-tls.https"].Evidence.Data["sinkToken"].Should().Be(matrix.Sink!.Target.SinkToken);
        report["egress.sink-tls.https"].Evidence.Data["stage"].Should().Be("http", "the TLS handshake completed and the request was answered");
    }

    [Fact]
    public async Task InClusterTargets_WithoutNameResolution_StillReachTheSinkByPinnedAddress()
    {
        matrix.Docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var (http, https) = ClusterEgressSink.InClusterTargets(matrix.Sink!);

        // The outside container resolves nothing (DNS is 127.0.0.1), like a pod asked for a Docker-only name.
        var report = await ProbeRunner.RunAsync(MatrixFixture.Plan([http, https]).Where(p => p.Check == HardeningCheck.EgressDenied), matrix.Outside!, matrix.Outside, ct: ct);

        http.Url.Should().Be($"http://{matrix.Sink!.Target.Address}:8080/");
        https.Url.Should().Be("https://harness-sink:8443/");
        foreach (var id in new[] { "egress.sink.http", "egress.sink-tls.https" })
        {
            report[id].Verdict.Should().Be(Verdict.Allowed(), id);
            report[id].Evidence.Data["sinkToken"].Should().Be(matrix.Sink.Target.SinkToken, id);
            report[id].Evidence.Control!.Succeeded.Should().BeTrue();
        }
    }

    [Fact]
    public async Task Https_SinkCertificateFromAnotherCa_IsRefusedAtTheTlsStage()
    {
        var (host, image) = matrix.Docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var stranger = SinkCertificate.Create(["harness-sink"], []);
        var target = matrix.Sink!.HttpsTarget with { CaPem = stranger.CaPem };

        // From the sink's own network: the connection is made, but the answer is not trusted.
        var report = await ProbeRunner.RunAsync(MatrixFixture.Plan([target]).Where(p => p.Id == "egress.sink-tls.https"), matrix.Outside!, matrix.Outside, ct: ct);

        var result = report["egress.sink-tls.https"];
        result.Evidence.Attempt.Should().Contain("TLS handshake failed");
        result.Evidence.Data["stage"].Should().Be("tls");
        result.Evidence.Data.Should().NotContainKey("sinkToken", "nothing was read from a peer the probe does not trust");
        result.Verdict.Should().Be(Verdict.Allowed(), "a TLS failure comes after the packets got through: egress was possible");
        result.Evidence.Control!.Succeeded.Should().BeFalse("the control cannot prove it reached the harness's sink either");
    }

    [Fact]
    public async Task NoVolumes_ReadOnlyRootIsStillProven_ByTheHarnessOwnControl()
    {
        // Issue #22: an operator that writes nowhere (no volumes at all) is the most locked-down there is, not a failure.
        matrix.Docker.Require();
        var pod = ReferencePods.Hardened();
        pod.Volumes.Clear();
        pod.Containers[0].VolumeMounts.Clear();

        var report = await matrix.RunAsync(pod, joinSinkNetwork: false, sink: null, TestContext.Current.CancellationToken);

        foreach (var id in new[] { "fs.root", "fs.etc", "fs.usr", "fs.probe-rootfs-canary", "fs.serviceaccount" })
        {
            report[id].Verdict.Should().Be(Verdict.Denied(Mechanism.ReadOnlyFilesystem));
            report[id].Status.Should().Be(ProbeStatus.Passed, $"{id}: the control wrote to /dev/shm, so the agent can write and EROFS is the root's doing");
            report[id].Evidence.Control!.Detail.Should().Contain("/dev/shm");
        }
        report.Results.Select(r => r.Probe.Id).Should().NotContain("fs.writable", "no writable directory was declared");
    }

    [Fact]
    public async Task FalsePassGuard_ControlCannotWrite_MakesFilesystemVerdictsInconclusiveNotDenied()
    {
        var (host, image) = matrix.Docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, image) with { Networks = [matrix.PodNetwork] };
        await using var vehicle = await DockerVehicle.StartAsync(host, spec, ct: ct);
        // A control location that refuses writes: the agent cannot show it writes at all, so EROFS proves nothing.
        var plan = StandardProbes.Create(new StandardProbeOptions { ControlDirectory = "/usr" }).Where(p => p.Id.StartsWith("fs.", StringComparison.Ordinal));

        var report = await ProbeRunner.RunAsync(plan, vehicle, ct: ct);

        foreach (var id in new[] { "fs.root", "fs.etc", "fs.usr" })
        {
            report[id].Verdict.Should().Be(Verdict.Denied(Mechanism.ReadOnlyFilesystem), "the write itself still fails with EROFS");
            report[id].Status.Should().Be(ProbeStatus.Inconclusive, $"{id}: without a working control the denial proves nothing");
            report[id].Explanation.Should().Contain("control failed");
        }
    }

    [Fact]
    public async Task FalsePassGuard_SinkStopped_MakesEgressVerdictsInconclusive()
    {
        var (host, image) = matrix.Docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var sink = await EgressSink.StartAsync(host, image, matrix.SinkNetwork, alias: "stopped-sink", ct);
        await sink.StopAsync();

        var report = await matrix.RunAsync(ReferencePods.Hardened(), joinSinkNetwork: false, sink, ct);

        foreach (var id in Egress)
        {
            report[id].Verdict.Kind.Should().Be(VerdictKind.Denied, "the attempt still fails");
            report[id].Status.Should().Be(ProbeStatus.Inconclusive, $"{id}: the sink is down, so the failure may not be the policy's doing");
            report[id].Evidence.Control!.Succeeded.Should().BeFalse();
        }
    }
}
