using System.Collections.Immutable;
using System.Net;
using Harness.Manifests;
using k8s;
using k8s.Models;

namespace Harness.Deployment;

/// <summary>One address and port where the API server is reached.</summary>
/// <param name="Address">An IP address.</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Source">Where it was found (the Service's cluster IP, or its EndpointSlice).</param>
internal readonly record struct ApiServerEndpoint(string Address, int Port, string Source);

/// <summary>
/// The API server's real addresses, for NetworkPolicies that must allow it. A policy annotated
/// <c>harness.dev/api-server-egress: "true"</c> has its egress rules replaced at deploy time by one rule allowing exactly
/// the <c>kubernetes</c> Service's cluster IP and port and the endpoints of its EndpointSlices (policies may see either,
/// before or after the Service's DNAT). So a manifest can carry a default for one cluster (kind's node network) and
/// still hold on a cluster whose API server lives elsewhere.
/// </summary>
internal static class ApiServerPolicy
{
    /// <summary>The annotation that asks for the rendering.</summary>
    public const string Annotation = "harness.dev/api-server-egress";

    /// <summary>Reads the API server's addresses: the <c>default/kubernetes</c> Service and its EndpointSlices.</summary>
    /// <exception cref="DeploymentException">Neither gives an address (the credentials may not read them).</exception>
    public static async Task<ImmutableArray<ApiServerEndpoint>> DiscoverAsync(IKubernetes client, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var found = new List<ApiServerEndpoint>();
        var service = await client.CoreV1.ReadNamespacedServiceAsync("kubernetes", "default", cancellationToken: ct).ConfigureAwait(false);
        foreach (var ip in service.Spec?.ClusterIPs ?? (service.Spec?.ClusterIP is { } one ? [one] : []))
        {
            foreach (var port in service.Spec?.Ports ?? [])
            {
                found.Add(new ApiServerEndpoint(ip, port.Port, "Service default/kubernetes"));
            }
        }
        var slices = await client.DiscoveryV1.ListNamespacedEndpointSliceAsync("default", labelSelector: "kubernetes.io/service-name=kubernetes", cancellationToken: ct).ConfigureAwait(false);
        foreach (var slice in slices.Items)
        {
            foreach (var endpoint in slice.Endpoints ?? [])
            {
                foreach (var address in endpoint.Addresses ?? [])
                {
                    foreach (var port in slice.Ports ?? [])
                    {
                        if (port.Port is { } p)
                        {
                            found.Add(new ApiServerEndpoint(address, p, $"EndpointSlice default/{slice.Metadata?.Name}"));
                        }
                    }
                }
            }
        }
        var distinct = found.DistinctBy(e => (e.Address, e.Port)).ToImmutableArray();
        return distinct.Any(e => e.Source.StartsWith("EndpointSlice", StringComparison.Ordinal))
            ? distinct
            : throw new DeploymentException(null, "the API server's endpoints could not be read (no EndpointSlice for default/kubernetes): a NetworkPolicy annotated " +
                $"{Annotation} cannot be rendered. Let the harness's credentials list endpointslices in default, or remove the annotation and name the addresses yourself.");
    }

    /// <summary>Whether any document asks for the rendering.</summary>
    public static bool IsNeeded(IEnumerable<ManifestDocument> documents) =>
        documents.Any(d => d.Object is V1NetworkPolicy p && p.Metadata?.Annotations?.TryGetValue(Annotation, out var v) == true && v == "true");

    /// <summary>The documents with every annotated policy's egress rendered for <paramref name="endpoints"/>. Pure; the inputs are not changed.</summary>
    public static IReadOnlyList<ManifestDocument> Render(IReadOnlyList<ManifestDocument> documents, IReadOnlyCollection<ApiServerEndpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(endpoints);
        return [.. documents.Select(d => d.Object is V1NetworkPolicy p && p.Metadata?.Annotations?.TryGetValue(Annotation, out var v) == true && v == "true"
            ? d with { Object = Render(p, endpoints) }
            : d)];
    }

    /// <summary>A copy of <paramref name="policy"/> whose egress allows exactly the API server's addresses and ports.</summary>
    public static V1NetworkPolicy Render(V1NetworkPolicy policy, IReadOnlyCollection<ApiServerEndpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(endpoints);
        var copy = KubernetesJson.Deserialize<V1NetworkPolicy>(KubernetesJson.Serialize(policy));
        copy.Spec.PolicyTypes = [.. (copy.Spec.PolicyTypes ?? []).Union(["Egress"])];
        copy.Spec.Egress =
        [
            new V1NetworkPolicyEgressRule
            {
                To = [.. endpoints.Select(e => e.Address).Distinct().Order(StringComparer.Ordinal).Select(a => new V1NetworkPolicyPeer
                {
                    IpBlock = new V1IPBlock { Cidr = $"{a}/{(IPAddress.Parse(a).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32)}" },
                })],
                Ports = [.. endpoints.Select(e => e.Port).Distinct().Order().Select(p => new V1NetworkPolicyPort { Protocol = "TCP", Port = p })],
            },
        ];
        copy.Metadata.Annotations[Annotation + "-rendered"] = string.Join(", ", endpoints.Select(e => $"{e.Address}:{e.Port} ({e.Source})"));
        return copy;
    }
}
