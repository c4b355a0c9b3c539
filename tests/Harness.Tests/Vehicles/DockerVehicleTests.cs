using Harness.Tests.Docker;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Tests.Vehicles;

public sealed class DockerVehicleTests(DockerFixture fixture)
{
    [Fact]
    public async Task RunAsync_HardenedContainer_DeniesEveryProbeByTheMechanismOfItsProtection()
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
        foreach (var r in report.Results.Where(r => r.Probe.Expectation.ExpectDenied))
        {
            Mechanism expected = r.Probe.Id switch
            {
                _ when r.Probe.Id.StartsWith("fs.", StringComparison.Ordinal) => Mechanism.ReadOnlyFilesystem,
                "kernel.setuid-helper" => Mechanism.SetuidIgnored,
                _ when r.Probe.Id.StartsWith("kernel.", StringComparison.Ordinal) => Mechanism.OperationNotPermitted,
                "proc.non-root" => Mechanism.NonRootUser,
                "proc.capabilities" => Mechanism.NoCapabilities,
                "proc.no-new-privs" => Mechanism.NoNewPrivileges,
                "proc.seccomp" => Mechanism.SeccompFilter,
                _ => throw new InvalidOperationException($"{r.Probe.Id}: add it to this test"),
            };
            r.Verdict.Should().Be(Verdict.Denied(expected), r.Probe.Id);
            if (r.Probe.Control is not null)
            {
                r.Evidence.Control!.Succeeded.Should().BeTrue($"{r.Probe.Id}'s control must have held");
            }
        }
        report["fs.root"].Evidence.Errno.Should().Be("EROFS");
        report["kernel.setuid"].Evidence.Errno.Should().Be("EPERM");
        report["kernel.setuid-helper"].Evidence.Data["euid"].Should().Be("1000", "the setuid bit was ignored (no_new_privs)");
    }

    [Fact]
    public async Task StartAsync_ImageDockerDoesNotHave_IsAVehicleFailureNamingTheVehicleAndImage()
    {
        var (docker, _) = fixture.Require();
        var act = () => DockerVehicle.StartAsync(docker, new ContainerRunSpec { Image = "harness.local/does-not-exist:0" }, "docker:missing", TestContext.Current.CancellationToken);

        var thrown = await act.Should().ThrowAsync<VehicleException>().WithMessage("*docker:missing*harness.local/does-not-exist:0*");
        thrown.Which.Vehicle.Should().Be("docker:missing");
    }
}
