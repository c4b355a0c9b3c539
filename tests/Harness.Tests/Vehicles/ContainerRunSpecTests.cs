using Harness.Vehicles;
using k8s.Models;

namespace Harness.Tests.Vehicles;

public sealed class ContainerRunSpecTests
{
    [Fact]
    public void FromPodSpec_Hardened_MapsEverySecurityKnob()
    {
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, "probe:1");

        spec.Image.Should().Be("probe:1");
        spec.User.Should().Be("1000:1000");
        spec.ReadOnlyRootfs.Should().BeTrue();
        spec.CapDrop.Should().Equal("ALL");
        spec.CapAdd.Should().BeEmpty();
        spec.SecurityOpt.Should().Equal("no-new-privileges:true");
        spec.Tmpfs.Should().ContainKey("/tmp").WhoseValue.Should().StartWith("rw");
        spec.Tmpfs.Should().ContainKey("/var/run/secrets/kubernetes.io/serviceaccount").WhoseValue.Should().StartWith("ro");
        spec.Dns.Should().Equal("127.0.0.1");
        spec.Notes.Should().Contain(n => n.Contains("approximation", StringComparison.Ordinal));
    }

    [Fact]
    public void FromPodSpec_NoSeccompProfile_RunsUnconfinedLikeAKubeletWithoutSeccompDefault()
    {
        var pod = ReferencePods.Hardened();
        pod.SecurityContext.SeccompProfile = null;

        var spec = ContainerRunSpec.FromPodSpec(pod, null, "probe:1");

        spec.SecurityOpt.Should().Contain("seccomp=unconfined");
        spec.Notes.Should().Contain(n => n.Contains("SeccompDefault", StringComparison.Ordinal));
    }

    [Fact]
    public void FromPodSpec_ContainerLevelSettingsOverridePodLevel()
    {
        var pod = ReferencePods.Hardened();
        pod.Containers[0].SecurityContext.RunAsUser = 2000;
        pod.Containers[0].SecurityContext.SeccompProfile = new V1SeccompProfile { Type = "Unconfined" };

        var spec = ContainerRunSpec.FromPodSpec(pod, "operator", "probe:1");

        spec.User.Should().Be("2000:1000");
        spec.SecurityOpt.Should().Contain("seccomp=unconfined");
    }

    [Fact]
    public void FromPodSpec_AllowPrivilegeEscalationUnset_DoesNotSetNoNewPrivileges()
    {
        var pod = ReferencePods.Hardened();
        pod.Containers[0].SecurityContext.AllowPrivilegeEscalation = null;

        ContainerRunSpec.FromPodSpec(pod, null, "probe:1").SecurityOpt.Should().NotContain(o => o.StartsWith("no-new-privileges", StringComparison.Ordinal));
    }

    [Fact]
    public void FromPodSpec_CapabilityNames_AreNormalized()
    {
        var pod = ReferencePods.Hardened();
        pod.Containers[0].SecurityContext.Capabilities.Add = ["CAP_NET_RAW", "sys_admin"];

        ContainerRunSpec.FromPodSpec(pod, null, "probe:1").CapAdd.Should().Equal("NET_RAW", "SYS_ADMIN");
    }

    [Fact]
    public void FromPodSpec_RunAsNonRootWithUidZero_IsRefusedLikeTheKubeletDoes()
    {
        var pod = ReferencePods.Hardened();
        pod.SecurityContext.RunAsUser = 0;

        var act = () => ContainerRunSpec.FromPodSpec(pod, null, "probe:1");

        act.Should().Throw<UnsupportedPodSpecException>().WithMessage("*runAsNonRoot*uid 0*");
    }

    [Fact]
    public void FromPodSpec_HostPathVolume_IsRefusedWithTheVolumeName()
    {
        var pod = ReferencePods.Hardened();
        pod.Volumes.Add(new V1Volume { Name = "docker-sock", HostPath = new V1HostPathVolumeSource { Path = "/var/run/docker.sock" } });
        pod.Containers[0].VolumeMounts.Add(new V1VolumeMount { Name = "docker-sock", MountPath = "/var/run/docker.sock" });

        var act = () => ContainerRunSpec.FromPodSpec(pod, null, "probe:1");

        act.Should().Throw<UnsupportedPodSpecException>().WithMessage("*docker-sock*hostPath*");
    }

    [Fact]
    public void FromPodSpec_UnknownContainer_NamesTheOnesThatExist()
    {
        var act = () => ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), "sidecar", "probe:1");

        act.Should().Throw<UnsupportedPodSpecException>().WithMessage("*sidecar*has: operator*");
    }

    [Fact]
    public void FromPodSpec_HostNetwork_IsRefused()
    {
        var pod = ReferencePods.Hardened();
        pod.HostNetwork = true;

        ((Action)(() => ContainerRunSpec.FromPodSpec(pod, null, "probe:1"))).Should().Throw<UnsupportedPodSpecException>().WithMessage("*hostNetwork*");
    }

    [Fact]
    public void FromPodSpec_ProjectedVolumeAndLimits_AreApproximated()
    {
        var pod = ReferencePods.Hardened();
        pod.AutomountServiceAccountToken = false;
        pod.Volumes.Add(new V1Volume { Name = "cfg", ConfigMap = new V1ConfigMapVolumeSource { Name = "cfg" } });
        pod.Containers[0].VolumeMounts.Add(new V1VolumeMount { Name = "cfg", MountPath = "/etc/operator", ReadOnlyProperty = true });
        pod.Containers[0].Resources = new V1ResourceRequirements
        {
            Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("64Mi"), ["cpu"] = new("500m") },
        };

        var spec = ContainerRunSpec.FromPodSpec(pod, null, "probe:1");

        spec.Tmpfs["/etc/operator"].Should().StartWith("ro");
        spec.Tmpfs.Should().NotContainKey("/var/run/secrets/kubernetes.io/serviceaccount");
        spec.MemoryBytes.Should().Be(64 * 1024 * 1024);
        spec.NanoCpus.Should().Be(500_000_000);
        spec.Notes.Should().Contain(n => n.Contains("configMap", StringComparison.Ordinal));
    }

    [Fact]
    public void ToCreateParameters_IsolatedSpec_HasNoNetworkAndLoopbackDns()
    {
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, "probe:1");

        var p = DockerVehicle.ToCreateParameters(spec, new Dictionary<string, string> { ["io.harness.owner"] = "harness" });

        p.HostConfig!.NetworkMode.Should().Be("none");
        p.HostConfig.DNS.Should().Equal("127.0.0.1");
        p.HostConfig.ReadonlyRootfs.Should().BeTrue();
        p.User.Should().Be("1000:1000");
        p.Labels!.Should().ContainKey("io.harness.owner");
    }
}
