using System.Collections.Immutable;
using Harness.Probes;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>
/// The opt-in vehicle: an ephemeral container in the operator's own pod, targeting its container (same PID namespace,
/// so the target's filesystem is visible under <c>/proc/PID/root</c>), running as the target's uid and gid, and
/// itself restricted-compliant. Ephemeral containers can never be removed from a pod: the pod keeps it until it is
/// replaced. Pure.
/// </summary>
public static class EphemeralProbe
{
    /// <summary>What this vehicle cannot do; shown in every report it produces.</summary>
    public static ImmutableArray<string> Notes { get; } =
    [
        "ephemeral container: added to the operator's running pod and not removable; the pod keeps it until it is replaced",
        "ephemeral container: the target's filesystem is read through /proc/PID/root, which needs the same uid and no user namespace",
    ];

    /// <summary>The ephemeral container for a target container in a pod.</summary>
    /// <exception cref="TargetNotFoundException">The pod has no such container.</exception>
    public static V1EphemeralContainer Build(V1PodSpec pod, string targetContainer, string probeImage, string session)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var target = (pod.Containers ?? []).FirstOrDefault(c => c.Name == targetContainer)
            ?? throw new TargetNotFoundException($"the pod has no container \"{targetContainer}\" to target.");
        var uid = target.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser ?? ProbeImageLayout.NonRootId;
        var gid = target.SecurityContext?.RunAsGroup ?? pod.SecurityContext?.RunAsGroup ?? uid;
        return new V1EphemeralContainer
        {
            Name = $"harness-probe-{session}",
            Image = probeImage,
            ImagePullPolicy = "IfNotPresent",
            Command = [ProbeImageLayout.Agent, "idle"],
            TargetContainerName = targetContainer,
            // Its own mounts are the target's, so the filesystem probes see the same emptyDirs and read-only volumes.
            VolumeMounts = target.VolumeMounts?.Select(m => new V1VolumeMount { Name = m.Name, MountPath = m.MountPath, ReadOnlyProperty = m.ReadOnlyProperty, SubPath = m.SubPath }).ToList(),
            SecurityContext = new V1SecurityContext
            {
                RunAsUser = uid,
                RunAsGroup = gid,
                RunAsNonRoot = uid != 0 ? true : null,
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                Privileged = false,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
        };
    }

    /// <summary>The strategic-merge patch of the pod's <c>ephemeralcontainers</c> subresource that adds it.</summary>
    public static V1Pod Patch(V1EphemeralContainer container) => new() { Spec = new V1PodSpec { EphemeralContainers = [container] } };
}
