namespace Harness.Clusters;

/// <summary>
/// Something that can produce a cluster: kind, K3s and existing clusters are built in
/// (<see cref="HarnessCluster.StartAsync(ClusterOptions, TextWriter?, CancellationToken)"/> picks one from
/// <see cref="ClusterOptions.Provider"/>); bring your own (minikube, a cloud sandbox) and pass it to
/// <c>HarnessCluster.StartAsync(IClusterProvider, ClusterOptions, ...)</c>, which
/// verifies whatever it returns the same way.
/// </summary>
internal interface IClusterProvider
{
    /// <summary>A name for messages.</summary>
    string Name { get; }

    /// <summary>Creates or connects to the cluster; unverified. Wrap what you start with <see cref="HarnessCluster.Adopt"/>.</summary>
    /// <exception cref="PrerequisiteException">Something the provider needs is missing.</exception>
    Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct);
}
