using System.Collections.Immutable;
using System.Globalization;
using k8s.Models;

namespace Harness.PodSecurity;

/// <summary>One revision of a check: applies from <see cref="Minimum"/> until the next revision.</summary>
internal sealed record CheckRevision(PolicyVersion Minimum, Func<PodView, PodSecurityViolation?> Evaluate);

/// <summary>A Pod Security check: an identifier, the level that introduces it, its revisions and the baseline checks it replaces.</summary>
internal sealed record PodSecurityCheck(string Id, PodSecurityLevel Level, ImmutableArray<CheckRevision> Revisions, ImmutableArray<string> Overrides);

/// <summary>
/// The Pod Security Standards as checks with version history, written from the published standard and the PodSecurity
/// admission's documented version semantics. Detail sentences follow the API server's wording.
/// </summary>
internal static class PodSecurityChecks
{
    private const string RuntimeDefault = "RuntimeDefault";
    private const string Localhost = "Localhost";
    private const string SeccompPodAnnotation = "seccomp.security.alpha.kubernetes.io/pod";
    private const string SeccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/";
    private const string AppArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/";

    private static readonly ImmutableHashSet<string> BaselineCapabilities = ImmutableHashSet.Create(
        StringComparer.Ordinal,
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT");

    private static readonly ImmutableHashSet<string> SeLinuxTypes10 = ImmutableHashSet.Create(StringComparer.Ordinal, "", "container_t", "container_init_t", "container_kvm_t");
    private static readonly ImmutableHashSet<string> SeLinuxTypes131 = SeLinuxTypes10.Add("container_engine_t");

    private static readonly ImmutableHashSet<string> Sysctls10 = ImmutableHashSet.Create(
        StringComparer.Ordinal,
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start");
    private static readonly ImmutableHashSet<string> Sysctls127 = Sysctls10.Add("net.ipv4.ip_local_reserved_ports");
    private static readonly ImmutableHashSet<string> Sysctls129 = Sysctls127.Union(["net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"]);
    private static readonly ImmutableHashSet<string> Sysctls132 = Sysctls129.Union(["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]);
    private static readonly ImmutableHashSet<string> Sysctls137 = Sysctls132.Union(["net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"]);

    /// <summary>Every check, baseline first, in a stable order.</summary>
    public static ImmutableArray<PodSecurityCheck> All { get; } =
    [
        Baseline("hostNamespaces", (1, 0, HostNamespaces)),
        Baseline("privileged", (1, 0, Privileged)),
        Baseline("capabilities_baseline", (1, 0, CapabilitiesBaseline)),
        Baseline("hostPathVolumes", (1, 0, HostPathVolumes)),
        Baseline("hostPorts", (1, 0, HostPorts)),
        Baseline("appArmorProfile", (1, 0, AppArmor)),
        Baseline("seLinuxOptions", (1, 0, p => SeLinux(p, SeLinuxTypes10)), (1, 31, p => SeLinux(p, SeLinuxTypes131))),
        Baseline("procMount", (1, 0, ProcMount), (1, 35, p => p.InUserNamespace ? null : ProcMount(p))),
        Baseline("seccompProfile_baseline", (1, 0, SeccompAnnotations), (1, 19, SeccompBaselineFields)),
        Baseline("sysctls", (1, 0, p => Sysctls(p, Sysctls10)), (1, 27, p => Sysctls(p, Sysctls127)), (1, 29, p => Sysctls(p, Sysctls129)), (1, 32, p => Sysctls(p, Sysctls132)), (1, 37, p => Sysctls(p, Sysctls137))),
        Baseline("windowsHostProcess", (1, 0, WindowsHostProcess)),
        Baseline("hostProbesAndHostLifecycle", (1, 34, ProbeAndLifecycleHosts)),
        Restricted("restrictedVolumes", ["hostPathVolumes"], (1, 0, RestrictedVolumes)),
        Restricted("allowPrivilegeEscalation", [], (1, 8, AllowPrivilegeEscalation), (1, 25, p => p.IsWindows ? null : AllowPrivilegeEscalation(p))),
        Restricted("runAsNonRoot", [], (1, 0, RunAsNonRoot), (1, 35, p => p.InUserNamespace ? null : RunAsNonRoot(p))),
        Restricted("runAsUser", [], (1, 23, RunAsUser), (1, 35, p => p.InUserNamespace ? null : RunAsUser(p))),
        Restricted("seccompProfile_restricted", ["seccompProfile_baseline"], (1, 19, SeccompRestricted), (1, 25, p => p.IsWindows ? null : SeccompRestricted(p))),
        Restricted("capabilities_restricted", ["capabilities_baseline"], (1, 22, CapabilitiesRestricted), (1, 25, p => p.IsWindows ? null : CapabilitiesRestricted(p))),
        Restricted("procMount_restricted", ["procMount"], (1, 35, ProcMount)),
    ];

    /// <summary>The newest revision of any check: what <c>latest</c> means here.</summary>
    public static PolicyVersion Newest { get; } = All.SelectMany(c => c.Revisions).Select(r => r.Minimum).Max();

    private static PodSecurityCheck Baseline(string id, params (int Major, int Minor, Func<PodView, PodSecurityViolation?> Fn)[] revisions) =>
        Make(id, PodSecurityLevel.Baseline, [], revisions);

    private static PodSecurityCheck Restricted(string id, ImmutableArray<string> overrides, params (int Major, int Minor, Func<PodView, PodSecurityViolation?> Fn)[] revisions) =>
        Make(id, PodSecurityLevel.Restricted, overrides, revisions);

    private static PodSecurityCheck Make(string id, PodSecurityLevel level, ImmutableArray<string> overrides, (int Major, int Minor, Func<PodView, PodSecurityViolation?> Fn)[] revisions)
    {
        var list = revisions.Select(r => new CheckRevision(PolicyVersion.Of(r.Major, r.Minor), WithId(id, r.Fn))).ToImmutableArray();
        return new PodSecurityCheck(id, level, list, overrides);
    }

    // Each check function returns a violation with an empty id; the registry stamps the id on it.
    private static Func<PodView, PodSecurityViolation?> WithId(string id, Func<PodView, PodSecurityViolation?> fn) =>
        p => fn(p) is { } v ? v with { CheckId = id } : null;

    private static PodSecurityViolation Violation(string reason, string detail) => new("", reason, detail);

    // ---- baseline ----

    private static PodSecurityViolation? HostNamespaces(PodView p)
    {
        var set = new List<string>();
        if (p.Spec.HostNetwork == true)
        {
            set.Add("hostNetwork=true");
        }
        if (p.Spec.HostPID == true)
        {
            set.Add("hostPID=true");
        }
        if (p.Spec.HostIPC == true)
        {
            set.Add("hostIPC=true");
        }
        return set.Count == 0 ? null : Violation("host namespaces", string.Join(", ", set));
    }

    private static PodSecurityViolation? Privileged(PodView p)
    {
        var bad = Names(p.Containers.Where(c => c.SecurityContext?.Privileged == true));
        return bad.Count == 0 ? null : Violation("privileged", $"{Containers(bad)} must not set securityContext.privileged=true");
    }

    private static PodSecurityViolation? CapabilitiesBaseline(PodView p)
    {
        var bad = new List<string>();
        var caps = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in p.Containers)
        {
            var added = (c.SecurityContext?.Capabilities?.Add ?? []).Where(a => !BaselineCapabilities.Contains(a)).ToList();
            if (added.Count > 0)
            {
                bad.Add(c.Name);
                caps.UnionWith(added);
            }
        }
        return bad.Count == 0
            ? null
            : Violation("non-default capabilities", $"{Containers(bad)} must not include {Quote(caps)} in securityContext.capabilities.add");
    }

    private static PodSecurityViolation? HostPathVolumes(PodView p)
    {
        var bad = (p.Spec.Volumes ?? []).Where(v => v.HostPath is not null).Select(v => v.Name ?? "").ToList();
        return bad.Count == 0 ? null : Violation("hostPath volumes", $"{Plural(bad.Count, "volume", "volumes")} {Quote(bad)}");
    }

    private static PodSecurityViolation? HostPorts(PodView p)
    {
        var bad = new List<string>();
        // As the API server lists them: a set of strings, so sorted as text ("443, 80").
        var ports = new SortedSet<string>(StringComparer.Ordinal);
        var hostNetwork = p.Spec.HostNetwork == true;
        foreach (var c in p.Containers)
        {
            // Before admission the API server defaults each hostPort of a hostNetwork pod to its containerPort.
            var used = (c.Ports ?? []).Select(port => port.HostPort is { } h && h != 0 ? h : hostNetwork ? port.ContainerPort : 0).Where(h => h != 0).ToList();
            if (used.Count > 0)
            {
                bad.Add(c.Name);
                ports.UnionWith(used.Select(x => x.ToString(CultureInfo.InvariantCulture)));
            }
        }
        return bad.Count == 0
            ? null
            : Violation("hostPort", $"{Containers(bad)} {Plural(bad.Count, "uses", "use")} {Plural(ports.Count, "hostPort", "hostPorts")} {string.Join(", ", ports)}");
    }

    private static PodSecurityViolation? AppArmor(PodView p)
    {
        static bool Allowed(string type) => type is RuntimeDefault or Localhost;
        var (setters, _, values) = PodOrContainers(
            p, p.PodSecurityContext?.AppArmorProfile is { } pod ? pod.Type ?? "" : null, c => c.SecurityContext?.AppArmorProfile is { } ap ? ap.Type ?? "" : null, Allowed);
        var annotations = p.Annotations
            .Where(a => a.Key.StartsWith(AppArmorAnnotationPrefix, StringComparison.Ordinal))
            .Where(a => !(a.Value.Length == 0 || a.Value == "runtime/default" || a.Value.StartsWith("localhost/", StringComparison.Ordinal)))
            .Select(a => $"{a.Key}=\"{a.Value}\"")
            .Order(StringComparer.Ordinal)
            .ToList();
        if (setters.Count == 0 && annotations.Count == 0)
        {
            return null;
        }
        var parts = new List<string>();
        if (setters.Count > 0)
        {
            parts.Add($"{string.Join(" and ", setters)} must not set securityContext.appArmorProfile.type to {Quote(values)}");
        }
        if (annotations.Count > 0)
        {
            parts.Add($"forbidden {Plural(annotations.Count, "annotation", "annotations")} {string.Join(", ", annotations)}");
        }
        return Violation(Plural(values.Count + annotations.Count, "forbidden AppArmor profile", "forbidden AppArmor profiles"), string.Join("; ", parts));
    }

    private static PodSecurityViolation? SeLinux(PodView p, ImmutableHashSet<string> allowedTypes)
    {
        var badTypes = new SortedSet<string>(StringComparer.Ordinal);
        var setUser = false;
        var setRole = false;
        bool Valid(V1SELinuxOptions o)
        {
            var valid = true;
            if (!allowedTypes.Contains(o.Type ?? ""))
            {
                badTypes.Add(o.Type ?? "");
                valid = false;
            }
            if (!string.IsNullOrEmpty(o.User))
            {
                setUser = true;
                valid = false;
            }
            if (!string.IsNullOrEmpty(o.Role))
            {
                setRole = true;
                valid = false;
            }
            return valid;
        }
        var setters = new List<string>();
        if (p.PodSecurityContext?.SeLinuxOptions is { } podOptions && !Valid(podOptions))
        {
            setters.Add("pod");
        }
        var bad = Names(p.Containers.Where(c => c.SecurityContext?.SeLinuxOptions is { } o && !Valid(o)));
        if (bad.Count > 0)
        {
            setters.Add(Containers(bad));
        }
        if (setters.Count == 0)
        {
            return null;
        }
        var data = new List<string>();
        if (badTypes.Count > 0)
        {
            data.Add($"{Plural(badTypes.Count, "type", "types")} {Quote(badTypes)}");
        }
        if (setUser)
        {
            data.Add("user may not be set");
        }
        if (setRole)
        {
            data.Add("role may not be set");
        }
        return Violation("seLinuxOptions", $"{string.Join(" and ", setters)} set forbidden securityContext.seLinuxOptions: {string.Join("; ", data)}");
    }

    private static PodSecurityViolation? ProcMount(PodView p)
    {
        var bad = new List<string>();
        var types = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in p.Containers)
        {
            if (c.SecurityContext?.ProcMount is { } mount && mount != "Default")
            {
                bad.Add(c.Name);
                types.Add(mount);
            }
        }
        return bad.Count == 0 ? null : Violation("procMount", $"{Containers(bad)} must not set securityContext.procMount to {Quote(types)}");
    }

    private static PodSecurityViolation? SeccompAnnotations(PodView p)
    {
        static bool Valid(string v) => v == "runtime/default" || v == "docker/default" || v.StartsWith("localhost/", StringComparison.Ordinal);
        var forbidden = new SortedSet<string>(StringComparer.Ordinal);
        if (p.Annotations.TryGetValue(SeccompPodAnnotation, out var podValue) && !Valid(podValue))
        {
            forbidden.Add($"{SeccompPodAnnotation}=\"{podValue}\"");
        }
        foreach (var c in p.Containers)
        {
            var key = SeccompContainerAnnotationPrefix + c.Name;
            if (p.Annotations.TryGetValue(key, out var value) && !Valid(value))
            {
                forbidden.Add($"{key}=\"{value}\"");
            }
        }
        return forbidden.Count == 0
            ? null
            : Violation("seccompProfile", $"forbidden {Plural(forbidden.Count, "annotation", "annotations")} {string.Join(", ", forbidden)}");
    }

    private static bool ValidSeccomp(string? type) => type is RuntimeDefault or Localhost;

    private static PodSecurityViolation? SeccompBaselineFields(PodView p)
    {
        // Baseline only forbids bad values; leaving the profile unset is fine.
        var (setters, _, values) = PodOrContainers(
            p, p.PodSecurityContext?.SeccompProfile is { } pod ? pod.Type ?? "" : null, c => c.SecurityContext?.SeccompProfile is { } sp ? sp.Type ?? "" : null, ValidSeccomp);
        return setters.Count == 0
            ? null
            : Violation("seccompProfile", $"{string.Join(" and ", setters)} must not set securityContext.seccompProfile.type to {Quote(values)}");
    }

    private static PodSecurityViolation? Sysctls(PodView p, ImmutableHashSet<string> allowed)
    {
        var bad = (p.PodSecurityContext?.Sysctls ?? []).Select(s => s.Name ?? "").Where(n => !allowed.Contains(n)).ToList();
        return bad.Count == 0 ? null : Violation("forbidden sysctls", string.Join(", ", bad));
    }

    private static PodSecurityViolation? WindowsHostProcess(PodView p)
    {
        var setters = new List<string>();
        if (p.PodSecurityContext?.WindowsOptions?.HostProcess == true)
        {
            setters.Add("pod");
        }
        var bad = Names(p.Containers.Where(c => c.SecurityContext?.WindowsOptions?.HostProcess == true));
        if (bad.Count > 0)
        {
            setters.Add(Containers(bad));
        }
        return setters.Count == 0
            ? null
            : Violation("hostProcess", $"{string.Join(" and ", setters)} must not set securityContext.windowsOptions.hostProcess=true");
    }

    private static PodSecurityViolation? ProbeAndLifecycleHosts(PodView p)
    {
        var bad = new SortedSet<string>(StringComparer.Ordinal);
        var hosts = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in p.Containers)
        {
            var found = new List<string?>
            {
                c.LivenessProbe?.HttpGet?.Host, c.LivenessProbe?.TcpSocket?.Host,
                c.ReadinessProbe?.HttpGet?.Host, c.ReadinessProbe?.TcpSocket?.Host,
                c.StartupProbe?.HttpGet?.Host, c.StartupProbe?.TcpSocket?.Host,
                c.Lifecycle?.PostStart?.HttpGet?.Host, c.Lifecycle?.PostStart?.TcpSocket?.Host,
                c.Lifecycle?.PreStop?.HttpGet?.Host, c.Lifecycle?.PreStop?.TcpSocket?.Host,
            }.Where(h => !string.IsNullOrEmpty(h)).Select(h => h!).ToList();
            if (found.Count > 0)
            {
                bad.Add(c.Name);
                hosts.UnionWith(found);
            }
        }
        return bad.Count == 0
            ? null
            : Violation(
                "probe or lifecycle host",
                $"{Plural(bad.Count, "container", "containers")} {Quote(bad)} {Plural(bad.Count, "uses", "use")} {Plural(hosts.Count, "probe or lifecycle host", "probe or lifecycle hosts")} {Quote(hosts)}");
    }

    // ---- restricted ----

    private static PodSecurityViolation? RestrictedVolumes(PodView p)
    {
        var bad = new List<string>();
        var types = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var v in p.Spec.Volumes ?? [])
        {
            if (v.ConfigMap is not null || v.Csi is not null || v.DownwardAPI is not null || v.EmptyDir is not null
                || v.Ephemeral is not null || v.Image is not null || v.PersistentVolumeClaim is not null || v.Projected is not null || v.Secret is not null)
            {
                continue;
            }
            var type = VolumeType(v);
            if (type is null)
            {
                continue; // no source at all: the API server defaults it to emptyDir before admission sees it
            }
            bad.Add(v.Name ?? "");
            types.Add(type);
        }
        return bad.Count == 0
            ? null
            : Violation(
                "restricted volume types",
                $"{Plural(bad.Count, "volume", "volumes")} {Quote(bad)} {Plural(bad.Count, "uses", "use")} {Plural(types.Count, "restricted volume type", "restricted volume types")} {Quote(types)}");
    }

    /// <summary>The source a volume uses, spelled as in the API (<c>hostPath</c>, <c>nfs</c>), or null when it names none.</summary>
    private static string? VolumeType(V1Volume volume)
    {
        foreach (var property in typeof(V1Volume).GetProperties())
        {
            if (property.Name != nameof(V1Volume.Name) && property.GetValue(volume) is not null)
            {
                return char.ToLowerInvariant(property.Name[0]) + property.Name[1..];
            }
        }
        return null;
    }

    private static PodSecurityViolation? AllowPrivilegeEscalation(PodView p)
    {
        var bad = Names(p.Containers.Where(c => c.SecurityContext?.AllowPrivilegeEscalation != false));
        return bad.Count == 0
            ? null
            : Violation("allowPrivilegeEscalation != false", $"{Containers(bad)} must set securityContext.allowPrivilegeEscalation=false");
    }

    private static PodSecurityViolation? RunAsNonRoot(PodView p)
    {
        static string? Text(bool? value) => value?.ToString().ToLowerInvariant();
        var (setters, unset, _) = PodOrContainers(p, Text(p.PodSecurityContext?.RunAsNonRoot), c => Text(c.SecurityContext?.RunAsNonRoot), v => v == "true");
        if (setters.Count > 0)
        {
            return Violation("runAsNonRoot != true", $"{string.Join(" and ", setters)} must not set securityContext.runAsNonRoot=false");
        }
        return unset.Count == 0
            ? null
            : Violation("runAsNonRoot != true", $"pod or {Containers(unset)} must set securityContext.runAsNonRoot=true");
    }

    private static PodSecurityViolation? RunAsUser(PodView p)
    {
        var setters = new List<string>();
        if (p.PodSecurityContext?.RunAsUser == 0)
        {
            setters.Add("pod");
        }
        var bad = Names(p.Containers.Where(c => c.SecurityContext?.RunAsUser == 0));
        if (bad.Count > 0)
        {
            setters.Add(Containers(bad));
        }
        return setters.Count == 0 ? null : Violation("runAsUser=0", $"{string.Join(" and ", setters)} must not set runAsUser=0");
    }

    private static PodSecurityViolation? SeccompRestricted(PodView p)
    {
        // A profile without a type is treated as a bad value, like an explicit Unconfined.
        var (setters, unset, values) = PodOrContainers(
            p, p.PodSecurityContext?.SeccompProfile is { } pod ? pod.Type ?? "" : null, c => c.SecurityContext?.SeccompProfile is { } sp ? sp.Type ?? "" : null, ValidSeccomp);
        if (setters.Count > 0)
        {
            return Violation("seccompProfile", $"{string.Join(" and ", setters)} must not set securityContext.seccompProfile.type to {Quote(values)}");
        }
        return unset.Count == 0
            ? null
            : Violation("seccompProfile", $"pod or {Containers(unset)} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"");
    }

    /// <summary>
    /// A setting a container inherits from the pod: who set a bad value explicitly (<c>pod</c>, <c>containers "a"</c>),
    /// which containers leave it unset without a good pod-level value, and the bad values.
    /// </summary>
    private static (List<string> Setters, List<string> Unset, SortedSet<string> BadValues) PodOrContainers(
        PodView p, string? podValue, Func<ContainerView, string?> containerValue, Func<string, bool> valid)
    {
        var setters = new List<string>();
        var values = new SortedSet<string>(StringComparer.Ordinal);
        var podValid = podValue is not null && valid(podValue);
        if (podValue is not null && !podValid)
        {
            setters.Add("pod");
            values.Add(podValue);
        }
        var explicitBad = new List<string>();
        var unset = new List<string>();
        foreach (var c in p.Containers)
        {
            switch (containerValue(c))
            {
                case { } value when !valid(value):
                    explicitBad.Add(c.Name);
                    values.Add(value);
                    break;
                case null when !podValid:
                    unset.Add(c.Name);
                    break;
            }
        }
        if (explicitBad.Count > 0)
        {
            setters.Add(Containers(explicitBad));
        }
        return (setters, unset, values);
    }

    private static PodSecurityViolation? CapabilitiesRestricted(PodView p)
    {
        var missingDrop = new List<string>();
        var badAdd = new List<string>();
        var added = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in p.Containers)
        {
            var caps = c.SecurityContext?.Capabilities;
            if (!(caps?.Drop ?? []).Contains("ALL", StringComparer.Ordinal))
            {
                missingDrop.Add(c.Name);
            }
            var extra = (caps?.Add ?? []).Where(a => a != "NET_BIND_SERVICE").ToList();
            if (extra.Count > 0)
            {
                badAdd.Add(c.Name);
                added.UnionWith(extra);
            }
        }
        var parts = new List<string>();
        if (missingDrop.Count > 0)
        {
            parts.Add($"{Containers(missingDrop)} must set securityContext.capabilities.drop=[\"ALL\"]");
        }
        if (badAdd.Count > 0)
        {
            parts.Add($"{Containers(badAdd)} must not include {Quote(added)} in securityContext.capabilities.add");
        }
        return parts.Count == 0 ? null : Violation("unrestricted capabilities", string.Join("; ", parts));
    }

    // ---- wording ----

    private static List<string> Names(IEnumerable<ContainerView> containers) => containers.Select(c => c.Name).Distinct(StringComparer.Ordinal).ToList();

    private static string Containers(IReadOnlyCollection<string> names) => $"{Plural(names.Count, "container", "containers")} {Quote(names)}";

    private static string Plural(int count, string singular, string plural) => count == 1 ? singular : plural;

    private static string Quote(IEnumerable<string> items) => string.Join(", ", items.Select(i => $"\"{i}\""));
}
