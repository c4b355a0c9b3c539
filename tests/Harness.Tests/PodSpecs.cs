using k8s.Models;

namespace Harness.Tests;

/// <summary>Pod specs the tests start from.</summary>
internal static class PodSpecs
{
    /// <summary>The hardened baseline of the mutation matrix: non-root, read-only root with an emptyDir /tmp, drop ALL, no escalation, RuntimeDefault seccomp.</summary>
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
