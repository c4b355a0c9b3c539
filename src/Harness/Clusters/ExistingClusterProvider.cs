using Harness.Docker;
using Harness.Processes;

namespace Harness.Clusters;

/// <summary>
/// An existing cluster from a kubeconfig and context (release qualification): connected to, never created or deleted.
/// With an image loader (<see cref="ClusterOptions.ImageLoader"/>) local images reach its nodes the way kind loads them,
/// and the probe image is built here and loaded when none was named.
/// </summary>
internal sealed class ExistingClusterProvider : IClusterProvider
{
    public string Name => nameof(ClusterProvider.Existing);

    public async Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
    {
        var loader = options.ImageLoader is { Length: > 0 } command ? ImageLoaderCommand.Parse(command) : null;
        if (options.Verify && options.ProbeImage is null && loader is null)
        {
            throw HarnessCluster.NoProbeImage();
        }
        var path = options.ResolveKubeconfig();
        var client = await HarnessCluster.ConnectAsync(path, options.Context, log, ct).ConfigureAwait(false);
        await log.WriteLineAsync($"using existing cluster {options.Context ?? "(current context)"} from {path}").ConfigureAwait(false);
        var probeImage = options.ProbeImage;
        try
        {
            if (loader is not null)
            {
                if (probeImage is null)
                {
                    await using var docker = await DockerHost.ConnectAsync(options.SessionId, ct).ConfigureAwait(false);
                    docker.KeepResources = true;
                    probeImage = await Images.ProbeImage.BuildAsync(docker, Images.ProbeArtifacts.Locate(), ct).ConfigureAwait(false);
                }
                await loader.LoadAsync(probeImage, log, ct).ConfigureAwait(false);
            }
        }
        catch
        {
            client.Dispose();
            throw;
        }
        return new HarnessCluster(ClusterProvider.Existing, options.Context ?? "current-context", path, options.Context, client, probeImage, "the cluster's CNI", options.DockerNetwork, _ => ValueTask.CompletedTask)
        {
            ImageLoader = loader is null ? null : (image, t) => loader.LoadAsync(image, log, t),
        };
    }
}

/// <summary>The user's command that puts a local image on an existing cluster's nodes: <c>PROGRAM [ARGS...] IMAGE</c>.</summary>
internal sealed record ImageLoaderCommand(string Program, IReadOnlyList<string> Arguments)
{
    /// <summary>How long one load may take (a docker save and an import of a few tens of MB).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>Splits the command on whitespace.</summary>
    /// <exception cref="ArgumentException">The command is empty.</exception>
    public static ImageLoaderCommand Parse(string command)
    {
        var words = command.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return words.Length == 0
            ? throw new ArgumentException("HARNESS_IMAGE_LOADER (--image-loader) is empty; give a command such as `kind load docker-image --name NAME`.")
            : new ImageLoaderCommand(words[0], words[1..]);
    }

    // What this loader already placed, by image and local image id: several runs on one cluster load each image once.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> loaded = new(StringComparer.Ordinal);

    /// <summary>Runs the loader for one image, once per cluster connection (a failed or cancelled load is tried again).</summary>
    /// <exception cref="PrerequisiteException">The loader cannot be started, failed, or ran past <see cref="Timeout"/>; the message has its output.</exception>
    public Task LoadAsync(string image, TextWriter log, CancellationToken ct)
    {
        var load = loaded.GetOrAdd(image, i => RunAsync(i, log, CancellationToken.None));
        if (load.IsFaulted || load.IsCanceled)
        {
            loaded.TryRemove(new KeyValuePair<string, Task>(image, load));
            load = loaded.GetOrAdd(image, i => RunAsync(i, log, CancellationToken.None));
        }
        return load.WaitAsync(ct);
    }

    private async Task RunAsync(string image, TextWriter log, CancellationToken ct)
    {
        await log.WriteLineAsync($"image {image}: loading with {Program}").ConfigureAwait(false);
        ProcessResult result;
        try
        {
            result = await ProcessRunner.RunAsync(Program, [.. Arguments, image], Timeout, ct: ct).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new PrerequisiteException("image loader", $"`{Program} {image}` ran longer than {Timeout.TotalMinutes:0} minutes ({e.Message}).", "Check the loader by hand, or push the image to a registry the cluster pulls from.", e);
        }
        if (result.ExitCode != 0)
        {
            var output = (result.Stderr.Trim() is { Length: > 0 } err ? err : result.Stdout.Trim()).Split('\n')[^1];
            throw new PrerequisiteException("image loader", $"`{result.CommandLine}` exited {result.ExitCode}: {output}", "Check that the image exists locally (docker image ls) and that the loader can reach the cluster's nodes.");
        }
    }
}
