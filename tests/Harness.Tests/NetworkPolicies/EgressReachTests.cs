using Harness.Manifests;
using Harness.NetworkPolicies;
using k8s.Models;

namespace Harness.Tests.NetworkPolicies;

/// <summary>Issue #21: which rules in force open the outside, whatever the probes' destination proves.</summary>
public sealed class EgressReachTests
{
    private static readonly Dictionary<string, string> Pod = new() { ["app"] = "sample-controller" };

    /// <summary>kind's ranges, as a cluster reports them.</summary>
    internal static readonly ClusterAddresses Kind = new(
        AddressRanges.Parse("10.244.0.0/24", "10.96.0.0/12", "172.18.0.2"), AddressRanges.Parse("10.96.0.1", "172.18.0.2"),
        ["pod ranges 10.244.0.0/24", "service ranges 10.96.0.0/12", "node addresses 172.18.0.2"], null);

    private const string DefaultDenyAndApi = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: default-deny, namespace: sc-system}
        spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: apiserver, namespace: sc-system}
        spec:
          podSelector: {matchLabels: {app: sample-controller}}
          policyTypes: [Egress]
          egress:
            - to: [{ipBlock: {cidr: 172.18.0.2/32}}, {ipBlock: {cidr: 10.96.0.1/32}}]
              ports: [{port: 6443}, {port: 443}]
        """;

    /// <summary>The policy of the report: everything but the cluster's pod and service ranges.</summary>
    internal const string AllButTheCluster = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: internet, namespace: sc-system}
        spec:
          podSelector: {matchLabels: {app: sample-controller}}
          policyTypes: [Egress]
          egress:
            - to:
                - ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/16, 10.96.0.0/12]}
        """;

    /// <summary>"Internet yes, internal no".</summary>
    internal const string AllButPrivate = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: internet, namespace: sc-system}
        spec:
          podSelector: {matchLabels: {app: sample-controller}}
          policyTypes: [Egress]
          egress:
            - to:
                - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}
              ports: [{port: 443}]
        """;

    private static List<V1NetworkPolicy> Policies(params string[] yaml) =>
        [.. yaml.SelectMany(y => ManifestLoader.LoadText(y, "policies.yaml")).Select(d => (V1NetworkPolicy)d.Object!)];

    [Fact]
    public void Analyze_AllButTheClusterRanges_IsOpenToTheInternet_NamingThePolicyAndRule()
    {
        var reach = EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi, AllButTheCluster), "sc-system", Pod, Kind);

        reach.Status.Should().Be(EgressReachStatus.Open);
        reach.Openings.Should().ContainSingle(o => o.Internet).Which.Policy.Should().Be("sc-system/internet");
        reach.Evidence.Should().Contain(e => e.StartsWith("NetworkPolicy sc-system/internet egress rule 1 (any port to 0.0.0.0/0 except 10.244.0.0/16,10.96.0.0/12) allows the internet", StringComparison.Ordinal)
            && e.Contains("e.g. 1.0.0.0", StringComparison.Ordinal));
    }

    [Fact]
    public void Analyze_AllButThePrivateRanges_OnOnePort_IsOpenEvenWithoutClusterRanges()
    {
        var reach = EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi, AllButPrivate), "sc-system", Pod, ClusterAddresses.Unknown("not read"));

        reach.Status.Should().Be(EgressReachStatus.Open, "public addresses are outside any cluster's ranges");
        reach.Openings.Should().ContainSingle().Which.Rule.Should().Contain("443/TCP");
    }

    [Fact]
    public void Analyze_DefaultDenyWithTheApiServerOnly_IsClosed()
    {
        var reach = EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi), "sc-system", Pod, Kind);

        reach.Status.Should().Be(EgressReachStatus.Closed);
        reach.Evidence.Should().Contain(e => e.Contains("allows the API server (10.96.0.1/32, 172.18.0.2/32)", StringComparison.Ordinal)
            || e.Contains("no rule in force allows an address outside the cluster", StringComparison.Ordinal));
    }

    [Fact]
    public void Analyze_ApiServerOnAPublicAddress_IsTheAllowListNotTheInternet()
    {
        var managed = Kind with { ApiServer = AddressRanges.Parse("203.0.113.10") };
        var policy = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: api, namespace: sc-system}
            spec:
              podSelector: {}
              policyTypes: [Egress]
              egress: [{to: [{ipBlock: {cidr: 203.0.113.10/32}}], ports: [{port: 443}]}]
            """;

        var reach = EgressReachAnalyzer.Analyze(Policies(policy), "sc-system", Pod, managed);

        reach.Status.Should().Be(EgressReachStatus.Closed);
        reach.Evidence.Should().Contain(e => e.Contains("allows the API server (203.0.113.10/32): the allow-list", StringComparison.Ordinal));
    }

    [Fact]
    public void Analyze_NoEgressPolicy_IsOpen()
    {
        var reach = EgressReachAnalyzer.Analyze([], "sc-system", Pod, Kind);

        reach.Status.Should().Be(EgressReachStatus.Open);
        reach.Evidence.Should().ContainSingle(e => e.Contains("no NetworkPolicy in namespace sc-system selects these pods for Egress", StringComparison.Ordinal));
    }

    [Fact]
    public void Analyze_DnsToAnyAddress_IsTheDnsAllowanceNotAnOpening()
    {
        var dns = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: dns, namespace: sc-system}
            spec:
              podSelector: {}
              policyTypes: [Egress]
              egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]
            """;

        var reach = EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi, dns), "sc-system", Pod, Kind);

        reach.Status.Should().Be(EgressReachStatus.Closed);
        reach.Evidence.Should().Contain(e => e.Contains("is the DNS allowance: port 53 only", StringComparison.Ordinal));
    }

    [Fact]
    public void Analyze_PrivateRangeWithUnknownClusterRanges_IsUndetermined_AndKnownRangesDecide()
    {
        var corp = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: corp, namespace: sc-system}
            spec:
              podSelector: {}
              policyTypes: [Egress]
              egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
            """;

        EgressReachAnalyzer.Analyze(Policies(corp), "sc-system", Pod, ClusterAddresses.Unknown("nodes could not be listed")).Status.Should().Be(EgressReachStatus.Undetermined);
        var open = EgressReachAnalyzer.Analyze(Policies(corp), "sc-system", Pod, Kind);
        open.Status.Should().Be(EgressReachStatus.Open, "10.0.0.0/8 holds far more than the cluster's pod and service ranges");
        open.Openings.Single().Internet.Should().BeFalse();
        open.Openings.Single().ToString().Should().Contain("private addresses outside the cluster");
    }

    [Fact]
    public void Analyze_DeclaredDestination_IsAllowed_AndAnythingWiderIsNot()
    {
        var cloud = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: cloud, namespace: sc-system}
            spec:
              podSelector: {}
              policyTypes: [Egress]
              egress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}], ports: [{port: 443}]}]
            """;

        EgressReachAnalyzer.Analyze(Policies(cloud), "sc-system", Pod, Kind, AddressRanges.Parse("198.51.100.0/24")).Status.Should().Be(EgressReachStatus.Closed);
        var wider = EgressReachAnalyzer.Analyze(Policies(cloud), "sc-system", Pod, Kind, AddressRanges.Parse("198.51.100.0/25"));
        wider.Status.Should().Be(EgressReachStatus.Open);
        wider.Openings.Single().Outside.ToCidrs().Should().Equal("198.51.100.128/25");
    }

    [Fact]
    public void Analyze_PolicyForOtherPodsOrNamespaces_DoesNotCount()
    {
        var other = AllButTheCluster.Replace("app: sample-controller", "app: other", StringComparison.Ordinal);
        EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi, other), "sc-system", Pod, Kind).Status.Should().Be(EgressReachStatus.Closed);
        EgressReachAnalyzer.Analyze(Policies(DefaultDenyAndApi, AllButTheCluster.Replace("namespace: sc-system", "namespace: elsewhere", StringComparison.Ordinal)), "sc-system", Pod, Kind)
            .Status.Should().Be(EgressReachStatus.Closed);
    }
}

public sealed class AddressRangesTests
{
    [Fact]
    public void Except_CutsHolesAndToCidrsGivesTheFewestBlocks()
    {
        var set = AddressRanges.Parse("10.0.0.0/8").Except(AddressRanges.Parse("10.128.0.0/9"));
        set.ToCidrs().Should().Equal("10.0.0.0/9");
        AddressRanges.Parse("0.0.0.0/0").Except(AddressRanges.Parse("128.0.0.0/1")).ToCidrs().Should().Equal("0.0.0.0/1");
        AddressRanges.Parse("192.168.1.0/24").Except(AddressRanges.Parse("192.168.1.0/25")).ToCidrs().Should().Equal("192.168.1.128/25");
    }

    [Fact]
    public void Parse_IsLenientAboutHostBits_AndKeepsFamiliesApart()
    {
        AddressRanges.Parse("10.1.2.3/8").ToCidrs().Should().Equal("10.0.0.0/8");
        var both = AddressRanges.Parse("::/0", "10.0.0.0/8");
        both.Except(AddressRanges.Parse("0.0.0.0/0")).ToCidrs().Should().Equal("::/0");
        both.Contains(System.Net.IPAddress.Parse("fd00::1")).Should().BeTrue();
        both.Contains(System.Net.IPAddress.Parse("11.0.0.1")).Should().BeFalse();
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("not-an-address")]
    [InlineData("10.0.0.0/x")]
    public void TryParse_Malformed_IsFalse(string cidr)
    {
        AddressRanges.TryParse(cidr, out _).Should().BeFalse();
        FluentActions.Invoking(() => AddressRanges.Parse(cidr)).Should().Throw<FormatException>().WithMessage($"*'{cidr}'*");
    }
}
