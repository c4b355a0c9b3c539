using System.Collections.Immutable;
using System.Net;
using Harness.Deployment;
using Harness.Kubernetes;
using Harness.NetworkPolicies;
using Harness.Verdicts;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Runs;

/// <summary>
/// The half of the egress verdict that probes cannot give: whether any NetworkPolicy in force lets the operator's pod
/// reach an address outside the cluster. On a cluster the policies are read from the API server (what is in force, not
/// what the manifests say) and the cluster's own ranges are learned from it; locally the manifests are read.
/// </summary>
internal interface IEgressPolicyStage
{
    Task<EgressReach> AnalyzeAsync(RunSession session, OperatorUnderTest op, AddressRanges declared);
}

/// <summary>The policies in force on the cluster, and the cluster's ranges (node podCIDRs, ServiceCIDRs, node and API server addresses).</summary>
internal sealed class ClusterEgressPolicyStage(IKubernetes client) : IEgressPolicyStage
{
    public async Task<EgressReach> AnalyzeAsync(RunSession session, OperatorUnderTest op, AddressRanges declared)
    {
        var ct = session.Cancellation;
        V1NetworkPolicyList policies;
        try
        {
            policies = await client.NetworkingV1.ListNamespacedNetworkPolicyAsync(op.Target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (HttpOperationException e)
        {
            // Without the policies in force the probes prove only their own destinations: never a pass.
            return new EgressReach(EgressReachStatus.Undetermined, [],
                [$"the NetworkPolicies in namespace {op.Target.Namespace} could not be listed (HTTP {(int?)e.Response?.StatusCode}: {KubernetesExec.Status(e)?.Message ?? e.Message}); grant list on networkpolicies there"]);
        }
        string? podIp = null;
        if (op.Target.PodName is { } pod)
        {
            try
            {
                podIp = (await client.CoreV1.ReadNamespacedPodAsync(pod, op.Target.Namespace, cancellationToken: ct).ConfigureAwait(false)).Status?.PodIP;
            }
            catch (HttpOperationException)
            {
                // Only a consistency check of the pod ranges; the ranges stand without it.
            }
        }
        var cluster = await ClusterAddressReader.ReadAsync(client, podIp, ct).ConfigureAwait(false);
        return EgressReachAnalyzer.Analyze(policies.Items, op.Target.Namespace, op.Target.PodMetadata.Labels, cluster, declared);
    }
}

/// <summary>No cluster: the manifests' policies, with the API-server policy taken as the rendering the harness would give it.</summary>
internal sealed class ManifestEgressPolicyStage : IEgressPolicyStage
{
    public Task<EgressReach> AnalyzeAsync(RunSession session, OperatorUnderTest op, AddressRanges declared) =>
        Task.FromResult(EgressPolicyVerdict.FromManifests(op, declared));
}

/// <summary>Reads what a cluster owns. Anything it may not read makes the result incomplete, never wrong.</summary>
internal static class ClusterAddressReader
{
    /// <summary>Reads node podCIDRs and addresses, ServiceCIDRs and the API server's addresses.</summary>
    /// <param name="client">The cluster.</param>
    /// <param name="podIp">A pod address that must fall in the pod ranges (the operator's), or null.</param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<ClusterAddresses> ReadAsync(IKubernetes client, string? podIp, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        var owned = AddressRanges.Empty;
        var sources = new List<string>();
        var incomplete = new List<string>();

        var podRanges = AddressRanges.Empty;
        try
        {
            var nodes = await client.CoreV1.ListNodeAsync(cancellationToken: ct).ConfigureAwait(false);
            var cidrs = nodes.Items.SelectMany(n => n.Spec?.PodCIDRs ?? (n.Spec?.PodCIDR is { } one ? [one] : [])).Distinct(StringComparer.Ordinal).ToList();
            var addresses = nodes.Items.SelectMany(n => n.Status?.Addresses ?? []).Where(a => a.Type is "InternalIP" or "ExternalIP").Select(a => a.Address).Distinct(StringComparer.Ordinal).ToList();
            podRanges = Ranges(cidrs);
            var nodeAddresses = Ranges(addresses);
            owned = owned.Union(podRanges).Union(nodeAddresses);
            if (cidrs.Count == 0)
            {
                incomplete.Add("no node has a podCIDR (the CNI allocates pod addresses itself)");
            }
            else
            {
                sources.Add($"pod ranges {podRanges} (node podCIDRs)");
            }
            if (!nodeAddresses.IsEmpty)
            {
                sources.Add($"node addresses {nodeAddresses}");
            }
        }
        catch (HttpOperationException e)
        {
            incomplete.Add($"nodes could not be listed ({Why(e)})");
        }
        if (podIp is not null && IPAddress.TryParse(podIp, out var ip) && !podRanges.IsEmpty && !podRanges.Contains(ip))
        {
            incomplete.Add($"the operator's pod address {podIp} is in no node podCIDR (the CNI allocates pod addresses from ranges of its own)");
        }

        try
        {
            var serviceCidrs = await client.NetworkingV1.ListServiceCIDRAsync(cancellationToken: ct).ConfigureAwait(false);
            var cidrs = serviceCidrs.Items.SelectMany(s => s.Spec?.Cidrs ?? []).Distinct(StringComparer.Ordinal).ToList();
            if (cidrs.Count == 0)
            {
                incomplete.Add("no ServiceCIDR object names the service range");
            }
            else
            {
                var services = Ranges(cidrs);
                owned = owned.Union(services);
                sources.Add($"service ranges {services} (ServiceCIDRs)");
            }
        }
        catch (HttpOperationException e)
        {
            incomplete.Add(e.Response?.StatusCode == HttpStatusCode.NotFound
                ? "the cluster serves no ServiceCIDR API (Kubernetes before 1.33), so the service range is not known"
                : $"ServiceCIDRs could not be listed ({Why(e)})");
        }

        var api = AddressRanges.Empty;
        try
        {
            var endpoints = await ApiServerPolicy.DiscoverAsync(client, ct).ConfigureAwait(false);
            api = Ranges(endpoints.Select(e => e.Address));
            sources.Add($"API server {api}");
        }
        catch (Exception e) when (e is HttpOperationException or DeploymentException)
        {
            incomplete.Add($"the API server's addresses could not be read ({e.Message})");
        }
        return new ClusterAddresses(owned, api, [.. sources], incomplete.Count == 0 ? null : string.Join("; ", incomplete));
    }

    private static AddressRanges Ranges(IEnumerable<string> cidrs) =>
        cidrs.Aggregate(AddressRanges.Empty, (set, c) => AddressRanges.TryParse(c, out var r) ? set.Union(r) : set);

    private static string Why(HttpOperationException e) =>
        KubernetesExec.Status(e) is { } status ? $"{(int?)e.Response?.StatusCode} {status.Reason}: {status.Message}" : $"HTTP {(int?)e.Response?.StatusCode}";
}

/// <summary>Combines the probes' egress outcome with the analysis of the policies in force. Pure.</summary>
public static class EgressPolicyVerdict
{
    /// <summary>The analysis of the manifests' policies for the operator, without a cluster.</summary>
    public static EgressReach FromManifests(OperatorUnderTest op, AddressRanges? declared = null)
    {
        ArgumentNullException.ThrowIfNull(op);
        var ns = op.WorkloadDocument?.Namespace ?? op.Target.Namespace;
        var policies = op.Manifests.Where(d => d.Object is V1NetworkPolicy).Select(d =>
        {
            var p = KubernetesJson.Deserialize<V1NetworkPolicy>(KubernetesJson.Serialize(d.Object));
            p.Metadata ??= new V1ObjectMeta();
            p.Metadata.NamespaceProperty ??= d.Namespace ?? ns;
            return p;
        }).ToList();
        // The harness renders this policy with the cluster's API server addresses when it deploys; here it stands for that allowance.
        var rendered = policies.Where(p => p.Metadata.Annotations is { } a && a.TryGetValue(ApiServerPolicy.Annotation, out var v) && v == "true").ToList();
        var reach = EgressReachAnalyzer.Analyze([.. policies.Except(rendered)], ns, op.Target.PodMetadata.Labels,
            ClusterAddresses.Unknown("no cluster: the manifests alone"), declared);
        return rendered.Count == 0 ? reach : reach with
        {
            Evidence = [.. rendered.Select(p => $"NetworkPolicy {p.Metadata.NamespaceProperty}/{p.Metadata.Name} ({ApiServerPolicy.Annotation}) is rendered with the API server's addresses at deploy: the allow-list"), .. reach.Evidence],
        };
    }

    /// <summary>
    /// The egress check from both halves: the probes (the default deny bites for their destinations) and the policies in
    /// force (no rule opens the outside). Passed only when both hold; an open rule fails it; an undetermined analysis, or
    /// none, keeps a pass Inconclusive; a disagreement between the halves is said in the evidence.
    /// </summary>
    public static CheckOutcome Combine(CheckOutcome probes, EgressReach? reach)
    {
        ArgumentNullException.ThrowIfNull(probes);
        var (becomes, lines, disagreement) = Judge(probes.Status == ProbeStatus.Passed, probes.Status == ProbeStatus.Failed, reach);
        if (reach is null && becomes is null)
        {
            return probes;
        }
        return probes with
        {
            Status = becomes ?? probes.Status,
            Evidence = [.. probes.Evidence, .. lines, .. disagreement is null ? [] : new[] { disagreement }],
            Tested = probes.Tested || reach is not null,
        };
    }

    /// <summary>
    /// What the policies in force make of the probes' verdict, the one table <see cref="Combine"/> and the checklist's
    /// <c>egress-default-deny</c> share: the status it becomes (null: the probes' stands), the evidence lines it adds,
    /// and a disagreement between the halves, if any. Pure.
    /// </summary>
    internal static (ProbeStatus? Becomes, ImmutableArray<string> Lines, string? Disagreement) Judge(bool probesPassed, bool probesFailed, EgressReach? reach)
    {
        if (reach is null)
        {
            return probesPassed ? (ProbeStatus.Inconclusive, ["policies in force: not analysed, so the probes prove only that their own destinations are blocked"], null) : (null, [], null);
        }
        ImmutableArray<string> lines = [.. reach.Evidence.Select(e => "policies in force: " + e)];
        return reach.Status switch
        {
            EgressReachStatus.Open => (ProbeStatus.Failed, lines, probesPassed
                ? "disagreement: the probes were denied, but a rule in force opens addresses outside the cluster, so the probes' destinations are not the internet the operator can reach"
                : null),
            EgressReachStatus.Undetermined when probesPassed => (ProbeStatus.Inconclusive, lines, null),
            EgressReachStatus.Closed when probesFailed => (null, lines,
                "disagreement: no rule in force allows an outside address, yet a probe got through: the CNI may not enforce the policies, or another policy layer allows it"),
            _ => (null, lines, null),
        };
    }
}
