using Harness.Runs;
using System.Collections.Immutable;

namespace Harness.Clusters;

/// <summary>Where the cluster comes from.</summary>
public enum ClusterProvider
{
    /// <summary>A kind cluster the harness creates (the default).</summary>
    Kind,

    /// <summary>A K3s container through Testcontainers.K3s.</summary>
    K3s,

    /// <summary>An existing cluster from a kubeconfig and context (release qualification).</summary>
    Existing,
}

/// <summary>K3s options.</summary>
public sealed record K3sClusterOptions
{
    /// <summary>The K3s image.</summary>
    public string Image { get; init; } = "rancher/k3s:v1.34.1-k3s1";
}

/// <summary>
/// One immutable description of the cluster a run needs, for every provider. Change it with <c>with</c> or the
/// <c>For*</c> factories; nothing here starts anything.
/// </summary>
public sealed record ClusterOptions
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>Which provider.</summary>
    public ClusterProvider Provider { get; init; } = ClusterProvider.Kind;

    /// <summary>kind: the cluster config (name prefix, node image, CNI, workers, PodSecurity level and version).</summary>
    public KindClusterOptions Kind { get; init; } = new();

    /// <summary>kind: where the binary comes from.</summary>
    public KindBinaryOptions KindBinary { get; init; } = new();

    /// <summary>K3s options.</summary>
    public K3sClusterOptions K3s { get; init; } = new();

    /// <summary>Existing: the kubeconfig file (default: <c>KUBECONFIG</c>, else <c>~/.kube/config</c>).</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>Existing: the context (default: the kubeconfig's current context).</summary>
    public string? Context { get; init; }

    /// <summary>Identifies this run's resources (cluster name suffix, namespace and label values).</summary>
    public SessionId SessionId { get; init; } = SessionId.New();

    /// <summary>kind: reuse a running harness cluster of the same name instead of creating one; it is then kept.</summary>
    public bool Reuse { get; init; }

    /// <summary>Keep the cluster when the run failed (its logs are exported either way).</summary>
    public bool KeepOnFailure { get; init; }

    /// <summary>Keep the cluster always (debugging).</summary>
    public bool Keep { get; init; }

    /// <summary>
    /// Delete what earlier harness runs left behind and that is older than this: kind clusters before creating one, and
    /// on any cluster the namespaces, pods and cluster-scoped objects carrying the session label; null to leave them.
    /// </summary>
    public TimeSpan? RemoveStaleAfter { get; init; } = TimeSpan.FromHours(6);

    /// <summary>Where <c>kind export logs</c> writes when something failed.</summary>
    public string LogDirectory { get; init; } = Path.Combine("artifacts", "cluster-logs");

    /// <summary>Bound on creation and readiness (nodes, CNI).</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromMinutes(8);

    /// <summary>Prove PodSecurity and NetworkPolicy enforcement before handing the cluster out.</summary>
    public bool Verify { get; init; } = true;

    /// <summary>The probe image as the cluster can pull it (kind and K3s load the local one; an existing cluster needs a registry reference).</summary>
    public string? ProbeImage { get; init; }

    /// <summary>
    /// Existing: a command that puts a local Docker image on the cluster's nodes, run as <c>COMMAND IMAGE</c> wherever kind
    /// would run <c>kind load docker-image</c> (the probe image, the operator's local images); words split on spaces, so
    /// <c>kind load docker-image --name staging</c> works. Null: the cluster pulls images itself (<see cref="ProbeImage"/>).
    /// </summary>
    public string? ImageLoader { get; init; }

    /// <summary>
    /// Existing: a Docker network on this machine whose containers the cluster's pods can reach (as kind's and K3s's
    /// nodes sit on theirs; <c>HARNESS_DOCKER_NETWORK</c>). The egress sink then runs there, outside the cluster, instead
    /// of as a pod inside it. Null: an in-cluster sink, or the given egress targets.
    /// </summary>
    public string? DockerNetwork { get; init; }

    /// <summary>The name of the harness's kind cluster for this session: <c>{prefix}-{session}</c>, or the prefix itself when reusing.</summary>
    public string KindClusterName => Reuse ? Kind.Name : $"{Kind.Name}-{SessionId}";

    /// <summary>A kind cluster (the default).</summary>
    public static ClusterOptions ForKind(KindClusterOptions? kind = null) => new() { Provider = ClusterProvider.Kind, Kind = kind ?? new() };

    /// <summary>A K3s container.</summary>
    public static ClusterOptions ForK3s(K3sClusterOptions? k3s = null) => new() { Provider = ClusterProvider.K3s, K3s = k3s ?? new() };

    /// <summary>An existing cluster.</summary>
    public static ClusterOptions ForExisting(string? kubeconfig = null, string? context = null) =>
        new() { Provider = ClusterProvider.Existing, Kubeconfig = kubeconfig, Context = context };

    /// <summary>
    /// Options from the environment: <c>HARNESS_CLUSTER</c> (kind, k3s, existing), <c>HARNESS_KUBECONFIG</c> and
    /// <c>HARNESS_CONTEXT</c> (which imply existing), <c>HARNESS_KEEP_CLUSTER=1</c>, <c>HARNESS_REUSE_CLUSTER=1</c>,
    /// <c>HARNESS_CNI</c>, <c>HARNESS_PROBE_IMAGE</c>, <c>HARNESS_IMAGE_LOADER</c>, <c>HARNESS_DOCKER_NETWORK</c>, <c>HARNESS_LOG_DIR</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A variable has a value the harness does not know; the message names it.</exception>
    public static ClusterOptions FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        var kubeconfig = read("HARNESS_KUBECONFIG");
        var provider = read("HARNESS_CLUSTER") switch
        {
            null or "" => kubeconfig is { Length: > 0 } || read("HARNESS_CONTEXT") is { Length: > 0 } ? ClusterProvider.Existing : ClusterProvider.Kind,
            var v when Enum.TryParse<ClusterProvider>(v, ignoreCase: true, out var p) => p,
            var v => throw new ArgumentException($"HARNESS_CLUSTER must be kind, k3s or existing, got '{v}'."),
        };
        var kind = new KindClusterOptions();
        if (read("HARNESS_CNI") is { Length: > 0 } cni)
        {
            kind = kind with
            {
                Cni = Enum.TryParse<Cni>(cni, ignoreCase: true, out var c) ? c : throw new ArgumentException($"HARNESS_CNI must be calico, cilium or kindnet, got '{cni}'."),
            };
        }
        return new ClusterOptions
        {
            Provider = provider,
            Kind = kind,
            Kubeconfig = kubeconfig is { Length: > 0 } ? kubeconfig : null,
            Context = read("HARNESS_CONTEXT") is { Length: > 0 } ctx ? ctx : null,
            Keep = read("HARNESS_KEEP_CLUSTER") == "1",
            Reuse = read("HARNESS_REUSE_CLUSTER") == "1",
            ProbeImage = read("HARNESS_PROBE_IMAGE") is { Length: > 0 } image ? image : null,
            ImageLoader = read("HARNESS_IMAGE_LOADER") is { Length: > 0 } loader ? loader : null,
            DockerNetwork = read("HARNESS_DOCKER_NETWORK") is { Length: > 0 } network ? network : null,
            LogDirectory = read("HARNESS_LOG_DIR") is { Length: > 0 } logs ? logs : new ClusterOptions().LogDirectory,
        };
    }

    /// <summary>The kubeconfig an existing cluster is read from.</summary>
    public string ResolveKubeconfig(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        if (Kubeconfig is { Length: > 0 })
        {
            return Kubeconfig;
        }
        if (read("KUBECONFIG") is { Length: > 0 } env)
        {
            return env.Split(Path.PathSeparator)[0];
        }
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
    }

    /// <summary>Namespaces the verification creates: unlabeled (PodSecurity defaults apply) and policed.</summary>
    public ImmutableArray<string> VerificationNamespaces => [$"harness-psa-{SessionId}", $"harness-netpol-{SessionId}"];
}
