using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Tests.Docker;

public sealed class DockerVehicleTests(DockerFixture fixture)
{
    [Fact]
    public async Task RunAsync_HardenedContainer_ReportsEveryDeniedProbeWithItsMechanism()
    {
        var (docker, image) = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, image);
        await using var vehicle = await DockerVehicle.StartAsync(docker, spec, ct: ct);

        var report = await ProbeRunner.RunAsync(StandardProbes.Create(new StandardProbeOptions()), vehicle, ct: ct);

        foreach (var r in report.Results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-28} {r.Status,-12} {r.Verdict} | {r.Explanation}");
        }
        report.Results.Should().OnlyContain(r => r.Status == ProbeStatus.Passed);
    }
}
