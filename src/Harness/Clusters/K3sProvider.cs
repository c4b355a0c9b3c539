using Harness.Runs;
using k8s;
using Testcontainers.K3s;

namespace Harness.Clusters;

/// <summary>K3s through Testcontainers: one container with the PodSecurity admission config; its kube-router enforces policy (verified, never trusted).</summary>
internal sealed class K3sProvider : IClusterProvider
{
    public string Name => nameof(ClusterProvider.K3s);


    public async Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        var docker = await HarnessCluster.ConnectDockerAsync(options.SessionId, HarnessCluster.NodesInDocker, ct).ConfigureAwait(false);
        await using var dockerScope = docker.ConfigureAwait(false);
        var admission = KindConfig.RenderAdmission(new KindClusterOptions { Cni = Clusters.Cni.Kindnet });
        var container = new K3sBuilder(options.K3s.Image)
            .WithLabel(SessionLabels.Owner, "harness")
            .WithLabel(SessionLabels.Session, options.SessionId.Value)
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
            client = await HarnessCluster.ConnectAsync(kubeconfig, null, ct).ConfigureAwait(false);
            await ClusterReadiness.WaitAsync(client, Clusters.Cni.Kindnet, options.ReadyTimeout, ct).ConfigureAwait(false);
            var probeImage = options.ProbeImage ?? await Images.ProbeImage.BuildAsync(docker, Images.ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
            await K3sConfig.LoadImageAsync(docker, container, probeImage, ct).ConfigureAwait(false);
            var network = await docker.ContainerNetworkAsync(container.Id, ct).ConfigureAwait(false);
            return new HarnessCluster(ClusterProvider.K3s, container.Name.TrimStart('/'), kubeconfig, null, client, probeImage, "K3s kube-router", network, Teardown)
            {
                ImageLoader = async (image, t) =>
                {
                    var host = await HarnessCluster.ConnectDockerAsync(options.SessionId, HarnessCluster.NodesInDocker, t).ConfigureAwait(false);
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
