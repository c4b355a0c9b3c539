using System.Collections.Immutable;
using System.Globalization;
using Harness.Images;
using Harness.Runs;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>
/// The uid, gid and supplementary groups the container runtime gives the operator's container: its image's USER and
/// /etc/passwd and /etc/group, under its security context. A vehicle that runs the probe image instead (twin pod, docker)
/// must run with exactly these, or every verdict that depends on them is about the probe, not the operator.
/// </summary>
/// <param name="Uid">The real uid.</param>
/// <param name="Gid">The real (primary) gid.</param>
/// <param name="Groups">The supplementary groups, sorted.</param>
/// <param name="Source">Where it was learned (<c>learned from the operator's image by pod ...</c>, <c>given: imageUser</c>).</param>
public sealed record ContainerIdentity(long Uid, long Gid, ImmutableArray<long> Groups, string Source)
{
    /// <summary>False when only the pod spec's uid and gid are known (the image's /etc/group may add groups): groups are then not compared.</summary>
    public bool GroupsKnown { get; init; } = true;

    /// <summary><c>uid 65534, gid 65534, groups [65534] (learned ...)</c>.</summary>
    public override string ToString() => $"uid {Uid}, gid {Gid}, groups [{string.Join(",", Groups)}] ({Source})";

    /// <summary>Parses the kernel helper's <c>uid=U gid=G groups=A,B</c> line (with or without a leading <c>ok</c>); null when it is not one. Pure.</summary>
    public static ContainerIdentity? Parse(string? line, string source)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return null;
        }
        var fields = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
        if (!fields.TryGetValue("uid", out var uidText) || !long.TryParse(uidText, NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            || !fields.TryGetValue("gid", out var gidText) || !long.TryParse(gidText, NumberStyles.None, CultureInfo.InvariantCulture, out var gid)
            || !fields.TryGetValue("groups", out var groupsText))
        {
            return null;
        }
        var groups = new List<long>();
        foreach (var g in groupsText.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!long.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return null;
            }
            groups.Add(n);
        }
        return new ContainerIdentity(uid, gid, [.. groups.Distinct().Order()], source);
    }

    /// <summary>
    /// The identity the pod spec alone fixes, or null when it does not set both uid and gid. The groups are known only with
    /// <c>supplementalGroupsPolicy: Strict</c> (otherwise the image's /etc/group may add some). Pure.
    /// </summary>
    public static ContainerIdentity? FromSpec(V1PodSpec pod, string container)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var c = pod.Containers?.FirstOrDefault(x => x.Name == container);
        var uid = c?.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser;
        var gid = c?.SecurityContext?.RunAsGroup ?? pod.SecurityContext?.RunAsGroup;
        if (uid is null || gid is null)
        {
            return null;
        }
        var strict = pod.SecurityContext?.SupplementalGroupsPolicy == "Strict";
        var groups = (pod.SecurityContext?.SupplementalGroups ?? []).Select(g => g ?? gid.Value).Append(pod.SecurityContext?.FsGroup ?? gid.Value).Append(gid.Value);
        return new ContainerIdentity(uid.Value, gid.Value, [.. groups.Distinct().Order()],
            strict ? "fixed by the pod spec (runAsUser, runAsGroup, supplementalGroupsPolicy: Strict)" : "uid and gid from the pod spec; the image's groups not learned")
        {
            GroupsKnown = strict,
        };
    }

    /// <summary>Whether a process with these ids (from <c>/proc/PID/status</c>: <c>Uid</c>/<c>Gid</c> real values, <c>Groups</c>) has this identity. Pure.</summary>
    internal bool Matches(long uid, long gid, string groups)
    {
        var observed = groups.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(g => long.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1).Distinct().Order();
        // The kernel may or may not list the primary gid among the supplementary groups; compare both without it.
        return uid == Uid && gid == Gid && (!GroupsKnown || observed.Where(g => g != Gid).SequenceEqual(Groups.Where(g => g != Gid)));
    }

    /// <summary>Applies this identity explicitly to <paramref name="container"/> of <paramref name="pod"/> (a twin's spec; changed in place).</summary>
    internal void ApplyTo(V1PodSpec pod, string container)
    {
        var c = pod.Containers.Single(x => x.Name == container);
        c.SecurityContext ??= new V1SecurityContext();
        c.SecurityContext.RunAsUser = Uid;
        c.SecurityContext.RunAsGroup = Gid;
        pod.SecurityContext ??= new V1PodSecurityContext();
        var extra = Groups.Where(g => g != Gid).ToList();
        if (extra.Count > 0)
        {
            pod.SecurityContext.SupplementalGroups = [.. (pod.SecurityContext.SupplementalGroups ?? []).Select(g => g ?? Gid).Concat(extra).Distinct().Order().Select(g => (long?)g)];
        }
    }
}

/// <summary>
/// The pod that learns the operator's identity on a cluster: the operator's own image, under its pod and container
/// security context, runs the harness's static kernel helper (copied in from the probe image by an init container
/// through an emptyDir; it needs no libc and no shell), which writes its ids to the termination log. Pure.
/// </summary>
internal static class IdentityPod
{
    /// <summary>Where the helper is copied to in the operator's image.</summary>
    public const string MountPath = "/harness-identity";

    /// <summary>Builds the identity pod for <paramref name="target"/>.</summary>
    public static V1Pod Build(OperatorTarget target, string probeImage, SessionId session)
    {
        ArgumentNullException.ThrowIfNull(target);
        var source = TwinPod.Clone(target.PodSpec);
        var operatorContainer = source.Containers.Single(c => c.Name == target.Container);
        var helper = $"{MountPath}/kprobe";
        var spec = new V1PodSpec
        {
            RestartPolicy = "Never",
            TerminationGracePeriodSeconds = 1,
            ServiceAccountName = source.ServiceAccountName,
            AutomountServiceAccountToken = false,
            SecurityContext = source.SecurityContext,
            ImagePullSecrets = source.ImagePullSecrets,
            NodeSelector = source.NodeSelector,
            Tolerations = source.Tolerations,
            RuntimeClassName = source.RuntimeClassName,
            HostUsers = source.HostUsers,
            Volumes = [new V1Volume { Name = "harness-identity", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory", SizeLimit = new ResourceQuantity("4Mi") } }],
            InitContainers =
            [
                new V1Container
                {
                    Name = "harness-copy-helper",
                    Image = probeImage,
                    ImagePullPolicy = "IfNotPresent",
                    Command = [ProbeImageLayout.KernelHelper, "install-self", helper],
                    VolumeMounts = [new V1VolumeMount { Name = "harness-identity", MountPath = MountPath }],
                    // Restricted whatever the operator's pod says (its pod-level runAsUser may be 0).
                    SecurityContext = new V1SecurityContext
                    {
                        RunAsNonRoot = true,
                        RunAsUser = ProbeImageLayout.NonRootId,
                        RunAsGroup = ProbeImageLayout.NonRootId,
                        AllowPrivilegeEscalation = false,
                        ReadOnlyRootFilesystem = true,
                        Capabilities = new V1Capabilities { Drop = ["ALL"] },
                        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                    },
                },
            ],
            Containers =
            [
                new V1Container
                {
                    Name = operatorContainer.Name,
                    Image = operatorContainer.Image,
                    ImagePullPolicy = operatorContainer.ImagePullPolicy,
                    Command = [helper, "identity", "/dev/termination-log"],
                    Args = null,
                    SecurityContext = operatorContainer.SecurityContext,
                    TerminationMessagePath = "/dev/termination-log",
                    TerminationMessagePolicy = "FallbackToLogsOnError",
                    VolumeMounts = [new V1VolumeMount { Name = "harness-identity", MountPath = MountPath, ReadOnlyProperty = true }],
                    Resources = new V1ResourceRequirements
                    {
                        Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("32Mi"), ["cpu"] = new("100m") },
                        Requests = new Dictionary<string, ResourceQuantity> { ["memory"] = new("8Mi"), ["cpu"] = new("10m") },
                    },
                },
            ],
        };
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = $"harness-identity-{session}",
                NamespaceProperty = target.Namespace,
                Labels = new Dictionary<string, string> { [SessionLabels.Session] = session.Value, [SessionLabels.Role] = "identity" },
            },
            Spec = spec,
        };
    }

    /// <summary>The identity from the finished pod's status, or the reason there is none. Pure.</summary>
    public static (ContainerIdentity? Identity, string? Why) Read(V1Pod pod, string container)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var status = pod.Status?.ContainerStatuses?.FirstOrDefault(s => s.Name == container);
        var terminated = status?.State?.Terminated;
        if (terminated is null)
        {
            var waiting = status?.State?.Waiting;
            return (null, $"the identity pod {pod.Metadata?.Name} did not finish ({waiting?.Reason ?? pod.Status?.Phase ?? "no status"}{(waiting?.Message is { } m ? $": {m}" : "")})");
        }
        var identity = terminated.ExitCode == 0 ? ContainerIdentity.Parse(terminated.Message, $"learned from the operator's image {pod.Spec?.Containers?.FirstOrDefault()?.Image} by pod {pod.Metadata?.Name}") : null;
        return identity is not null ? (identity, null)
            : (null, $"the identity pod {pod.Metadata?.Name} exited {terminated.ExitCode} ({terminated.Reason}): {Trim(terminated.Message)}");
    }

    private static string Trim(string? s) => s is null ? "(no message)" : s.Length > 300 ? s[..300] + "…" : s.Trim();
}
