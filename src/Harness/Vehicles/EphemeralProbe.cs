using Harness.Runs;
using Harness.Images;
using System.Collections.Immutable;
using Harness.Protocol;
using k8s;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>
/// The opt-in vehicle: an ephemeral container in the operator's own pod, targeting its container. What it observes:
/// <list type="bullet">
/// <item>process probes read the <b>target</b> process's <c>/proc/PID/status</c> (the PID namespace is shared through <c>targetContainerName</c>);</item>
/// <item>filesystem probes write through <c>/proc/PID/root</c>, i.e. into the target's own mounts; that needs the target's uid and capabilities and no user namespace, otherwise they are Inconclusive with the reason;</item>
/// <item>kernel attempts run in the probe container, which copies the target container's security context; the agent compares the two processes and refuses (Inconclusive) when they differ;</item>
/// <item>network and API probes share the pod's network namespace and the target's mounted ServiceAccount token.</item>
/// </list>
/// Ephemeral containers can never be removed from a pod: the pod keeps it until it is replaced. Pure.
/// </summary>
internal static class EphemeralProbe
{
    /// <summary>What this vehicle cannot do; shown in every report it produces.</summary>
    public static ImmutableArray<string> Notes { get; } =
    [
        "ephemeral container: added to the operator's running pod and not removable; the pod keeps it until it is replaced",
        "ephemeral container: process and filesystem probes observe the operator's process (its /proc/PID/status and /proc/PID/root); kernel attempts run in the probe container with the operator container's security context copied, and only when the agent finds the two identical",
    ];

    /// <summary>The note added when admission refused the copied security context and a restricted one was used instead.</summary>
    public static string RefusedCopyNote(string reason) =>
        $"ephemeral container: admission refused a copy of the target's security context ({reason}); the probe container runs restricted instead, so kernel attempts are inconclusive unless the target is as restricted";

    /// <summary>
    /// What this vehicle cannot judge in <paramref name="pod"/>: with <c>shareProcessNamespace: true</c> and several
    /// containers, every container's processes share one PID namespace, and the agent cannot tell the target's process
    /// from a sidecar's; process, filesystem and kernel verdicts would risk describing the wrong container. Pure.
    /// </summary>
    public static ImmutableDictionary<string, string> Unobservable(V1PodSpec pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (pod.ShareProcessNamespace != true || (pod.Containers?.Count ?? 0) < 2)
        {
            return ImmutableDictionary<string, string>.Empty;
        }
        const string reason = "the pod shares one PID namespace among its containers (shareProcessNamespace: true): the operator's process cannot be told apart from its sidecars'; use the twin pod";
        return ImmutableDictionary<string, string>.Empty.Add("fs.", reason).Add("proc.", reason).Add("kernel.", reason);
    }

    /// <summary>The process the agent observes through this vehicle: the target container's, found in the shared PID namespace.</summary>
    public static TargetProcess Observe { get; } = new() { RequireSameSecurityContext = true };

    /// <summary>
    /// The ephemeral container for a target container in a pod: the probe image, targeting the container, with a copy of
    /// its security context (user, group, capabilities, privilege escalation, seccomp, read-only root) and its volume
    /// mounts, so that kernel attempts run as the operator's process would.
    /// </summary>
    /// <exception cref="TargetNotFoundException">The pod has no such container.</exception>
    public static V1EphemeralContainer Build(V1PodSpec pod, string targetContainer, string probeImage, SessionId session)
    {
        var target = Target(pod, targetContainer);
        // Pod-level settings (runAsUser, seccompProfile, ...) apply to ephemeral containers as to any other.
        var copy = target.SecurityContext is { } sc ? KubernetesJson.Deserialize<V1SecurityContext>(KubernetesJson.Serialize(sc)) : null;
        return Container(target, targetContainer, probeImage, session, copy);
    }

    /// <summary>
    /// The fallback when admission refuses the copy: a restricted-compliant container (non-root, drop ALL, no privilege
    /// escalation, RuntimeDefault seccomp, read-only root) with the target's uid and gid where the spec gives them.
    /// </summary>
    /// <exception cref="TargetNotFoundException">The pod has no such container.</exception>
    public static V1EphemeralContainer BuildRestricted(V1PodSpec pod, string targetContainer, string probeImage, SessionId session)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var target = Target(pod, targetContainer);
        var uid = target.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser;
        var gid = target.SecurityContext?.RunAsGroup ?? pod.SecurityContext?.RunAsGroup;
        return Container(target, targetContainer, probeImage, session, new V1SecurityContext
        {
            RunAsUser = uid is 0 ? ProbeImageLayout.NonRootId : uid,
            RunAsGroup = gid is 0 ? ProbeImageLayout.NonRootId : gid,
            RunAsNonRoot = true,
            AllowPrivilegeEscalation = false,
            ReadOnlyRootFilesystem = true,
            Privileged = false,
            Capabilities = new V1Capabilities { Drop = ["ALL"] },
            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
        });
    }

    private static V1Container Target(V1PodSpec pod, string targetContainer)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return (pod.Containers ?? []).FirstOrDefault(c => c.Name == targetContainer)
            ?? throw new TargetNotFoundException($"the pod has no container \"{targetContainer}\" to target.");
    }

    private static V1EphemeralContainer Container(V1Container target, string targetContainer, string probeImage, SessionId session, V1SecurityContext? securityContext) => new()
    {
        Name = $"harness-probe-{session}",
        Image = probeImage,
        ImagePullPolicy = "IfNotPresent",
        Command = [ProbeImageLayout.Agent, "idle"],
        TargetContainerName = targetContainer,
        // The same mounts: the ServiceAccount token for API probes, and the emptyDirs kernel attempts may use.
        VolumeMounts = target.VolumeMounts?.Select(m => new V1VolumeMount { Name = m.Name, MountPath = m.MountPath, ReadOnlyProperty = m.ReadOnlyProperty, SubPath = m.SubPath }).ToList(),
        SecurityContext = securityContext,
    };

    /// <summary>The strategic-merge patch of the pod's <c>ephemeralcontainers</c> subresource that adds it.</summary>
    public static V1Pod Patch(V1EphemeralContainer container) => new() { Spec = new V1PodSpec { EphemeralContainers = [container] } };
}
