using k8s.Models;

namespace Harness.Vehicles;

/// <summary>Reference pod specs: what a hardened, PodSecurity-restricted operator pod looks like.</summary>
internal static class ReferencePods
{
    /// <summary>
    /// Non-root uid/gid 1000, read-only root filesystem with an emptyDir at <c>/tmp</c>, all capabilities dropped,
    /// no privilege escalation, RuntimeDefault seccomp. The baseline of the mutation matrix and the benchmark.
    /// </summary>
    public static V1PodSpec Hardened() => new()
    {
        SecurityContext = new V1PodSecurityContext
        {
            RunAsNonRoot = true,
            RunAsUser = 1000,
            RunAsGroup = 1000,
            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
        },
        Containers =
        [
            new V1Container
            {
                Name = "operator",
                Image = "example.invalid/operator:1.0",
                SecurityContext = new V1SecurityContext
                {
                    AllowPrivilegeEscalation = false,
                    ReadOnlyRootFilesystem = true,
                    Capabilities = new V1Capabilities { Drop = ["ALL"] },
                },
                VolumeMounts = [new V1VolumeMount { Name = "tmp", MountPath = "/tmp" }],
            },
        ],
        Volumes = [new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() }],
    };
}
