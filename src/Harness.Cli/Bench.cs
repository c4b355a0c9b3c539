using System.Diagnostics;
using System.Globalization;
using Harness.Clusters;
using Harness.Docker;
using Harness.Images;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;

namespace Harness.Cli;

/// <summary>
/// The benchmark: the standard plan in a hardened local container, three ways. (1) one batched agent exec;
/// (2) one agent exec per probe; (3) the same checks as a by-hand script, one busybox command per exec.
/// Prints medians of N runs and the ratios. A benchmark, not a test: it asserts nothing.
/// </summary>
internal static class Bench
{
    private const string Busybox = "/bin/busybox";

    public static async Task<int> RunAsync(int runs, TextWriter stdout, CancellationToken ct)
    {
        var busybox = new[] { "/bin/busybox", "/usr/bin/busybox" }.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException("bench needs a static busybox for the by-hand column: apt-get install busybox-static");
        var artifacts = ProbeArtifacts.Locate();
        await using var docker = await DockerHost.ConnectAsync(ct: ct).ConfigureAwait(false);
        var image = await ProbeImage.BuildAsync(docker, artifacts, [new ImageEntry("/bin", null, (UnixFileMode)0b111_101_101), new ImageEntry(Busybox, busybox, (UnixFileMode)0b111_101_101)], ct).ConfigureAwait(false);
        // The same local vantage a docker-vehicle run uses, egress denied (the pod is not on the sink's network).
        await using var vantage = await EgressVantage.StartLocalAsync(docker, image, egressOpen: false, [], ct: ct).ConfigureAwait(false);
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, image) with { Networks = vantage.VehicleNetworks };
        await using var vehicle = await DockerVehicle.StartAsync(docker, spec, ct: ct).ConfigureAwait(false);

        var t = vantage.Targets[0];
        var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [t] }).TargetPlan();
        string[][] byHand =
        [
            [Busybox, "touch", "/.p"], [Busybox, "touch", "/etc/.p"], [Busybox, "touch", "/usr/.p"],
            [Busybox, "touch", ProbeImageLayout.RootfsCanary + "/.p"], [Busybox, "touch", "/var/run/secrets/kubernetes.io/serviceaccount/.p"],
            [Busybox, "touch", "/tmp/.p"],
            [Busybox, "grep", "-E", "^(Uid|Gid|Cap|NoNewPrivs|Seccomp)", "/proc/self/status"],
            [ProbeImageLayout.KernelHelper, "setuid", "0"], [ProbeImageLayout.KernelHelper, "setgid", "0"], [ProbeImageLayout.SetuidHelper, "id"],
            [Busybox, "unshare", "-U", "true"], [Busybox, "unshare", "-m", "true"], [Busybox, "mount", "-t", "tmpfs", "none", ProbeImageLayout.MountPoint],
            [Busybox, "chroot", "/", "true"], [ProbeImageLayout.KernelHelper, "socket", "raw"],
            // busybox wget segfaults in a scratch image when a connect stalls (static glibc, no NSS): nc it is.
            [Busybox, "nc", "-w", "3", t.Address, $"{t.Port}"], [Busybox, "nc", "-w", "3", t.HostName, $"{t.Port}"],
        ];

        // One warm-up of each mode, not measured: image layers and page cache.
        await vehicle.RunAsync(plan, ct).ConfigureAwait(false);
        var batched = new List<double>();
        var perProbe = new List<double>();
        var shell = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            batched.Add(await TimeAsync(() => vehicle.RunAsync(plan, ct)).ConfigureAwait(false));
            perProbe.Add(await TimeAsync(async () =>
            {
                foreach (var step in plan.Steps)
                {
                    await vehicle.RunAsync(new AgentPlan { Steps = [step] }, ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false));
            shell.Add(await TimeAsync(async () =>
            {
                foreach (var command in byHand)
                {
                    await vehicle.ExecAsync(command, ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false));
        }

        var b = Median(batched);
        var p = Median(perProbe);
        var s = Median(shell);
        var inv = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync(string.Create(inv, $"benchmark: standard plan, hardened container (docker vehicle), {runs} runs, median wall time")).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"{"mode",-44} {"execs",6} {"median ms",10} {"vs batched",11}")).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"{"one batched agent exec (all probes + controls)",-44} {1,6} {b,10:F1} {1.0,10:F2}x")).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"{"one agent exec per step",-44} {plan.Steps.Count,6} {p,10:F1} {p / b,10:F2}x")).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"{"by-hand script (busybox/kprobe, no controls)",-44} {byHand.Length,6} {s,10:F1} {s / b,10:F2}x")).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"ratios: per-step/batched {p / b:F2}, by-hand/batched {s / b:F2}; egress is dropped here (a connect timeout per attempt): the batched agent overlaps the timeouts, the sequential ways add them up")).ConfigureAwait(false);
        return 0;
    }

    private static async Task<double> TimeAsync(Func<Task> action)
    {
        var clock = Stopwatch.StartNew();
        await action().ConfigureAwait(false);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
