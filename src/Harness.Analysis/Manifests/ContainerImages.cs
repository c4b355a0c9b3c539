using k8s.Models;

namespace Harness.Manifests;

/// <summary>The images a pod spec runs, and whether they are pinned by digest. Pure.</summary>
public static class ContainerImages
{
    /// <summary>Whether an image reference is pinned by digest.</summary>
    public static bool IsPinned(string image) => image?.Contains("@sha256:", StringComparison.Ordinal) == true;

    /// <summary>The images of the init containers and containers, each once, in order.</summary>
    public static IEnumerable<string> Images(V1PodSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (spec.InitContainers ?? []).Concat(spec.Containers ?? [])
            .Select(c => c.Image)
            .Where(i => !string.IsNullOrEmpty(i))
            .Distinct(StringComparer.Ordinal);
    }

    /// <summary>The images not pinned by digest.</summary>
    public static IEnumerable<string> UnpinnedImages(V1PodSpec spec) => Images(spec).Where(i => !IsPinned(i));
}
