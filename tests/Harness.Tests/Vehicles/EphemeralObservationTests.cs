using Harness.Tests.Docker;
using Harness.Manifests;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Vehicles;

/// <summary>
/// The ephemeral-container vehicle on real kernels: a "target" container runs as the operator's pod spec says, and a
/// second container joins its PID namespace (Docker's <c>--pid container:</c>, what <c>targetContainerName</c> does on
/// a node) and probes it. Process and filesystem probes must observe the target, never the probe container itself;
/// when they cannot (another uid, no shared PID namespace) the verdict is Inconclusive with that reason.
/// </summary>
public sealed class EphemeralObservationTests(DockerFixture docker)
{
    private static V1PodSpec Sample(string variant) =>
        ((V1Deployment)ManifestLoader.LoadPath(RepoPaths.File($"fixtures/sample-operator/{variant}")).Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec;

    /// <summary>The weak sample with an emptyDir at /tmp: the filesystem control would hold, so only the observation decides.</summary>
    private static V1PodSpec WeakWithTmp()
    {
        var spec = Sample("weak");
        spec.Volumes = [new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() }];
        spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "tmp", MountPath = "/tmp" }];
        return spec;
    }

    private static V1PodSpec WithUser(V1PodSpec spec, long uid)
    {
        var copy = TwinPod.Clone(spec);
        copy.SecurityContext.RunAsUser = uid;
        copy.SecurityContext.RunAsGroup = uid;
        return copy;
    }

    private static readonly string[] LocalProbes = ["fs.root", "fs.etc", "fs.usr", "fs.writable", "proc.non-root", "proc.capabilities", "proc.no-new-privs", "proc.seccomp",
        "kernel.setuid", "kernel.setgid", "kernel.setuid-helper", "kernel.unshare-user", "kernel.unshare-mount", "kernel.mount", "kernel.chroot", "kernel.raw-socket"];

    private async Task<ProbeRunReport> ObserveAsync(V1PodSpec targetPod, V1PodSpec probePod, bool sharePid, CancellationToken ct)
    {
        var (host, image) = docker.Require();
        await using var target = await DockerVehicle.StartAsync(host, ContainerRunSpec.FromPodSpec(targetPod, null, image), "docker:target", ct);
        var probeSpec = ContainerRunSpec.FromPodSpec(probePod, null, image) with
        {
            PidNamespaceOf = sharePid ? target.ContainerId : null,
            Observe = EphemeralProbe.Observe,
        };
        await using var probe = await DockerVehicle.StartAsync(host, probeSpec, "docker:ephemeral", ct);
        // The probe image's canary is not in the target's filesystem: the ephemeral plan leaves it out.
        var plan = StandardProbes.Create(new StandardProbeOptions { ReadOnlyPaths = ["/", "/etc", "/usr"], ProbeServiceAccountDirectory = false, WritableDirectory = "/tmp" });
        var report = await ProbeRunner.RunAsync(plan, probe, ct: ct);
        foreach (var r in report.Results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-22} {r.Status,-12} {r.Verdict} | {r.Explanation} | observed: {r.Evidence.Observed}");
        }
        report.Results.Select(r => r.Probe.Id).Should().BeEquivalentTo(LocalProbes);
        return report;
    }

    [Fact]
    public async Task Weak_ProbeWithTheCopiedContext_FailsEachWeaknessOnTheTargetProcess()
    {
        // Given the weak operator (root, writable root, SYS_ADMIN, escalation allowed, seccomp Unconfined)
        // When an ephemeral-style probe with the copied security context observes it
        var report = await ObserveAsync(Sample("weak"), Sample("weak"), sharePid: true, TestContext.Current.CancellationToken);

        // Then every weakness fails, and says it was seen on the target process
        report["proc.non-root"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.capabilities"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.no-new-privs"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.seccomp"].Status.Should().Be(ProbeStatus.Failed);
        report["fs.root"].Verdict.Should().Be(Verdict.Allowed(), "the target's root filesystem is writable");
        report["kernel.setuid"].Status.Should().Be(ProbeStatus.Failed, "the operator's process is root");
        report["kernel.unshare-user"].Verdict.Should().Be(Verdict.Allowed(), "SYS_ADMIN with seccomp Unconfined");
        CheckOutcome.Of(HardeningCheck.RootFilesystemReadOnly, report.Results).Status.Should().Be(ProbeStatus.Failed);
        CheckOutcome.Of(HardeningCheck.PrivilegeEscalationDenied, report.Results).Status.Should().Be(ProbeStatus.Failed);
        foreach (var id in new[] { "fs.root", "fs.writable", "proc.non-root", "proc.capabilities" })
        {
            report[id].Evidence.Observed.Should().StartWith("target pid 1 ", $"{id} must observe the operator's process");
        }
        report["kernel.setuid"].Evidence.Observed.Should().Contain("equals target pid 1");
    }

    [Fact]
    public async Task Hardened_ProbeWithTheCopiedContext_PassesThroughTheTargetsOwnMounts()
    {
        var report = await ObserveAsync(ReferencePods.Hardened(), ReferencePods.Hardened(), sharePid: true, TestContext.Current.CancellationToken);

        report.Results.Should().OnlyContain(r => r.Status == ProbeStatus.Passed);
        report["fs.root"].Verdict.Should().Be(Verdict.Denied(Mechanism.ReadOnlyFilesystem));
        report["fs.root"].Evidence.Data["file"].Should().StartWith("/proc/1/root/", "the write went into the target's root");
        report["fs.writable"].Evidence.Data["file"].Should().StartWith("/proc/1/root/tmp/", "the write went into the target's emptyDir");
        report["proc.non-root"].Evidence.Observed.Should().StartWith("target pid 1 ");
    }

    [Fact]
    public async Task WeakWithEmptyDir_RestrictedProbeOfAnotherUid_IsInconclusiveNeverAPass()
    {
        // The false pass of issue #16: a hardened probe container beside a weak operator whose emptyDir makes every control hold.
        var restricted = WithUser(ReferencePods.Hardened(), 65532);

        var report = await ObserveAsync(WeakWithTmp(), restricted, sharePid: true, TestContext.Current.CancellationToken);

        // Process probes read the operator's process: its weaknesses show
        report["proc.non-root"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.capabilities"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.no-new-privs"].Status.Should().Be(ProbeStatus.Failed);
        report["proc.seccomp"].Status.Should().Be(ProbeStatus.Failed);
        // The filesystem cannot be entered as another uid, and kernel attempts in another context prove nothing
        foreach (var id in new[] { "fs.root", "fs.etc", "fs.usr" })
        {
            report[id].Status.Should().Be(ProbeStatus.Inconclusive);
            report[id].Explanation.Should().Contain("cannot observe the target's filesystem").And.Contain("/proc/1/root");
        }
        foreach (var id in LocalProbes.Where(p => p.StartsWith("kernel.", StringComparison.Ordinal)))
        {
            report[id].Status.Should().Be(ProbeStatus.Inconclusive, id);
            report[id].Explanation.Should().Contain("security context differs").And.Contain("Uid 65532");
        }
        report.Results.Should().NotContain(r => r.Status == ProbeStatus.Passed && r.Probe.Id != "fs.writable",
            "nothing about the probe container's own context may pass for the operator's");
    }

    [Fact]
    public async Task Hardened_ProbeOfAnotherUid_CannotEnterTheRootAndSaysSo()
    {
        var report = await ObserveAsync(ReferencePods.Hardened(), WithUser(ReferencePods.Hardened(), 2000), sharePid: true, TestContext.Current.CancellationToken);

        report["proc.non-root"].Status.Should().Be(ProbeStatus.Passed, "the target's own status is world-readable and it is non-root");
        report["proc.non-root"].Evidence.Data["Uid"].Should().StartWith("1000 ", "it is the target's uid, not the probe's 2000");
        report["fs.root"].Status.Should().Be(ProbeStatus.Inconclusive);
        report["fs.root"].Explanation.Should().Contain("EACCES");
        report["kernel.setuid"].Status.Should().Be(ProbeStatus.Inconclusive);
        report["kernel.setuid"].Explanation.Should().Contain("Uid 2000 2000 2000 2000 (probe) vs 1000 1000 1000 1000 (target)");
    }

    [Fact]
    public async Task NoSharedPidNamespace_EveryLocalProbeIsInconclusive()
    {
        var report = await ObserveAsync(ReferencePods.Hardened(), ReferencePods.Hardened(), sharePid: false, TestContext.Current.CancellationToken);

        report.Results.Should().OnlyContain(r => r.Status == ProbeStatus.Inconclusive);
        report["proc.non-root"].Explanation.Should().Contain("target process was not found").And.Contain("targetContainerName");
    }
}
