// NetworkPolicies: what the manifests' NetworkPolicies allow the operator's pods (pure analysis).
using System.Collections.Immutable;
using System.Globalization;
using Harness.Manifests;
using Harness.Preflight;
using k8s.Models;

namespace Harness.NetworkPolicies;

/// <summary>What the NetworkPolicies in a set of manifests do to one workload's pods.</summary>
/// <param name="EgressIsolated">Some policy selects the pods for egress: everything not allowed is denied.</param>
/// <param name="IngressIsolated">Some policy selects the pods for ingress.</param>
/// <param name="Egress">The egress the policies allow, one line per rule (empty when not isolated: then everything is allowed).</param>
/// <param name="Ingress">The ingress the policies allow.</param>
/// <param name="Policies">The policies that select the pods.</param>
public sealed record NetworkPolicySummary(
    bool EgressIsolated,
    bool IngressIsolated,
    ImmutableArray<string> Egress,
    ImmutableArray<string> Ingress,
    ImmutableArray<string> Policies)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);
}

/// <summary>
/// Offline NetworkPolicy analysis for an operator's pods: is egress default-deny, what is allowed (the API server, DNS on
/// 53 UDP/TCP, other peers and ports), is ingress open. Follows the API's semantics: a policy without <c>policyTypes</c>
/// isolates ingress always and egress when it has an <c>egress</c> section; allowed traffic is the union of the rules.
/// </summary>
public static class NetworkPolicyAnalyzer
{
    private static readonly ImmutableHashSet<int> ApiServerPorts = [443, 6443];

    /// <summary>Finding: no policy selects the pods for Egress.</summary>
    public const string EgressOpen = "NETPOL-EGRESS-OPEN";

    /// <summary>Finding: a policy allows egress to any address on any port.</summary>
    public const string EgressAny = "NETPOL-EGRESS-ANY";

    /// <summary>Whether the findings say the pods' egress is open (no default deny in effect). Pure.</summary>
    public static bool EgressIsOpen(IEnumerable<Finding> findings) => findings.Any(f => f.Id is EgressOpen or EgressAny);

    /// <summary>Summarizes the policies that select pods with these labels in this namespace.</summary>
    public static NetworkPolicySummary Summarize(IEnumerable<ManifestDocument> documents, string ns, IDictionary<string, string>? podLabels, string defaultNamespace = "default")
    {
        var selecting = Selecting(documents, ns, podLabels, defaultNamespace);
        var egressIsolated = selecting.Any(p => HasType(p.Spec, "Egress"));
        var ingressIsolated = selecting.Any(p => HasType(p.Spec, "Ingress"));
        var egress = selecting.Where(p => HasType(p.Spec, "Egress")).SelectMany(p => p.Spec?.Egress ?? []).Select(r => Describe(r.To, r.Ports, "to")).ToImmutableArray();
        var ingress = selecting.Where(p => HasType(p.Spec, "Ingress")).SelectMany(p => p.Spec?.Ingress ?? []).Select(r => Describe(r.FromProperty, r.Ports, "from")).ToImmutableArray();
        return new NetworkPolicySummary(egressIsolated, ingressIsolated, egress, ingress, [.. selecting.Select(p => p.Metadata?.Name ?? "")]);
    }

    /// <summary>Findings for one workload.</summary>
    /// <param name="documents">All manifests (the policies are looked up among them).</param>
    /// <param name="workload">The workload's document.</param>
    /// <param name="defaultNamespace">Namespace for objects that do not name one.</param>
    public static ImmutableArray<Finding> Analyze(IReadOnlyList<ManifestDocument> documents, ManifestDocument workload, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(workload);
        if (!PodTemplates.TryGet(workload.Object, out var metadata, out _))
        {
            return [];
        }
        var ns = workload.Namespace ?? defaultNamespace;
        var subject = $"{workload.Kind} {ns}/{workload.Name}";
        var selecting = Selecting(documents, ns, metadata?.Labels, defaultNamespace);
        var findings = ImmutableArray.CreateBuilder<Finding>();
        void Add(string id, FindingSeverity severity, string message) => findings.Add(new Finding(id, severity, subject, message, workload.Path, workload.Line));

        var egressPolicies = selecting.Where(p => HasType(p.Spec, "Egress")).ToList();
        if (egressPolicies.Count == 0)
        {
            Add(EgressOpen, FindingSeverity.Error, $"egress is not default-deny: no NetworkPolicy in namespace {ns} selects these pods for Egress, so they can reach any address");
        }
        else
        {
            var rules = egressPolicies.SelectMany(p => (p.Spec?.Egress ?? []).Select(r => (Policy: p.Metadata?.Name, Rule: r))).ToList();
            foreach (var (policy, rule) in rules)
            {
                var anyPeer = rule.To is null || rule.To.Count == 0 || rule.To.Any(IsEverywhere);
                var anyPort = rule.Ports is null || rule.Ports.Count == 0;
                if (anyPeer && anyPort)
                {
                    Add(EgressAny, FindingSeverity.Error, $"NetworkPolicy {policy} allows egress to any address on any port, which undoes the default deny");
                }
                else if (anyPeer && !(rule.Ports ?? []).All(IsDns))
                {
                    Add("NETPOL-EGRESS-WIDE", FindingSeverity.Warning, $"NetworkPolicy {policy} allows egress {Describe(rule.To, rule.Ports, "to")}: that includes the internet; name the API server's address instead");
                }
            }
            if (!rules.Any(r => (r.Rule.Ports ?? []).Any(IsDns) || r.Rule.Ports is null || r.Rule.Ports.Count == 0))
            {
                Add("NETPOL-NO-DNS", FindingSeverity.Warning, "egress is default-deny and no rule allows DNS (53/UDP and 53/TCP): name resolution will fail");
            }
            if (!rules.Any(r => r.Rule.Ports is null || r.Rule.Ports.Count == 0 || r.Rule.Ports.Any(p => PortNumber(p) is { } n && ApiServerPorts.Contains(n))))
            {
                Add("NETPOL-NO-API", FindingSeverity.Warning, "egress is default-deny and no rule allows the API server (443 or 6443): the operator cannot reach it");
            }
        }

        var ingressPolicies = selecting.Where(p => HasType(p.Spec, "Ingress")).ToList();
        if (ingressPolicies.Count == 0)
        {
            Add("NETPOL-INGRESS-OPEN", FindingSeverity.Warning, $"ingress is open: no NetworkPolicy in namespace {ns} selects these pods for Ingress");
        }
        else if (ingressPolicies.SelectMany(p => p.Spec?.Ingress ?? []).Any(r => (r.FromProperty is null || r.FromProperty.Count == 0 || r.FromProperty.Any(IsEverywhere)) && (r.Ports is null || r.Ports.Count == 0)))
        {
            Add("NETPOL-INGRESS-ANY", FindingSeverity.Warning, "a NetworkPolicy allows ingress from any address on any port");
        }
        return findings.ToImmutable();
    }

    private static List<V1NetworkPolicy> Selecting(IEnumerable<ManifestDocument> documents, string ns, IDictionary<string, string>? podLabels, string defaultNamespace) =>
        documents
            .Where(d => d.Object is V1NetworkPolicy && (d.Namespace ?? defaultNamespace) == ns)
            .Select(d => (V1NetworkPolicy)d.Object!)
            .Where(p => Labels.Matches(p.Spec?.PodSelector ?? new V1LabelSelector(), podLabels))
            .ToList();

    private static bool HasType(V1NetworkPolicySpec? spec, string type)
    {
        if (spec?.PolicyTypes is { Count: > 0 } types)
        {
            return types.Contains(type);
        }
        // Without policyTypes: Ingress always, Egress when the policy has an egress section.
        return type == "Ingress" || spec?.Egress is not null;
    }

    private static bool IsEverywhere(V1NetworkPolicyPeer peer) =>
        (peer.IpBlock is { } block && (block.Cidr is "0.0.0.0/0" or "::/0"))
        || (peer.IpBlock is null && peer.PodSelector is null && peer.NamespaceSelector is { } nsSel && IsEmpty(nsSel));

    private static bool IsEmpty(V1LabelSelector selector) => (selector.MatchLabels?.Count ?? 0) == 0 && (selector.MatchExpressions?.Count ?? 0) == 0;

    private static bool IsDns(V1NetworkPolicyPort port) => PortNumber(port) == 53;

    private static int? PortNumber(V1NetworkPolicyPort port) =>
        port.Port?.Value is { } v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static string Describe(IList<V1NetworkPolicyPeer>? peers, IList<V1NetworkPolicyPort>? ports, string direction)
    {
        var where = peers is null || peers.Count == 0 ? "any address" : string.Join(" or ", peers.Select(Describe));
        var what = ports is null || ports.Count == 0
            ? "any port"
            : string.Join(", ", ports.Select(p => $"{p.Port?.Value ?? "any"}{(p.EndPort is { } end ? $"-{end}" : "")}/{p.Protocol ?? "TCP"}"));
        return $"{what} {direction} {where}";
    }

    private static string Describe(V1NetworkPolicyPeer peer)
    {
        if (peer.IpBlock is { } block)
        {
            return block.Except is { Count: > 0 } except ? $"{block.Cidr} except {string.Join(",", except)}" : block.Cidr;
        }
        var ns = peer.NamespaceSelector is null ? "this namespace" : IsEmpty(peer.NamespaceSelector) ? "all namespaces" : $"namespaces {Selector(peer.NamespaceSelector)}";
        var pods = peer.PodSelector is null || IsEmpty(peer.PodSelector) ? "all pods" : $"pods {Selector(peer.PodSelector)}";
        return $"{pods} in {ns}";
    }

    private static string Selector(V1LabelSelector selector) =>
        string.Join(",", (selector.MatchLabels ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value}")
            .Concat((selector.MatchExpressions ?? []).Select(e => $"{e.Key} {e.OperatorProperty} ({string.Join(",", e.Values ?? [])})")));
}
