using System.Collections.Immutable;

namespace Harness.Clusters;

/// <summary>The kind command lines the harness runs. Pure, so they are tested as data.</summary>
internal static class KindCommands
{
    /// <summary><c>kind create cluster</c> with the rendered config, the pinned node image and a private kubeconfig.</summary>
    /// <param name="name">Cluster name.</param>
    /// <param name="configPath">The rendered kind config.</param>
    /// <param name="nodeImage">Node image, pinned by digest.</param>
    /// <param name="kubeconfigPath">Where kind writes the kubeconfig (never the user's own).</param>
    /// <param name="retain">Keep the nodes when creation fails, for debugging.</param>
    /// <param name="wait">How long kind waits for the control plane.</param>
    public static ImmutableArray<string> Create(string name, string configPath, string nodeImage, string kubeconfigPath, bool retain, TimeSpan wait) =>
    [
        "create", "cluster", "--name", name, "--config", configPath, "--image", nodeImage, "--kubeconfig", kubeconfigPath,
        "--wait", $"{(int)wait.TotalSeconds}s", .. retain ? new[] { "--retain" } : [],
    ];

    /// <summary><c>kind delete cluster</c>; without a kubeconfig for a cluster another run created (stale removal).</summary>
    public static ImmutableArray<string> Delete(string name, string? kubeconfigPath = null) =>
        kubeconfigPath is null ? ["delete", "cluster", "--name", name] : ["delete", "cluster", "--name", name, "--kubeconfig", kubeconfigPath];

    /// <summary><c>kind get clusters</c>.</summary>
    public static ImmutableArray<string> List() => ["get", "clusters"];

    /// <summary><c>kind export logs DIR</c>.</summary>
    public static ImmutableArray<string> ExportLogs(string name, string directory) => ["export", "logs", directory, "--name", name];

    /// <summary><c>kind export kubeconfig</c> into a private file (for a reused cluster).</summary>
    public static ImmutableArray<string> ExportKubeconfig(string name, string kubeconfigPath) => ["export", "kubeconfig", "--name", name, "--kubeconfig", kubeconfigPath];

    /// <summary><c>kind load docker-image</c> (the probe image, the operator's local images).</summary>
    public static ImmutableArray<string> LoadImage(string name, string image) => ["load", "docker-image", image, "--name", name];

    /// <summary>The cluster names in <c>kind get clusters</c> output ("No kind clusters found." means none).</summary>
    public static ImmutableArray<string> ParseClusters(string stdout) =>
    [
        .. (stdout ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("No kind clusters", StringComparison.Ordinal)),
    ];
}
