using Harness.Images;
using System.Collections.Immutable;
using System.Globalization;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>A pod spec that cannot be approximated by a local container; the message names the field.</summary>
public sealed class UnsupportedPodSpecException(string message) : Exception(message);

/// <summary>
/// The local-container equivalent of one container of a pod spec: plain data, produced by
/// <see cref="ContainerRunSpec.FromPodSpec"/> and applied by <see cref="DockerVehicle"/>.
/// </summary>
internal sealed record ContainerRunSpec
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>Image to run (the probe image: the vehicle swaps the operator's image for it, as a twin pod does).</summary>
    public required string Image { get; init; }

    /// <summary><c>uid</c> or <c>uid:gid</c>; null keeps the image's user.</summary>
    public string? User { get; init; }

    /// <summary>Supplementary groups (supplementalGroups and fsGroup).</summary>
    public ImmutableArray<string> GroupAdd { get; init; } = [];

    /// <summary>readOnlyRootFilesystem.</summary>
    public bool ReadOnlyRootfs { get; init; }

    /// <summary>Capabilities dropped (<c>ALL</c> or names without the CAP_ prefix).</summary>
    public ImmutableArray<string> CapDrop { get; init; } = [];

    /// <summary>Capabilities added.</summary>
    public ImmutableArray<string> CapAdd { get; init; } = [];

    /// <summary>Docker security options (<c>no-new-privileges:true</c>, <c>seccomp=unconfined</c>).</summary>
    public ImmutableArray<string> SecurityOpt { get; init; } = [];

    /// <summary>privileged: true.</summary>
    public bool Privileged { get; init; }

    /// <summary>tmpfs mounts: path → mount options.</summary>
    public ImmutableSortedDictionary<string, string> Tmpfs { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>Memory limit in bytes, or 0.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>CPU limit in billionths of a CPU, or 0.</summary>
    public long NanoCpus { get; init; }

    /// <summary>Share the host PID namespace (hostPID).</summary>
    public bool HostPid { get; init; }

    /// <summary>
    /// Join the PID namespace of this container (id or name), as an ephemeral container with <c>targetContainerName</c>
    /// joins its target's. Null: a PID namespace of its own.
    /// </summary>
    public string? PidNamespaceOf { get; init; }

    /// <summary>The process the agent observes instead of itself (with <see cref="PidNamespaceOf"/>); null when the agent is the target.</summary>
    public Protocol.TargetProcess? Observe { get; init; }

    /// <summary>Networks to attach, first one at create time. Empty means <c>none</c>: loopback only.</summary>
    public ImmutableArray<string> Networks { get; init; } = [];

    /// <summary>DNS servers. Defaults to loopback so no probe can query a resolver outside the machine.</summary>
    public ImmutableArray<string> Dns { get; init; } = ["127.0.0.1"];

    /// <summary>Network alias on every attached network.</summary>
    public string? Alias { get; init; }

    /// <summary>The operator's identity the container runs with (checked against the agent's own ids); null when unknown.</summary>
    public ContainerIdentity? Identity { get; init; }

    /// <summary>Entrypoint override; empty keeps the image's.</summary>
    public ImmutableArray<string> Entrypoint { get; init; } = [];

    /// <summary>Bind mounts (<c>host:container:ro</c>); only the harness's own helper is ever bound.</summary>
    public ImmutableArray<string> Binds { get; init; } = [];

    /// <summary>Command (the image's entrypoint is the agent).</summary>
    public ImmutableArray<string> Command { get; init; } = ["idle"];

    /// <summary>Environment variables (the sink's TLS certificate; never secrets of the user's).</summary>
    public ImmutableSortedDictionary<string, string> Environment { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>Where this approximation differs from what a kubelet would do.</summary>
    public ImmutableArray<string> Notes { get; init; } = [];

    /// <summary>Probes this container cannot ground in the operator (see <see cref="Observability"/>), with the reason.</summary>
    public ImmutableDictionary<string, string> Unobservable { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// Maps container <paramref name="containerName"/> of <paramref name="pod"/> to a local container running
    /// <paramref name="image"/>, with the same user, groups, read-only root, capabilities, no_new_privs, seccomp,
    /// volumes (as tmpfs) and limits. Kubernetes defaults apply where the spec is silent (seccomp Unconfined
    /// without SeccompDefault, privilege escalation allowed).
    /// </summary>
    /// <param name="pod">The pod spec (from a Pod or a workload's template).</param>
    /// <param name="containerName">The container to mirror; null for the first.</param>
    /// <param name="image">The image to run instead of the container's own.</param>
    /// <param name="identity">The operator's identity (learned from its image, or given): the container runs with exactly these ids. Null when unknown: the spec's ids where it sets them, the probe image's otherwise, and the probes those decide are marked unobservable.</param>
    /// <param name="whyUnknown">Why the identity is unknown, for the unobservable probes' reason.</param>
    /// <exception cref="UnsupportedPodSpecException">The spec uses something a local container cannot honour, or the kubelet would refuse it.</exception>
    public static ContainerRunSpec FromPodSpec(V1PodSpec pod, string? containerName, string image, ContainerIdentity? identity = null, string? whyUnknown = null)
    {
        var imageUid = identity?.Uid ?? ProbeImageLayout.NonRootId;
        ArgumentNullException.ThrowIfNull(pod);
        var containers = pod.Containers ?? [];
        var container = containerName is null
            ? containers.FirstOrDefault() ?? throw new UnsupportedPodSpecException("spec.containers is empty")
            : containers.FirstOrDefault(c => c.Name == containerName)
              ?? throw new UnsupportedPodSpecException($"spec.containers has no container named '{containerName}' (has: {string.Join(", ", containers.Select(c => c.Name))})");
        var field = $"spec.containers[{container.Name}]";
        var psc = pod.SecurityContext;
        var csc = container.SecurityContext;
        var notes = new List<string> { "docker vehicle: a local approximation of a kubelet, not a cluster verdict" };

        if (pod.HostNetwork == true)
        {
            throw new UnsupportedPodSpecException("spec.hostNetwork: true cannot be approximated safely (probes would use the host's network); test it on a cluster");
        }

        var uid = csc?.RunAsUser ?? psc?.RunAsUser;
        var gid = csc?.RunAsGroup ?? psc?.RunAsGroup;
        var runAsNonRoot = csc?.RunAsNonRoot ?? psc?.RunAsNonRoot;
        if (runAsNonRoot == true && (uid ?? imageUid) == 0)
        {
            throw new UnsupportedPodSpecException($"{field}: runAsNonRoot is true but the container would run as uid 0; the kubelet refuses to start it (CreateContainerConfigError)");
        }
        string? user = identity is not null ? $"{identity.Uid}:{identity.Gid}"
            : uid is null ? (gid is null ? null : $"{imageUid}:{gid}") : gid is null ? $"{uid}" : $"{uid}:{gid}";

        var groups = (psc?.SupplementalGroups ?? []).Where(g => g is not null).Select(g => Convert.ToString(g, CultureInfo.InvariantCulture)!).ToList();
        if (identity is not null)
        {
            groups.AddRange(identity.Groups.Where(g => g != identity.Gid).Select(g => g.ToString(CultureInfo.InvariantCulture)));
            notes.Add($"runs with the operator's ids: {identity}");
        }
        if (psc?.FsGroup is { } fsGroup)
        {
            groups.Add(fsGroup.ToString(CultureInfo.InvariantCulture));
            notes.Add("fsGroup added as a supplementary group; volume ownership is not changed");
        }

        var privileged = csc?.Privileged == true;
        var securityOpt = new List<string>();
        // Kubernetes: allowPrivilegeEscalation defaults to true; it is always true for privileged or CAP_SYS_ADMIN.
        if (csc?.AllowPrivilegeEscalation == false)
        {
            securityOpt.Add("no-new-privileges:true");
        }
        var seccomp = csc?.SeccompProfile ?? psc?.SeccompProfile;
        switch (seccomp?.Type)
        {
            case null:
                securityOpt.Add("seccomp=unconfined");
                notes.Add("no seccompProfile: Unconfined, as a kubelet without SeccompDefault runs it");
                break;
            case "Unconfined":
                securityOpt.Add("seccomp=unconfined");
                break;
            case "RuntimeDefault":
                notes.Add("seccomp RuntimeDefault: Docker's default profile stands in for the container runtime's");
                break;
            default:
                throw new UnsupportedPodSpecException($"{field}.securityContext.seccompProfile.type '{seccomp.Type}' (a node-local profile) cannot be approximated locally");
        }

        static ImmutableArray<string> Caps(IList<string>? names) =>
            [.. (names ?? []).Select(n => n.Trim().ToUpperInvariant()).Select(n => n == "ALL" ? n : n.StartsWith("CAP_", StringComparison.Ordinal) ? n[4..] : n)];

        var tmpfs = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var volumes = (pod.Volumes ?? []).ToDictionary(v => v.Name, StringComparer.Ordinal);
        var standIns = new List<string>(); // volumes whose kubelet-made content is replaced by an empty tmpfs
        foreach (var mount in container.VolumeMounts ?? Array.Empty<V1VolumeMount>())
        {
            if (!volumes.TryGetValue(mount.Name, out var volume))
            {
                throw new UnsupportedPodSpecException($"{field}.volumeMounts[{mount.Name}]: no volume of that name in spec.volumes");
            }
            var ro = mount.ReadOnlyProperty == true;
            if (volume.HostPath is not null)
            {
                throw new UnsupportedPodSpecException($"spec.volumes[{volume.Name}].hostPath is not mapped by the docker vehicle (it would expose this machine's files); test it on a cluster");
            }
            if (volume.EmptyDir is { } emptyDir)
            {
                var size = emptyDir.SizeLimit is { } limit ? $",size={(long)limit.ToDecimal()}" : "";
                tmpfs[mount.MountPath] = (ro ? "ro" : "rw") + ",nosuid,nodev,mode=1777" + size;
            }
            else
            {
                // configMap, secret, projected, downwardAPI, PVC...: an empty tmpfs with the same writability.
                tmpfs[mount.MountPath] = ro || volume.PersistentVolumeClaim is null ? "ro,nosuid,nodev,mode=0755" : "rw,nosuid,nodev,mode=1777";
                standIns.Add(mount.MountPath);
                notes.Add($"volume {volume.Name} ({Describe(volume)}) mounted as an empty {(tmpfs[mount.MountPath].StartsWith("ro", StringComparison.Ordinal) ? "read-only" : "writable")} tmpfs at {mount.MountPath}");
            }
        }
        const string saPath = "/var/run/secrets/kubernetes.io/serviceaccount";
        if (pod.AutomountServiceAccountToken != false && !tmpfs.ContainsKey(saPath))
        {
            tmpfs[saPath] = "ro,nosuid,nodev,mode=0755";
            standIns.Add(saPath);
            notes.Add($"ServiceAccount token mount stands in as an empty read-only tmpfs at {saPath} (no API server locally)");
        }

        long memory = 0, nanoCpus = 0;
        if (container.Resources?.Limits is { } limits)
        {
            if (limits.TryGetValue("memory", out var mem))
            {
                memory = (long)mem.ToDecimal();
            }
            if (limits.TryGetValue("cpu", out var cpu))
            {
                nanoCpus = (long)(cpu.ToDecimal() * 1_000_000_000m);
            }
        }
        if (pod.HostPID == true)
        {
            notes.Add("hostPID: shares this machine's PID namespace");
        }

        return new ContainerRunSpec
        {
            Image = image,
            User = user,
            GroupAdd = [.. groups.Distinct(StringComparer.Ordinal)],
            ReadOnlyRootfs = csc?.ReadOnlyRootFilesystem == true,
            CapDrop = Caps(csc?.Capabilities?.Drop),
            CapAdd = Caps(csc?.Capabilities?.Add),
            SecurityOpt = [.. securityOpt],
            Privileged = privileged,
            Tmpfs = tmpfs.ToImmutable(),
            MemoryBytes = memory,
            NanoCpus = nanoCpus,
            HostPid = pod.HostPID == true,
            Notes = [.. notes],
            Identity = identity ?? ContainerIdentity.FromSpec(pod, container.Name),
            // A token probe would find an empty stand-in and read it as "no token mounted": a false pass.
            Unobservable = standIns.Count == 0
                ? Observability.WithAnotherImage(pod, container.Name, identity, whyUnknown)
                : Observability.WithAnotherImage(pod, container.Name, identity, whyUnknown).SetItem("sa.",
                    $"no kubelet here: {string.Join(", ", standIns)} {(standIns.Count == 1 ? "is an empty stand-in" : "are empty stand-ins")}, so a missing token would prove nothing"),
        };
    }

    private static string Describe(V1Volume v) =>
        v.ConfigMap is not null ? "configMap" : v.Secret is not null ? "secret" : v.Projected is not null ? "projected"
        : v.DownwardAPI is not null ? "downwardAPI" : v.PersistentVolumeClaim is not null ? "persistentVolumeClaim" : "volume";
}
