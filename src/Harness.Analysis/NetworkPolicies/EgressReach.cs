using System.Collections.Immutable;
using System.Globalization;
using Harness.Manifests;
using k8s.Models;

namespace Harness.NetworkPolicies;

/// <summary>What the cluster owns, for telling in-cluster destinations from the outside.</summary>
/// <param name="Owned">Pod ranges, service ranges and node addresses.</param>
/// <param name="ApiServer">The API server's addresses (the allow-list's one outside destination that is always fine).</param>
/// <param name="Sources">Where each part came from, for the evidence (<c>pod ranges 10.244.0.0/24 (node podCIDRs)</c>).</param>
/// <param name="Incomplete">Why the ranges are not known in full (a list was forbidden, no ServiceCIDR API); null when they are.</param>
public sealed record ClusterAddresses(AddressRanges Owned, AddressRanges ApiServer, ImmutableArray<string> Sources, string? Incomplete)
{
    /// <summary>Nothing is known of the cluster (no cluster, or nothing could be read).</summary>
    public static ClusterAddresses Unknown(string why) => new(AddressRanges.Empty, AddressRanges.Empty, [], why);

    /// <inheritdoc/>
    public override string ToString() => $"{string.Join("; ", Sources)}{(Incomplete is null ? "" : $" (incomplete: {Incomplete})")}";
}

/// <summary>The verdict of <see cref="EgressReachAnalyzer"/>.</summary>
public enum EgressReachStatus
{
    /// <summary>No rule in force lets the pods reach an address outside the cluster (DNS and the API server aside).</summary>
    Closed,

    /// <summary>A rule (or the absence of any egress policy) lets the pods reach addresses outside the cluster.</summary>
    Open,

    /// <summary>A rule allows private addresses and the cluster's own ranges are not known, so whether they are outside cannot be told.</summary>
    Undetermined,
}

/// <summary>One egress rule that opens addresses outside the cluster.</summary>
/// <param name="Policy"><c>namespace/name</c> of the NetworkPolicy.</param>
/// <param name="Rule">The rule's position (1-based) in <c>spec.egress</c> and what it allows.</param>
/// <param name="Outside">The addresses outside the cluster it allows.</param>
/// <param name="Internet">True when <paramref name="Outside"/> holds public (internet) addresses.</param>
public sealed record EgressOpening(string Policy, string Rule, AddressRanges Outside, bool Internet)
{
    /// <summary>One evidence line naming the policy, the rule and an example address.</summary>
    public override string ToString() =>
        $"NetworkPolicy {Policy} {Rule} allows {(Internet ? "the internet" : "private addresses outside the cluster")}: {Outside} (e.g. {Outside.First})";
}

/// <summary>What the NetworkPolicies in force let a pod reach outside the cluster.</summary>
/// <param name="Status">Closed, Open or Undetermined.</param>
/// <param name="Openings">The rules that open the outside (empty when closed).</param>
/// <param name="Evidence">One line per fact: the policies considered, each opening, what was allowed and why that is fine, the ranges used.</param>
public sealed record EgressReach(EgressReachStatus Status, ImmutableArray<EgressOpening> Openings, ImmutableArray<string> Evidence);

/// <summary>
/// Whether the NetworkPolicies that select a pod let it reach any address outside the cluster: the half of an egress
/// verdict that probes cannot give. A probe to a sink proves that the default deny bites for that destination; only the
/// policies in force say that no other rule opens the rest of the world (<c>0.0.0.0/0 except the pod network</c> passes
/// every probe to an in-cluster sink, <c>0.0.0.0/0 except the private ranges</c> every probe to a sink on a private
/// Docker network). Pure.
/// <para>
/// Addresses are sorted into: not routable (loopback, multicast, 0.0.0.0/8: ignored), the cluster's own (pod and service
/// ranges, nodes), the API server (always allowed), destinations the user declared, private addresses outside the
/// cluster (RFC 1918, CGNAT, link-local with cloud metadata, IPv6 ULA), and the internet (the rest). A rule limited to
/// port 53 is the DNS allowance: listed, never an opening. Pod and namespace selectors reach pods only.
/// </para>
/// </summary>
public static class EgressReachAnalyzer
{
    /// <summary>Addresses that are never a destination on the internet or in a private network.</summary>
    public static AddressRanges NotRoutable { get; } = AddressRanges.Parse("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "ff00::/8");

    /// <summary>Private and link-local ranges: outside the cluster unless the cluster owns them, but not the internet.</summary>
    public static AddressRanges Private { get; } = AddressRanges.Parse(
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10");

    /// <summary>Analyses <paramref name="policies"/> (as a cluster holds them, or from manifests) for a pod of <paramref name="ns"/> with <paramref name="podLabels"/>.</summary>
    public static EgressReach Analyze(IEnumerable<V1NetworkPolicy> policies, string ns, IDictionary<string, string>? podLabels, ClusterAddresses cluster, AddressRanges? declared = null)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(cluster);
        declared ??= AddressRanges.Empty;
        var selecting = policies
            .Where(p => (p.Metadata?.NamespaceProperty ?? "default") == ns && Labels.Matches(p.Spec?.PodSelector ?? new V1LabelSelector(), podLabels))
            .Where(p => IsEgress(p.Spec))
            .OrderBy(p => p.Metadata?.Name, StringComparer.Ordinal)
            .ToList();
        var evidence = ImmutableArray.CreateBuilder<string>();
        var openings = ImmutableArray.CreateBuilder<EgressOpening>();
        if (selecting.Count == 0)
        {
            var all = AddressRanges.All.Except(NotRoutable);
            openings.Add(new EgressOpening($"(none in namespace {ns})", "selecting these pods for Egress, so every destination", all.Except(Private), Internet: true));
            evidence.Add($"no NetworkPolicy in namespace {ns} selects these pods for Egress: every destination, the internet included, is allowed");
            return new EgressReach(EgressReachStatus.Open, openings.ToImmutable(), evidence.ToImmutable());
        }
        evidence.Add($"policies in force that select these pods for Egress: {string.Join(", ", selecting.Select(p => $"{p.Metadata?.NamespaceProperty}/{p.Metadata?.Name}"))}");
        var undetermined = new List<string>();
        foreach (var policy in selecting)
        {
            var name = $"{policy.Metadata?.NamespaceProperty}/{policy.Metadata?.Name}";
            var rules = policy.Spec?.Egress ?? [];
            for (var i = 0; i < rules.Count; i++)
            {
                var rule = rules[i];
                var ruleText = $"egress rule {(i + 1).ToString(CultureInfo.InvariantCulture)} ({DescribePorts(rule.Ports)} to {DescribePeers(rule.To)})";
                var allowed = Allowed(rule.To);
                var candidates = allowed.Except(NotRoutable).Except(cluster.Owned);
                var api = candidates.Intersect(cluster.ApiServer);
                candidates = candidates.Except(cluster.ApiServer);
                var mine = candidates.Intersect(declared);
                candidates = candidates.Except(declared);
                if (!api.IsEmpty)
                {
                    evidence.Add($"NetworkPolicy {name} {ruleText} allows the API server ({api}): the allow-list");
                }
                if (!mine.IsEmpty)
                {
                    evidence.Add($"NetworkPolicy {name} {ruleText} allows {mine}, declared as an allowed destination");
                }
                if (candidates.IsEmpty)
                {
                    continue;
                }
                if (IsDnsOnly(rule.Ports))
                {
                    evidence.Add($"NetworkPolicy {name} {ruleText} is the DNS allowance: port 53 only, to {candidates} (a resolver there is reachable; nothing else is)");
                    continue;
                }
                var publicPart = candidates.Except(Private);
                var privatePart = candidates.Intersect(Private);
                if (!publicPart.IsEmpty)
                {
                    openings.Add(new EgressOpening(name, ruleText, publicPart, Internet: true));
                }
                else if (cluster.Incomplete is null)
                {
                    openings.Add(new EgressOpening(name, ruleText, privatePart, Internet: false));
                }
                else
                {
                    undetermined.Add($"NetworkPolicy {name} {ruleText} allows private addresses {privatePart}, and the cluster's own ranges are not known ({cluster.Incomplete}): they may be outside the cluster");
                }
            }
        }
        evidence.AddRange(openings.Select(o => o.ToString()));
        evidence.AddRange(undetermined);
        evidence.Add(cluster.Sources.IsEmpty
            ? $"cluster ranges: not known ({cluster.Incomplete ?? "none given"})"
            : $"cluster ranges: {cluster}");
        var status = openings.Count > 0 ? EgressReachStatus.Open : undetermined.Count > 0 ? EgressReachStatus.Undetermined : EgressReachStatus.Closed;
        if (status == EgressReachStatus.Closed)
        {
            evidence.Add("no rule in force allows an address outside the cluster (DNS and the API server aside)");
        }
        return new EgressReach(status, openings.ToImmutable(), evidence.ToImmutable());
    }

    /// <summary>The addresses a rule's peers allow: everything without peers; each ipBlock's cidr minus its excepts; selectors reach pods (in the cluster: none here).</summary>
    private static AddressRanges Allowed(IList<V1NetworkPolicyPeer>? peers)
    {
        if (peers is null || peers.Count == 0)
        {
            return AddressRanges.All;
        }
        var allowed = AddressRanges.Empty;
        foreach (var block in peers.Select(p => p.IpBlock).OfType<V1IPBlock>())
        {
            // The API server rejects malformed CIDRs; from manifests, one that does not parse allows nothing we can name.
            if (AddressRanges.TryParse(block.Cidr, out var cidr))
            {
                var except = (block.Except ?? []).Select(e => AddressRanges.TryParse(e, out var r) ? r : AddressRanges.Empty).Aggregate(AddressRanges.Empty, (a, b) => a.Union(b));
                allowed = allowed.Union(cidr.Except(except));
            }
        }
        return allowed;
    }

    private static bool IsEgress(V1NetworkPolicySpec? spec) =>
        spec?.PolicyTypes is { Count: > 0 } types ? types.Contains("Egress") : spec?.Egress is not null;

    private static bool IsDnsOnly(IList<V1NetworkPolicyPort>? ports) =>
        ports is { Count: > 0 } && ports.All(p => p.Port?.Value == "53" && p.EndPort is null);

    private static string DescribePorts(IList<V1NetworkPolicyPort>? ports) =>
        ports is null || ports.Count == 0 ? "any port" : string.Join(", ", ports.Select(p => $"{p.Port?.Value ?? "any"}{(p.EndPort is { } end ? $"-{end}" : "")}/{p.Protocol ?? "TCP"}"));

    private static string DescribePeers(IList<V1NetworkPolicyPeer>? peers) =>
        peers is null || peers.Count == 0 ? "any address"
        : string.Join(" or ", peers.Select(p => p.IpBlock is { } b
            ? (b.Except is { Count: > 0 } ex ? $"{b.Cidr} except {string.Join(",", ex)}" : b.Cidr)
            : "pods"));
}
