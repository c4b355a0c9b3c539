using Harness.Images;
using System.Collections.Immutable;
using Harness.Protocol;

namespace Harness.Probes;

/// <summary>An egress destination the operator must not reach, and how to prove it is reachable without the policy.</summary>
/// <param name="Name">Short name used in probe ids (<c>sink</c>, <c>example</c>).</param>
/// <param name="Address">An IP literal: the TCP probe uses it, so DNS plays no part in that verdict.</param>
/// <param name="HostName">A name that resolves to the destination: the HTTP probe uses it, so DNS denial shows separately.</param>
/// <param name="Port">TCP port.</param>
/// <param name="SinkToken">The token the harness's own sink puts in every answer; null for user-supplied targets.</param>
/// <param name="Scheme">http or https.</param>
/// <param name="CaPem">For https: the only CA the probe trusts (the sink's own), so an answer proves it reached the sink.</param>
/// <param name="PinAddress">Connect the HTTP probe to <see cref="Address"/> without resolving <see cref="HostName"/> (for a sink whose name only Docker's resolver knows, probed from a pod).</param>
public sealed record EgressTarget(string Name, string Address, string HostName, int Port, string? SinkToken, string Scheme = "http", string? CaPem = null, bool PinAddress = false)
{
    /// <summary>URL the HTTP probe fetches.</summary>
    public string Url => $"{Scheme}://{HostName}:{Port}/";
}

/// <summary>Options for <see cref="StandardProbes.Create"/>. Defaults suit a hardened operator pod.</summary>
public sealed record StandardProbeOptions
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>
    /// Where the filesystem probes' control writes: a location the harness knows is writable in every container
    /// (<c>/dev/shm</c>, or the twin pod's own scratch emptyDir), so the control proves the agent can write at all without
    /// depending on the operator having a writable directory.
    /// </summary>
    public string ControlDirectory { get; init; } = "/dev/shm";

    /// <summary>A directory the operator declares writable (its emptyDir): probed as required access; null when it declares none.</summary>
    public string? WritableDirectory { get; init; }

    /// <summary>Directories that must refuse writes with EROFS. The image canary is world-writable, so only a read-only root stops it.</summary>
    public ImmutableArray<string> ReadOnlyPaths { get; init; } = ["/", "/etc", "/usr", ProbeImageLayout.RootfsCanary];

    /// <summary>Probe the mounted ServiceAccount token directory (kubelet mounts it read-only).</summary>
    public bool ProbeServiceAccountDirectory { get; init; } = true;

    /// <summary>Destinations egress to which must be denied.</summary>
    public ImmutableArray<EgressTarget> EgressTargets { get; init; } = [];

    /// <summary>Mechanisms accepted as proof of egress denial. ECONNREFUSED is left out by default: a closed port looks the same.</summary>
    public ImmutableArray<Mechanism> EgressMechanisms { get; init; } =
        [Mechanism.ConnectTimeout, Mechanism.NetworkUnreachable, Mechanism.HostUnreachable, Mechanism.OperationNotPermitted];

    /// <summary>Capabilities the bounding set may keep (restricted PSA allows adding NET_BIND_SERVICE only).</summary>
    public ImmutableArray<string> AllowedCapabilities { get; init; } = ["CAP_NET_BIND_SERVICE"];

    /// <summary>Include the probes that use the pod's ServiceAccount token against the API server (cluster vehicles only).</summary>
    public bool IncludeKubernetesApi { get; init; }

    /// <summary>A name cluster DNS must resolve for the pod (the expected-allowed DNS probe on clusters).</summary>
    public string ClusterDnsName { get; init; } = "kubernetes.default.svc.cluster.local";

    /// <summary>Namespace used for the "create a pod in another namespace" probe.</summary>
    public string OtherNamespace { get; init; } = "kube-system";

    /// <summary>Timeout of filesystem and process steps.</summary>
    public int LocalTimeoutMs { get; init; } = 5000;

    /// <summary>Timeout of network steps; a dropped connection takes exactly this long to be classified.</summary>
    public int NetworkTimeoutMs { get; init; } = 3000;
}

/// <summary>The standard probe catalog: the mission's checks, each probe with its mechanisms and control.</summary>
public static class StandardProbes
{
    private const string Helper = ProbeImageLayout.KernelHelper;
    private const string SuidHelper = ProbeImageLayout.SetuidHelper;

    /// <summary>Builds the catalog for <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">An option is unusable (relative paths, duplicate egress names).</exception>
    public static ProbePlan Create(StandardProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.WritableDirectory is { } wd && !wd.StartsWith('/'))
        {
            throw new ArgumentException($"WritableDirectory must be absolute, got '{wd}'.", nameof(options));
        }
        if (!options.ControlDirectory.StartsWith('/'))
        {
            throw new ArgumentException($"ControlDirectory must be absolute, got '{options.ControlDirectory}'.", nameof(options));
        }
        var probes = new List<ProbeDefinition>();
        probes.AddRange(Filesystem(options));
        probes.AddRange(Process(options));
        probes.AddRange(Kernel(options));
        foreach (var target in options.EgressTargets)
        {
            probes.AddRange(Egress(target, options));
        }
        if (options.IncludeKubernetesApi)
        {
            probes.AddRange(KubernetesApi(options));
            probes.Add(ServiceAccountToken(options.LocalTimeoutMs));
        }
        return new ProbePlan(probes);
    }

    private static IEnumerable<ProbeDefinition> Filesystem(StandardProbeOptions o)
    {
        var control = new ControlSpec(
            new AgentStep { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Target = o.ControlDirectory, TimeoutMs = o.LocalTimeoutMs },
            Vantage.Target,
            $"the agent can create files where every container may write ({o.ControlDirectory})");
        var ro = Expectation.Denied(Mechanism.ReadOnlyFilesystem);
        foreach (var path in o.ReadOnlyPaths)
        {
            var id = "fs." + Slug(path);
            yield return new(id, $"write to {path}", HardeningCheck.RootFilesystemReadOnly,
                new AgentStep { Id = id, Kind = StepKinds.FileWrite, Target = path, TimeoutMs = o.LocalTimeoutMs },
                Interpretation.Errno, ro, control);
        }
        if (o.ProbeServiceAccountDirectory)
        {
            const string sa = "/var/run/secrets/kubernetes.io/serviceaccount";
            yield return new("fs.serviceaccount", $"write to {sa}", HardeningCheck.RootFilesystemReadOnly,
                new AgentStep { Id = "fs.serviceaccount", Kind = StepKinds.FileWrite, Target = sa, TimeoutMs = o.LocalTimeoutMs },
                Interpretation.Errno, ro, control);
        }
        // The operator's declared scratch directory must stay writable (it needs it); an operator that declares none writes nowhere.
        if (o.WritableDirectory is { } writable)
        {
            yield return new("fs.writable", $"write to {writable}", HardeningCheck.RequiredAccess,
                new AgentStep { Id = "fs.writable", Kind = StepKinds.FileWrite, Target = writable, TimeoutMs = o.LocalTimeoutMs },
                Interpretation.Errno, Expectation.Allowed(), null) { Items = [HardeningItem.RootFilesystemReadOnly] };
        }
    }

    /// <summary>The pod's own token (where the kubelet mounts it), judged by its claims; a kubelet-only file read the same way is the control.</summary>
    public static ProbeDefinition ServiceAccountToken(int timeoutMs, string tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token")
    {
        var control = new ControlSpec(
            new AgentStep { Id = "control.sa.kubelet-file", Kind = StepKinds.TokenClaims, Target = "/etc/hostname", TimeoutMs = timeoutMs, Args = new Dictionary<string, string> { ["mode"] = "exists" } },
            Vantage.Target,
            "a file the kubelet mounts into every container (/etc/hostname) is read the same way, so an absent token means none is mounted");
        return new ProbeDefinition("sa.token", $"hold a long-lived or unbound ServiceAccount token ({tokenPath})", HardeningCheck.TokenBound,
            new AgentStep { Id = "sa.token", Kind = StepKinds.TokenClaims, Target = tokenPath, TimeoutMs = timeoutMs },
            Interpretation.TokenClaims, Expectation.Denied(Mechanism.NoTokenMounted, Mechanism.BoundShortLivedToken), control);
    }

    private static IEnumerable<ProbeDefinition> Process(StandardProbeOptions o)
    {
        var step = new AgentStep { Id = "proc.status", Kind = StepKinds.ProcessStatus, TimeoutMs = o.LocalTimeoutMs };
        yield return new("proc.non-root", "runs as a non-root uid", HardeningCheck.ProcessHardening,
            step, Interpretation.NonRootUid, Expectation.Denied(Mechanism.NonRootUser), null) { Items = [HardeningItem.NonRoot] };
        yield return new("proc.capabilities", "holds no capabilities", HardeningCheck.ProcessHardening,
            step, Interpretation.NoCapabilities, Expectation.Denied(Mechanism.NoCapabilities), null)
        {
            AllowedCapabilities = o.AllowedCapabilities,
            Items = [HardeningItem.CapabilitiesDropped],
        };
        yield return new("proc.no-new-privs", "no_new_privs is set", HardeningCheck.ProcessHardening,
            step, Interpretation.NoNewPrivileges, Expectation.Denied(Mechanism.NoNewPrivileges), null);
        yield return new("proc.seccomp", "a seccomp filter is in force", HardeningCheck.ProcessHardening,
            step, Interpretation.Seccomp, Expectation.Denied(Mechanism.SeccompFilter), null) { Items = [HardeningItem.Seccomp] };
    }

    private static IEnumerable<ProbeDefinition> Kernel(StandardProbeOptions o)
    {
        AgentStep K(string id, string argv, string helper = Helper, Dictionary<string, string>? extra = null)
        {
            var args = new Dictionary<string, string>(extra ?? []) { ["helper"] = helper, ["argv"] = argv };
            return new AgentStep { Id = id, Kind = StepKinds.Kernel, TimeoutMs = o.LocalTimeoutMs, Args = args };
        }
        var exec = new ControlSpec(K("control.kernel.exec", "id"), Vantage.Target, "the kernel helper executes in this container");
        var eperm = Expectation.Denied(Mechanism.OperationNotPermitted);
        const HardeningCheck esc = HardeningCheck.PrivilegeEscalationDenied;

        yield return new("kernel.setuid", "setuid(0)", esc, K("kernel.setuid", "setuid 0"), Interpretation.Errno, eperm,
            new ControlSpec(K("control.kernel.setuid-self", "setuid self"), Vantage.Target, "setuid() to the current uid works (same call, no privilege)"));
        yield return new("kernel.setgid", "setgid(0)", esc, K("kernel.setgid", "setgid 0"), Interpretation.Errno, eperm,
            new ControlSpec(K("control.kernel.setgid-self", "setgid self"), Vantage.Target, "setgid() to the current gid works (same call, no privilege)"))
        {
            Items = [HardeningItem.NoPrivilegeEscalation, HardeningItem.NonRoot],
        };
        yield return new("kernel.setuid-helper", "exec a setuid-root program", esc,
            K("kernel.setuid-helper", "id", SuidHelper, new() { ["expectSetuid"] = "true" }),
            Interpretation.SetuidExec, Expectation.Denied(Mechanism.SetuidIgnored), exec);
        yield return new("kernel.unshare-user", "unshare a user namespace", esc, K("kernel.unshare-user", "unshare user"), Interpretation.Errno, eperm, exec);
        yield return new("kernel.unshare-mount", "unshare a mount namespace", esc, K("kernel.unshare-mount", "unshare mount"), Interpretation.Errno, eperm, exec);
        yield return new("kernel.mount", "mount a tmpfs", esc, K("kernel.mount", $"mount-tmpfs {ProbeImageLayout.MountPoint}"), Interpretation.Errno, eperm, exec);
        yield return new("kernel.chroot", "chroot", esc, K("kernel.chroot", "chroot /"), Interpretation.Errno, eperm, exec);
        yield return new("kernel.raw-socket", "open a raw socket", esc, K("kernel.raw-socket", "socket raw"), Interpretation.Errno, eperm,
            new ControlSpec(K("control.kernel.dgram-socket", "socket dgram"), Vantage.Target, "an ordinary UDP socket opens (same call, no privilege)"))
        {
            Items = [HardeningItem.NoPrivilegeEscalation, HardeningItem.CapabilitiesDropped],
        };
    }

    private static IEnumerable<ProbeDefinition> Egress(EgressTarget t, StandardProbeOptions o)
    {
        var denied = Expectation.Denied([.. o.EgressMechanisms]);
        var tcp = new AgentStep { Id = $"egress.{t.Name}.tcp", Kind = StepKinds.Tcp, Target = $"{t.Address}:{t.Port}", TimeoutMs = o.NetworkTimeoutMs };
        yield return new(tcp.Id, $"TCP connect to {t.Address}:{t.Port} ({t.Name}, IP literal)", HardeningCheck.EgressDenied,
            tcp, Interpretation.Network, denied,
            new ControlSpec(tcp with { Id = $"control.{tcp.Id}" }, Vantage.Outside, $"{t.Address}:{t.Port} accepts connections from outside the policed pod"));

        var http = new AgentStep
        {
            Id = $"egress.{t.Name}.{t.Scheme}",
            Kind = StepKinds.Http,
            Target = t.Url,
            TimeoutMs = o.NetworkTimeoutMs,
            Args = HttpArgs(t),
        };
        // By name: a DNS denial is a denial too, and the evidence says which stage stopped it.
        var byName = Expectation.Denied([.. o.EgressMechanisms, Mechanism.DnsNameNotFound, Mechanism.DnsTimeout]);
        yield return new(http.Id, $"HTTP GET {t.Url} ({t.Name}, by name)", HardeningCheck.EgressDenied,
            http, Interpretation.Network, byName,
            new ControlSpec(http with { Id = $"control.{http.Id}" }, Vantage.Outside,
                t.SinkToken is null ? $"{t.Url} answers from outside the policed pod" : $"the harness's sink answers {t.Url} from outside the policed pod",
                t.SinkToken));
    }

    private static Dictionary<string, string>? HttpArgs(EgressTarget t)
    {
        var args = new Dictionary<string, string>();
        if (t.CaPem is not null)
        {
            args["caPem"] = t.CaPem;
        }
        if (t.PinAddress)
        {
            args["connectTo"] = t.Address;
        }
        return args.Count == 0 ? null : args;
    }

    private static IEnumerable<ProbeDefinition> KubernetesApi(StandardProbeOptions o)
    {
        AgentStep Api(string id, string path, string method = "GET", string? body = null)
        {
            var args = new Dictionary<string, string> { ["method"] = method };
            if (body is not null)
            {
                args["body"] = body;
            }
            return new AgentStep { Id = id, Kind = StepKinds.KubernetesRequest, Target = path, TimeoutMs = o.NetworkTimeoutMs * 2, Args = args };
        }
        var self = Api("api.self", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "POST",
            """{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}""");
        var control = new ControlSpec(self, Vantage.Target, "the pod's token authenticates to the API server (SelfSubjectReview)");
        var rbac = Expectation.Denied(Mechanism.RbacForbidden);
        yield return new("api.self", "authenticate with the pod's token", HardeningCheck.RequiredAccess, self, Interpretation.KubernetesApi, Expectation.Allowed(), null);
        // What a default-deny egress policy must still allow: cluster DNS (the API server is api.self above).
        var dns = new AgentStep { Id = "dns.cluster", Kind = StepKinds.Dns, Target = o.ClusterDnsName, TimeoutMs = o.NetworkTimeoutMs };
        // Its control is the same lookup from the harness's own pod outside the operator's namespace: on a cluster without
        // DNS both fail, and the failure is the cluster's, not the operator's policy.
        yield return new("dns.cluster", $"resolve {o.ClusterDnsName} through cluster DNS", HardeningCheck.RequiredAccess, dns, Interpretation.Network, Expectation.Allowed(),
            new ControlSpec(dns with { Id = "control.dns.cluster" }, Vantage.Outside, $"cluster DNS resolves {o.ClusterDnsName} for the harness's own pod"));
        yield return new("api.secrets.namespace", "list Secrets in its own namespace", HardeningCheck.SecretsNotReadable,
            Api("api.secrets.namespace", "/api/v1/namespaces/{namespace}/secrets?limit=1"), Interpretation.KubernetesApi, rbac, control);
        yield return new("api.secrets.cluster", "list Secrets in all namespaces", HardeningCheck.SecretsNotReadable,
            Api("api.secrets.cluster", "/api/v1/secrets?limit=1"), Interpretation.KubernetesApi, rbac, control);
        yield return new("api.pod.privileged", "create a privileged pod (server-side dry run)", HardeningCheck.PrivilegeEscalationDenied,
            Api("api.pod.privileged", "/api/v1/namespaces/{namespace}/pods?dryRun=All", "POST", PrivilegedPodJson("{namespace}")),
            Interpretation.KubernetesApi, Expectation.Denied(Mechanism.RbacForbidden, Mechanism.PodSecurityRejected), control);
        yield return new("api.pod.other-namespace", $"create a pod in {o.OtherNamespace} (server-side dry run)", HardeningCheck.PrivilegeEscalationDenied,
            Api("api.pod.other-namespace", $"/api/v1/namespaces/{o.OtherNamespace}/pods?dryRun=All", "POST", PrivilegedPodJson(o.OtherNamespace)),
            Interpretation.KubernetesApi, Expectation.Denied(Mechanism.RbacForbidden, Mechanism.PodSecurityRejected), control);
    }

    /// <summary>A pod manifest (JSON) that every PodSecurity level rejects: privileged and hostPID. Create it only with dryRun=All.</summary>
    public static string PrivilegedPodJson(string ns) =>
        $$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"harness-privileged-","namespace":"{{{ns}}}"},"spec":{"hostPID":true,"containers":[{"name":"p","image":"harness.invalid/probe:never-pulled","securityContext":{"privileged":true}}]}}""";

    internal static string Slug(string path)
    {
        var trimmed = path.Trim('/');
        return trimmed.Length == 0 ? "root" : trimmed.Replace('/', '-').Replace('.', '-');
    }
}
