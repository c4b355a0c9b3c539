using Harness.Docker;
using Harness.Processes;
using k8s;

namespace Harness.Clusters;

/// <summary>
/// kind: the CLI (PATH, else the pinned download), rendered configs with the PodSecurity admission config, the CNI,
/// readiness waits, the probe image loaded with <c>kind load</c>; logs exported on failure, the cluster deleted after.
/// </summary>
internal sealed class KindProvider : IClusterProvider
{
    public string Name => nameof(ClusterProvider.Kind);


    public async Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        KindConfig.Validate(options.Kind);
        var docker = await HarnessCluster.ConnectDockerAsync(options.SessionId, HarnessCluster.NodesInDocker, ct).ConfigureAwait(false);
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
            client = await HarnessCluster.ConnectAsync(kubeconfig, null, log, ct).ConfigureAwait(false);
            await ClusterReadiness.WaitAsync(client, options.Kind.Cni, options.ReadyTimeout, ct).ConfigureAwait(false);
            var probeImage = options.ProbeImage ?? await Images.ProbeImage.BuildAsync(docker, Images.ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
            await Kind(kind, KindCommands.LoadImage(name, probeImage), TimeSpan.FromMinutes(3), ct).ConfigureAwait(false);
            return new HarnessCluster(ClusterProvider.Kind, name, kubeconfig, $"kind-{name}", client, probeImage, options.Kind.Cni.ToString(), options.Kind.DockerNetwork, Teardown)
            {
                ImageLoader = (image, t) => Kind(kind, KindCommands.LoadImage(name, image), TimeSpan.FromMinutes(3), t),
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
        (await ProcessRunner.RunAsync(kind, args, timeout, network == "kind" ? null : new Dictionary<string, string?> { ["KIND_EXPERIMENTAL_DOCKER_NETWORK"] = network }, ct: ct).ConfigureAwait(false)).EnsureSuccess();

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
}
