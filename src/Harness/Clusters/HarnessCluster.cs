using Harness.Docker;
using Harness.Processes;
using k8s;
using Testcontainers.K3s;

namespace Harness.Clusters;

/// <summary>
/// A cluster that has been verified to enforce what the options promise, with a client for it. Disposing it tears
/// down what the harness created (kind cluster, K3s container), unless asked to keep it; after <see cref="MarkFailed"/>
/// it exports the cluster's logs first.
/// </summary>
public sealed class HarnessCluster : IAsyncDisposable
{
    private readonly Func<bool, ValueTask> teardown;
    private Func<string, CancellationToken, Task>? imageLoader;
    private int disposed;
    private bool failed;

    private HarnessCluster(ClusterProvider provider, string name, string kubeconfigPath, string? context, IKubernetes client, string? probeImage, string cni, string? dockerNetwork, Func<bool, ValueTask> teardown)
    {
        Provider = provider;
        Name = name;
        KubeconfigPath = kubeconfigPath;
        Context = context;
        Client = client;
        ProbeImage = probeImage;
        Cni = cni;
        DockerNetwork = dockerNetwork;
        this.teardown = teardown;
    }

    /// <summary>Where it came from.</summary>
    public ClusterProvider Provider { get; }

    /// <summary>Cluster name (kind cluster, K3s container, or kubeconfig context).</summary>
    public string Name { get; }

    /// <summary>A kubeconfig for it (a private file for kind and K3s; the user's for an existing cluster).</summary>
    public string KubeconfigPath { get; }

    /// <summary>The context in that kubeconfig.</summary>
    public string? Context { get; }

    /// <summary>A client for the cluster.</summary>
    public IKubernetes Client { get; }

    /// <summary>The probe image as the cluster pulls it; null for an existing cluster when none was given.</summary>
    public string? ProbeImage { get; }

    /// <summary>The CNI (named in failures).</summary>
    public string Cni { get; }

    /// <summary>The Docker network the nodes sit on (the egress sink joins it); null for an existing cluster.</summary>
    public string? DockerNetwork { get; }

    /// <summary>What verification proved; null when verification was turned off.</summary>
    public VerificationReport? Verification { get; private set; }

    /// <summary>Whether <see cref="LoadImageAsync"/> can load images (kind and K3s); false for a cluster the harness did not create.</summary>
    public bool CanLoadImages => imageLoader is not null;

    /// <summary>Makes a locally built image available to the cluster's nodes (kind load, K3s import).</summary>
    /// <exception cref="PrerequisiteException">An existing cluster: images must come from a registry it pulls from.</exception>
    public Task LoadImageAsync(string image, CancellationToken ct = default) =>
        imageLoader?.Invoke(image, ct) ?? throw new PrerequisiteException("image " + image,
            $"cannot be loaded into {Name}, which is not a cluster the harness runs.", "Push it to a registry the cluster pulls from and reference it by digest.");

    /// <summary>Marks the run failed: logs are exported on dispose, and the cluster is kept when KeepOnFailure is set.</summary>
    public void MarkFailed() => failed = true;

    /// <summary>Creates (or connects to) the cluster the options describe, then verifies it.</summary>
    /// <exception cref="PrerequisiteException">Docker, kind, kubectl, a kubeconfig or the probe image is missing; names it and what to do.</exception>
    /// <exception cref="ClusterVerificationException">The cluster does not enforce PodSecurity or NetworkPolicy.</exception>
    /// <exception cref="TimeoutException">Creation or readiness took longer than the bound; the message has what was seen.</exception>
    public static Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return StartAsync(BuiltInProvider.For(options.Provider), options, log, ct);
    }

    /// <summary>Starts a cluster with any provider (yours too), then verifies it the same way.</summary>
    /// <exception cref="ClusterVerificationException">The cluster does not enforce PodSecurity or NetworkPolicy.</exception>
    public static async Task<HarnessCluster> StartAsync(IClusterProvider provider, ClusterOptions options, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        log ??= TextWriter.Null;
        var cluster = await provider.StartAsync(options, log, ct).ConfigureAwait(false);
        if (options.RemoveStaleAfter is { } stale)
        {
            // What earlier runs left behind when they died before their teardown (a killed CI job): only objects carrying
            // the harness's session label, which it adds only to what it creates.
            try
            {
                await LeftoverSweep.SweepAsync(cluster.Client, stale, null, log, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                await log.WriteLineAsync($"sweep: skipped, the API server did not answer ({e.Message})").ConfigureAwait(false);
            }
        }
        if (!options.Verify)
        {
            return cluster;
        }
        try
        {
            var probeImage = cluster.ProbeImage ?? throw NoProbeImage();
            try
            {
                cluster.Verification = await ClusterVerification.VerifyAsync(cluster.Client, options.SessionId, probeImage, cluster.Cni, log, ct: ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException { Response.StatusCode: not System.Net.HttpStatusCode.Forbidden })
            {
                throw new PrerequisiteException("cluster", $"verification of {cluster.Name} could not complete against the API server ({e.Message}).", "Check that the cluster is reachable and that these credentials may create namespaces and pods.", e);
            }
            return cluster;
        }
        catch
        {
            cluster.MarkFailed();
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Wraps a cluster a custom <see cref="IClusterProvider"/> started; <paramref name="teardown"/> runs on dispose with whether the run failed.</summary>
    public static HarnessCluster Adopt(string name, string kubeconfigPath, string? context, IKubernetes client, string? probeImage, string cni, string? dockerNetwork, Func<bool, ValueTask> teardown)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(teardown);
        return new HarnessCluster(ClusterProvider.Existing, name, kubeconfigPath, context, client, probeImage, cni, dockerNetwork, teardown);
    }

    private sealed class BuiltInProvider(ClusterProvider kind, Func<ClusterOptions, TextWriter, CancellationToken, Task<HarnessCluster>> start) : IClusterProvider
    {
        public static IClusterProvider For(ClusterProvider provider) => provider switch
        {
            ClusterProvider.Kind => new BuiltInProvider(provider, StartKindAsync),
            ClusterProvider.K3s => new BuiltInProvider(provider, StartK3sAsync),
            _ => new BuiltInProvider(provider, ConnectExistingAsync),
        };

        public string Name => kind.ToString();

        public Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct) => start(options, log, ct);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        Client.Dispose();
        await teardown(failed).ConfigureAwait(false);
    }

    // ---- existing ----

    private static async Task<HarnessCluster> ConnectExistingAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        if (options.Verify && options.ProbeImage is null)
        {
            throw NoProbeImage();
        }
        var path = options.ResolveKubeconfig();
        var client = await ConnectAsync(path, options.Context, ct).ConfigureAwait(false);
        await log.WriteLineAsync($"using existing cluster {options.Context ?? "(current context)"} from {path}").ConfigureAwait(false);
        return new HarnessCluster(ClusterProvider.Existing, options.Context ?? "current-context", path, options.Context, client, options.ProbeImage, "the cluster's CNI", null, _ => ValueTask.CompletedTask);
    }

    /// <summary>The error for an existing cluster without a probe image it can pull.</summary>
    public static PrerequisiteException NoProbeImage() => new(
        "probe image", "an existing cluster cannot see images on this machine.",
        "Push the probe image (built locally as harness.local/probe) to a registry the cluster pulls from and set HARNESS_PROBE_IMAGE (or ClusterOptions.ProbeImage), or turn verification off.");

    /// <summary>A client for a kubeconfig and context, after checking the API server answers.</summary>
    /// <exception cref="PrerequisiteException">No kubeconfig, an unknown context, or an API server that does not answer.</exception>
    public static async Task<IKubernetes> ConnectAsync(string kubeconfigPath, string? context, CancellationToken ct = default)
    {
        if (!File.Exists(kubeconfigPath))
        {
            throw new PrerequisiteException("kubeconfig", $"no file at {kubeconfigPath}.", "Set HARNESS_KUBECONFIG (or KUBECONFIG) to the cluster's kubeconfig, or let the harness create a kind cluster.");
        }
        KubernetesClientConfiguration config;
        try
        {
            config = await KubernetesClientConfiguration.BuildConfigFromConfigFileAsync(new FileInfo(kubeconfigPath), currentContext: context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is k8s.Exceptions.KubeConfigException or ArgumentException or YamlDotNet.Core.YamlException)
        {
            throw new PrerequisiteException("kubeconfig", $"{kubeconfigPath}{(context is null ? "" : $" (context {context})")} cannot be used: {e.Message}", "Check the file and the context name (`kubectl config get-contexts`).", e);
        }
        var client = new k8s.Kubernetes(config);
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(TimeSpan.FromSeconds(20));
            await client.Version.GetCodeAsync(bound.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or k8s.Autorest.HttpOperationException && !ct.IsCancellationRequested)
        {
            client.Dispose();
            throw new PrerequisiteException("cluster", $"the API server at {config.Host} did not answer ({e.Message}).", "Check that the cluster is running and reachable from here (`kubectl version`).", e);
        }
    }

    // ---- kind ----

    private static async Task<HarnessCluster> StartKindAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        KindConfig.Validate(options.Kind);
        var docker = await ConnectDockerAsync(options.SessionId, NodesInDocker, ct).ConfigureAwait(false);
        await using var dockerScope = docker.ConfigureAwait(false);
        var kind = await KindBinary.ResolveAsync(options.KindBinary, ct: ct).ConfigureAwait(false);
        var path = options.KindBinary.SearchPath;
        var installer = options.Kind.Cni switch
        {
            Clusters.Cni.Calico => KindBinary.FindOnPath("kubectl", path) ?? throw new PrerequisiteException("kubectl", "is needed to install Calico (its CRD bundle is too large for client-side apply; the harness runs `kubectl create`).", "Install kubectl on PATH, or choose another CNI."),
            Clusters.Cni.Cilium => KindBinary.FindOnPath("helm", path) ?? throw new PrerequisiteException("helm", "is needed to install Cilium.", "Install helm on PATH, or choose Calico."),
            _ => null,
        };
        if (options.Kind.Cni == Clusters.Cni.Kindnet)
        {
            await log.WriteLineAsync("warning: kindnet enforces NetworkPolicy only while its policy controller runs and fails open otherwise; verification will tell.").ConfigureAwait(false);
        }

        var name = options.KindClusterName;
        var existing = KindCommands.ParseClusters((await Kind(kind, KindCommands.List(), TimeSpan.FromSeconds(30), ct).ConfigureAwait(false)).Stdout);
        if (options.RemoveStaleAfter is { } age)
        {
            await RemoveStaleKindClustersAsync(kind, docker, existing.Where(c => c != name && c.StartsWith(options.Kind.Name + "-", StringComparison.Ordinal)), age, log, ct).ConfigureAwait(false);
        }

        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"harness-{name}")).FullName;
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        var kindOptions = options.Kind with { Name = name, AdmissionConfigDirectory = Path.Combine(dir, "podsecurity") };
        Directory.CreateDirectory(kindOptions.AdmissionConfigDirectory);
        await File.WriteAllTextAsync(Path.Combine(kindOptions.AdmissionConfigDirectory, KindConfig.AdmissionFileName), KindConfig.RenderAdmission(kindOptions), ct).ConfigureAwait(false);
        var configPath = Path.Combine(dir, "kind-config.yaml");
        await File.WriteAllTextAsync(configPath, KindConfig.RenderCluster(kindOptions), ct).ConfigureAwait(false);

        // kind reuses a "kind" network that exists. Creating it with the documented subnet first makes node addresses
        // predictable, so NetworkPolicies can name the API server's network (the sample's do).
        string? nodeSubnet;
        try
        {
            nodeSubnet = await docker.EnsureBridgeNetworkAsync(options.Kind.DockerNetwork, KindClusterOptions.NodeSubnet, ct).ConfigureAwait(false);
        }
        catch (global::Docker.DotNet.DockerApiException e)
        {
            nodeSubnet = null;
            await log.WriteLineAsync($"warning: could not create the {options.Kind.DockerNetwork} network with {KindClusterOptions.NodeSubnet} ({e.Message.Trim()}); kind picks a subnet").ConfigureAwait(false);
        }
        if (nodeSubnet != KindClusterOptions.NodeSubnet)
        {
            await log.WriteLineAsync($"warning: kind's node network is {nodeSubnet ?? "unknown"}, not {KindClusterOptions.NodeSubnet}: policies that allow the API server by that subnet will not match").ConfigureAwait(false);
        }
        var reused = options.Reuse && existing.Contains(name);
        var keep = options.Keep || options.Reuse;
        async ValueTask Teardown(bool failed)
        {
            if (failed)
            {
                var logs = Path.GetFullPath(Path.Combine(options.LogDirectory, name));
                try
                {
                    await Kind(kind, KindCommands.ExportLogs(name, logs), TimeSpan.FromMinutes(3), CancellationToken.None).ConfigureAwait(false);
                    await log.WriteLineAsync($"kind logs exported to {logs}").ConfigureAwait(false);
                }
                catch (Exception e) when (e is CommandFailedException or TimeoutException)
                {
                    await log.WriteLineAsync($"could not export kind logs: {e.Message}").ConfigureAwait(false);
                }
            }
            if (keep || (failed && options.KeepOnFailure))
            {
                await log.WriteLineAsync($"keeping kind cluster {name} (kubeconfig: {kubeconfig}); delete it with `kind delete cluster --name {name}`").ConfigureAwait(false);
                return;
            }
            try
            {
                await Kind(kind, KindCommands.Delete(name, kubeconfig), TimeSpan.FromMinutes(3), CancellationToken.None).ConfigureAwait(false);
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is CommandFailedException or TimeoutException or IOException)
            {
                await log.WriteLineAsync($"could not delete kind cluster {name}: {e.Message}; the next run removes it as stale").ConfigureAwait(false);
            }
        }

        if (reused)
        {
            await log.WriteLineAsync($"reusing kind cluster {name}").ConfigureAwait(false);
            await Kind(kind, KindCommands.ExportKubeconfig(name, kubeconfig), TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        }
        else
        {
            await log.WriteLineAsync($"creating kind cluster {name} ({options.Kind.NodeImage}, CNI {options.Kind.Cni})").ConfigureAwait(false);
            try
            {
                await Kind(kind, KindCommands.Create(name, configPath, options.Kind.NodeImage, kubeconfig, options.KeepOnFailure, options.ReadyTimeout), options.ReadyTimeout + TimeSpan.FromMinutes(1), ct, options.Kind.DockerNetwork).ConfigureAwait(false);
            }
            catch
            {
                await Teardown(failed: true).ConfigureAwait(false);
                throw;
            }
        }

        IKubernetes? client = null;
        try
        {
            if (installer is not null && !reused)
            {
                await InstallCniAsync(options.Kind.Cni, installer, kubeconfig, log, ct).ConfigureAwait(false);
            }
            client = await ConnectAsync(kubeconfig, null, ct).ConfigureAwait(false);
            await ClusterReadiness.WaitAsync(client, options.Kind.Cni, options.ReadyTimeout, ct).ConfigureAwait(false);
            var probeImage = options.ProbeImage ?? await Images.ProbeImage.BuildAsync(docker, Images.ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
            await Kind(kind, KindCommands.LoadImage(name, probeImage), TimeSpan.FromMinutes(3), ct).ConfigureAwait(false);
            return new HarnessCluster(ClusterProvider.Kind, name, kubeconfig, $"kind-{name}", client, probeImage, options.Kind.Cni.ToString(), options.Kind.DockerNetwork, Teardown)
            {
                imageLoader = (image, t) => Kind(kind, KindCommands.LoadImage(name, image), TimeSpan.FromMinutes(3), t),
            };
        }
        catch
        {
            client?.Dispose();
            await Teardown(failed: true).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<ProcessResult> Kind(string kind, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct, string network = "kind") =>
        (await ProcessRunner.RunAsync(kind, args, timeout, network == "kind" ? null : new Dictionary<string, string> { ["KIND_EXPERIMENTAL_DOCKER_NETWORK"] = network }, ct: ct).ConfigureAwait(false)).EnsureSuccess();

    private static async Task InstallCniAsync(Cni cni, string installer, string kubeconfig, TextWriter log, CancellationToken ct)
    {
        foreach (var args in CniInstall.Commands(cni, kubeconfig))
        {
            await log.WriteLineAsync($"installing {cni}: {string.Join(" ", args)}").ConfigureAwait(false);
            (await ProcessRunner.RunAsync(installer, args, TimeSpan.FromMinutes(5), ct: ct).ConfigureAwait(false)).EnsureSuccess();
        }
    }

    private static async Task RemoveStaleKindClustersAsync(string kind, DockerHost docker, IEnumerable<string> candidates, TimeSpan age, TextWriter log, CancellationToken ct)
    {
        foreach (var cluster in candidates)
        {
            var created = await docker.ContainerCreatedAsync($"{cluster}-control-plane", ct).ConfigureAwait(false);
            if (created is { } at && DateTimeOffset.UtcNow - at > age)
            {
                await log.WriteLineAsync($"removing stale harness cluster {cluster} (created {at:u})").ConfigureAwait(false);
                await Kind(kind, KindCommands.Delete(cluster), TimeSpan.FromMinutes(3), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Docker, or a prerequisite error that says what needed it.</summary>
    internal static async Task<DockerHost> ConnectDockerAsync(string? session, string neededFor, CancellationToken ct)
    {
        try
        {
            return await DockerHost.ConnectAsync(session, ct).ConfigureAwait(false);
        }
        catch (DockerUnavailableException e)
        {
            throw new PrerequisiteException("Docker", e.Message, neededFor, e);
        }
    }

    private const string NodesInDocker = "kind and K3s run their nodes in Docker containers.";

    // ---- K3s ----

    private static async Task<HarnessCluster> StartK3sAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        var docker = await ConnectDockerAsync(options.SessionId, NodesInDocker, ct).ConfigureAwait(false);
        await using var dockerScope = docker.ConfigureAwait(false);
        var admission = KindConfig.RenderAdmission(new KindClusterOptions { Cni = Clusters.Cni.Kindnet });
        var container = new K3sBuilder(options.K3s.Image)
            .WithLabel(DockerHost.OwnerLabel, "harness")
            .WithLabel(DockerHost.SessionLabel, options.SessionId)
            .WithResourceMapping(System.Text.Encoding.UTF8.GetBytes(admission), K3sConfig.AdmissionPath)
            .WithCommand([.. K3sConfig.ExtraServerArgs()])
            .Build();
        await log.WriteLineAsync($"starting K3s ({options.K3s.Image})").ConfigureAwait(false);
        try
        {
            await container.StartAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await container.DisposeAsync().ConfigureAwait(false);
            throw new PrerequisiteException("K3s", $"the K3s container did not start ({e.Message}).", "K3s needs a privileged container; rootless or restricted Docker hosts cannot run it.", e);
        }
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"harness-k3s-{options.SessionId}")).FullName;
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        async ValueTask Teardown(bool failed)
        {
            if (options.Keep || (failed && options.KeepOnFailure))
            {
                await log.WriteLineAsync($"keeping K3s container {container.Id} (kubeconfig: {kubeconfig})").ConfigureAwait(false);
                return;
            }
            await container.DisposeAsync().ConfigureAwait(false);
            Directory.Delete(dir, recursive: true);
        }
        IKubernetes? client = null;
        try
        {
            await File.WriteAllTextAsync(kubeconfig, await container.GetKubeconfigAsync().ConfigureAwait(false), ct).ConfigureAwait(false);
            client = await ConnectAsync(kubeconfig, null, ct).ConfigureAwait(false);
            await ClusterReadiness.WaitAsync(client, Clusters.Cni.Kindnet, options.ReadyTimeout, ct).ConfigureAwait(false);
            var probeImage = options.ProbeImage ?? await Images.ProbeImage.BuildAsync(docker, Images.ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
            await K3sConfig.LoadImageAsync(docker, container, probeImage, ct).ConfigureAwait(false);
            var network = await docker.ContainerNetworkAsync(container.Id, ct).ConfigureAwait(false);
            return new HarnessCluster(ClusterProvider.K3s, container.Name.TrimStart('/'), kubeconfig, null, client, probeImage, "K3s kube-router", network, Teardown)
            {
                imageLoader = async (image, t) =>
                {
                    var host = await ConnectDockerAsync(options.SessionId, NodesInDocker, t).ConfigureAwait(false);
                    await using (host.ConfigureAwait(false))
                    {
                        await K3sConfig.LoadImageAsync(host, container, image, t).ConfigureAwait(false);
                    }
                },
            };
        }
        catch
        {
            client?.Dispose();
            await Teardown(failed: true).ConfigureAwait(false);
            throw;
        }
    }
}
