using System.Collections.Immutable;

namespace Harness.Clusters;

/// <summary>K3s specifics: where the admission config goes and the server arguments that wire it.</summary>
internal static class K3sConfig
{
    /// <summary>Path of the PodSecurity admission config inside the K3s container.</summary>
    public const string AdmissionPath = "/var/lib/rancher/k3s/server/psa.yaml";

    /// <summary>Arguments appended to Testcontainers' <c>server --disable=traefik</c>.</summary>
    public static ImmutableArray<string> ExtraServerArgs() =>
        [$"--kube-apiserver-arg=admission-control-config-file={AdmissionPath}"];

    /// <summary>Imports a local image into K3s's containerd (K3s cannot pull the locally built probe image).</summary>
    internal static async Task LoadImageAsync(Harness.Docker.DockerHost docker, DotNet.Testcontainers.Containers.IContainer container, string image, CancellationToken ct)
    {
        var tar = await docker.SaveImageAsync(image, ct).ConfigureAwait(false);
        await container.CopyAsync(tar, "/tmp/harness-probe.tar", ct: ct).ConfigureAwait(false);
        var result = await container.ExecAsync(["ctr", "--namespace", "k8s.io", "images", "import", "/tmp/harness-probe.tar"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new PrerequisiteException("K3s image import", $"`ctr images import` of {image} exited {result.ExitCode}: {result.Stderr.Trim()}", "Check that the image exists locally (`docker image inspect`).");
        }
    }
}
