namespace Harness.Clusters;

/// <summary>An existing cluster from a kubeconfig and context (release qualification): connected to, never created or deleted.</summary>
internal sealed class ExistingClusterProvider : IClusterProvider
{
    public string Name => nameof(ClusterProvider.Existing);


    public async Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        if (options.Verify && options.ProbeImage is null)
        {
            throw HarnessCluster.NoProbeImage();
        }
        var path = options.ResolveKubeconfig();
        var client = await HarnessCluster.ConnectAsync(path, options.Context, ct).ConfigureAwait(false);
        await log.WriteLineAsync($"using existing cluster {options.Context ?? "(current context)"} from {path}").ConfigureAwait(false);
        return new HarnessCluster(ClusterProvider.Existing, options.Context ?? "current-context", path, options.Context, client, options.ProbeImage, "the cluster's CNI", null, _ => ValueTask.CompletedTask);
    }
}
