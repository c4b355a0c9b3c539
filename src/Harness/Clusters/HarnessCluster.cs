// Clusters: getting a verified cluster (kind, K3s, existing), proving PodSecurity and NetworkPolicy enforce, and the egress vantage beside it.
using Harness.Runs;
using Harness.Docker;
using k8s;

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
    private SessionLease? lease;
    private Task? verifying;
    private CancellationTokenSource? verifyStop;
    private readonly CancellationTokenSource lifetime = new();
    private readonly Lock gate = new();
    private Task<EgressVantage>? sharedVantage;
    private int disposed;
    private bool failed;

    internal HarnessCluster(ClusterProvider provider, string name, string kubeconfigPath, string? context, IKubernetes client, string? probeImage, string cni, string? dockerNetwork, Func<bool, ValueTask> teardown)
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

    /// <summary>What verification proved; null when verification was turned off (or is still under way: <see cref="VerifiedAsync"/>).</summary>
    public VerificationReport? Verification { get; private set; }

    /// <summary>
    /// Completes when the cluster is verified: at once for a cluster verified before it was returned; when the
    /// verification started beside a run ends, otherwise. A run awaits it before any verdict.
    /// </summary>
    /// <exception cref="ClusterVerificationException">The cluster does not enforce PodSecurity or NetworkPolicy.</exception>
    /// <exception cref="PrerequisiteException">Verification could not complete against the API server.</exception>
    public Task VerifiedAsync(CancellationToken ct = default) => verifying?.WaitAsync(ct) ?? Task.CompletedTask;

    /// <summary>The session the cluster was started in (its lease, and the objects it shares between runs).</summary>
    internal SessionId Session { get; private set; } = SessionId.New();

    /// <summary>
    /// The egress vantage every run on this cluster shares when it brings no destinations of its own (several fixtures in
    /// one test run): started by the first run that asks, proven once, removed with the cluster. A run gets it borrowed:
    /// disposing that does nothing. A start that failed or was cancelled is tried again by the next run.
    /// </summary>
    internal async Task<EgressVantage> SharedVantageAsync(TextWriter log, CancellationToken ct)
    {
        Task<EgressVantage> starting;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed != 0, this);
            if (sharedVantage is null || sharedVantage.IsFaulted || sharedVantage.IsCanceled)
            {
                // It outlives the run that starts it: that run's log may be closed before the start ends.
                var shared = new OutlivedLog(log);
                sharedVantage = VantageStarter is { } start ? start(shared, lifetime.Token) : EgressVantage.StartAsync(this, Session, [], shared, lifetime.Token);
            }
            starting = sharedVantage;
        }
        return (await starting.WaitAsync(ct).ConfigureAwait(false)).Borrowed();
    }

    /// <summary>How the shared vantage is started; <see cref="EgressVantage.StartAsync"/> unless a test stands in for it.</summary>
    internal Func<TextWriter, CancellationToken, Task<EgressVantage>>? VantageStarter { get; init; }

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

    /// <summary>Starts a cluster with one of the providers, then verifies it the same way.</summary>
    /// <exception cref="ClusterVerificationException">The cluster does not enforce PodSecurity or NetworkPolicy.</exception>
    /// <param name="provider">The provider.</param>
    /// <param name="options">The options.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="ct">Cancellation (of the verification too).</param>
    /// <param name="verifyBeside">
    /// When given, the cluster is returned connected and its verification goes on beside what the caller does next
    /// (timed on this clock as <see cref="RunPhase.Verification"/>); <see cref="VerifiedAsync"/> completes with it.
    /// </param>
    /// <param name="precheck">
    /// On a cluster the harness did not create: run with its client before anything is created on it (the session
    /// Lease, the sweep, verification): the check that the credential holds what the run needs (<see cref="Rbac.SelfRights"/>).
    /// </param>
    internal static async Task<HarnessCluster> StartAsync(IClusterProvider provider, ClusterOptions options, TextWriter? log = null, CancellationToken ct = default, PhaseClock? verifyBeside = null,
        Func<IKubernetes, CancellationToken, Task>? precheck = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        log ??= TextWriter.Null;
        var cluster = await provider.StartAsync(options, log, ct).ConfigureAwait(false);
        cluster.Session = options.SessionId;
        if (precheck is not null && cluster.Provider == ClusterProvider.Existing)
        {
            try
            {
                await precheck(cluster.Client, ct).ConfigureAwait(false);
            }
            catch
            {
                await cluster.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        try
        {
            cluster.lease = await SessionLease.AcquireAsync(cluster.Client, options.SessionId, log, null, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException)
        {
            await log.WriteLineAsync($"session {options.SessionId}: no lease ({e.Message})").ConfigureAwait(false);
        }
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
            if (verifyBeside is not null)
            {
                cluster.verifyStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var stop = cluster.verifyStop.Token;
                cluster.verifying = verifyBeside.TimeAsync(RunPhase.Verification, async () =>
                {
                    try
                    {
                        await cluster.VerifyAsync(options, probeImage, log, stop).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        cluster.MarkFailed(); // as a verification before the run would: logs exported, kept when asked
                        throw;
                    }
                });
                return cluster;
            }
            await cluster.VerifyAsync(options, probeImage, log, ct).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            cluster.MarkFailed();
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task VerifyAsync(ClusterOptions options, string probeImage, TextWriter log, CancellationToken ct)
    {
        try
        {
            Verification = await ClusterVerification.VerifyAsync(Client, options.SessionId, probeImage, Cni, log, ct: ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or k8s.Autorest.HttpOperationException { Response.StatusCode: not System.Net.HttpStatusCode.Forbidden })
        {
            throw new PrerequisiteException("cluster", $"verification of {Name} could not complete against the API server ({e.Message}).", "Check that the cluster is reachable and that these credentials may create namespaces and pods.", e);
        }
    }

    /// <summary>Wraps a cluster a custom <see cref="IClusterProvider"/> started; <paramref name="teardown"/> runs on dispose with whether the run failed.</summary>
    public static HarnessCluster Adopt(string name, string kubeconfigPath, string? context, IKubernetes client, string? probeImage, string cni, string? dockerNetwork, Func<bool, ValueTask> teardown)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(teardown);
        return new HarnessCluster(ClusterProvider.Existing, name, kubeconfigPath, context, client, probeImage, cni, dockerNetwork, teardown);
    }

    internal static class BuiltInProvider
    {
        public static IClusterProvider For(ClusterProvider provider) => provider switch
        {
            ClusterProvider.Kind => new KindProvider(),
            ClusterProvider.K3s => new K3sProvider(),
            _ => new ExistingClusterProvider(),
        };
    }

    /// <summary>How a provider loads local images into the nodes (kind load, K3s import); null for clusters the harness did not create.</summary>
    internal Func<string, CancellationToken, Task>? ImageLoader
    {
        init => imageLoader = value;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        if (verifying is not null)
        {
            // A verification still under way (its run failed early) is stopped, and removes its canaries, before the cluster goes.
            await verifyStop!.CancelAsync().ConfigureAwait(false);
            await verifying.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            verifyStop.Dispose();
        }
        await lifetime.CancelAsync().ConfigureAwait(false);
        Task<EgressVantage>? shared;
        lock (gate)
        {
            shared = sharedVantage;
        }
        if (shared is not null)
        {
            await StageGroup.DisposeWhenDone(shared, v => v).DisposeAsync().ConfigureAwait(false);
        }
        // On a cluster the harness did not create, the lease goes after what the session made (a crash in between leaves
        // objects the next sweep still knows to be dead); a cluster the harness created goes as a whole, lease and all.
        if (lease is not null && Provider != ClusterProvider.Existing)
        {
            await lease.DisposeAsync().ConfigureAwait(false);
        }
        await teardown(failed).ConfigureAwait(false);
        if (lease is not null && Provider == ClusterProvider.Existing)
        {
            await lease.DisposeAsync().ConfigureAwait(false);
        }
        Client.Dispose();
    }

    /// <summary>The error for an existing cluster without a probe image it can pull.</summary>
    public static PrerequisiteException NoProbeImage() => new(
        "probe image", "an existing cluster cannot see images on this machine.",
        "Push the probe image (built locally as harness.local/probe) to a registry the cluster pulls from and set HARNESS_PROBE_IMAGE (or ClusterOptions.ProbeImage), or turn verification off.");

    /// <summary>A client for a kubeconfig and context, after checking the API server answers.</summary>
    /// <exception cref="PrerequisiteException">No kubeconfig, an unknown context, or an API server that does not answer.</exception>
    public static Task<IKubernetes> ConnectAsync(string kubeconfigPath, string? context, CancellationToken ct = default) => ConnectAsync(kubeconfigPath, context, null, ct);

    /// <summary>A client whose requests go through the harness's retry policy, its attempts logged to <paramref name="log"/>.</summary>
    internal static async Task<IKubernetes> ConnectAsync(string kubeconfigPath, string? context, TextWriter? log, CancellationToken ct = default)
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
        var client = new k8s.Kubernetes(config, new Harness.Kubernetes.TransientRetryHandler(log));
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

    /// <summary>Docker, or a prerequisite error that says what needed it.</summary>
    internal static async Task<DockerHost> ConnectDockerAsync(SessionId? session, string neededFor, CancellationToken ct)
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

    /// <summary>Why Docker is needed, for the prerequisite error.</summary>
    internal const string NodesInDocker = "kind and K3s run their nodes in Docker containers.";
}
