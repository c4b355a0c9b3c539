using Harness.Tests.Docker;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Vehicles;

/// <summary>
/// Issue #16, item 4: the cell where the twin pod and the docker vehicle could observe themselves. They run the probe
/// image in the operator's security context; when the spec leaves the uid to the operator's image (no runAsUser, no
/// runAsNonRoot), the probe process runs as the probe image's uid 65532, and "runs as non-root" would be the probe's
/// property, not the operator's. On a real container: those verdicts are Inconclusive, the others still judged.
/// </summary>
public sealed class ImageUserObservationTests(DockerFixture docker)
{
    private static V1PodSpec SilentAboutTheUser()
    {
        var spec = ReferencePods.Hardened();
        spec.SecurityContext.RunAsUser = null;
        spec.SecurityContext.RunAsGroup = null;
        spec.SecurityContext.RunAsNonRoot = null;
        return spec;
    }

    private async Task<ProbeRunReport> RunAsync(V1PodSpec spec, long? imageUid)
    {
        var (host, image) = docker.Require();
        await using var vehicle = await DockerVehicle.StartAsync(host, ContainerRunSpec.FromPodSpec(spec, null, image, imageUid), ct: TestContext.Current.CancellationToken);
        var report = await ProbeRunner.RunAsync(StandardProbes.Create(new StandardProbeOptions()), vehicle, ct: TestContext.Current.CancellationToken);
        foreach (var r in report.Results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-24} {r.Status,-12} {r.Explanation}");
        }
        return report;
    }

    [Fact]
    public async Task UidOnlyInTheOperatorsImage_UidDependentVerdictsAreInconclusive()
    {
        var report = await RunAsync(SilentAboutTheUser(), imageUid: null);

        report["proc.non-root"].Status.Should().Be(ProbeStatus.Inconclusive, "uid 65532 is the probe image's, not the operator's");
        report["proc.non-root"].Explanation.Should().Contain("comes from its image (USER)").And.Contain("the agent saw Denied(NonRootUser)");
        report.Results.Where(r => r.Probe.Id.StartsWith("kernel.", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == ProbeStatus.Inconclusive);
        report["fs.root"].Status.Should().Be(ProbeStatus.Passed, "a read-only root refuses every uid with EROFS");
        report["proc.no-new-privs"].Status.Should().Be(ProbeStatus.Passed);
    }

    [Theory]
    [InlineData(false, 65532L)]
    [InlineData(true, null)]
    public async Task UidKnownOrNonRootGuaranteed_IsJudged(bool runAsNonRoot, long? imageUid)
    {
        var spec = SilentAboutTheUser();
        spec.SecurityContext.RunAsNonRoot = runAsNonRoot ? true : null;

        var report = await RunAsync(spec, imageUid);

        report["proc.non-root"].Status.Should().Be(ProbeStatus.Passed);
        report["kernel.setuid"].Status.Should().Be(ProbeStatus.Passed);
    }
}
