using Harness.Manifests;
using Harness.NetworkPolicies;

namespace Harness.Tests.NetworkPolicies;

public sealed class NetworkPolicyAnalyzerTests
{
    private const string Workload = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: op, namespace: demo}
        spec:
          selector: {matchLabels: {app: op}}
          template:
            metadata: {labels: {app: op}}
            spec:
              containers: [{name: op, image: x}]
        ---

        """;

    private static string[] Ids(string policies)
    {
        var docs = ManifestLoader.LoadText(Workload + policies, "m.yaml");
        return [.. NetworkPolicyAnalyzer.Analyze(docs, docs[0]).Select(f => f.Id)];
    }

    private static string Policy(string spec, string ns = "demo") => $"""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {"{"}name: p, namespace: {ns}{"}"}
        spec:
        {spec}
        ---

        """;

    [Fact]
    public void Analyze_NoPolicy_EgressOpenIsAnErrorAndIngressOpenAWarning()
    {
        Ids("").Should().Equal("NETPOL-EGRESS-OPEN", "NETPOL-INGRESS-OPEN");
    }

    [Fact]
    public void Analyze_PolicyInAnotherNamespace_DoesNotApply()
    {
        Ids(Policy("  podSelector: {}\n  policyTypes: [Ingress, Egress]", ns: "other")).Should().Contain("NETPOL-EGRESS-OPEN");
    }

    [Fact]
    public void Analyze_PolicyWithoutPolicyTypes_IsolatesIngressAlwaysAndEgressOnlyWithAnEgressSection()
    {
        Ids(Policy("  podSelector: {}")).Should().Equal("NETPOL-EGRESS-OPEN");
        Ids(Policy("  podSelector: {}\n  egress: []")).Should().Equal("NETPOL-NO-DNS", "NETPOL-NO-API");
    }

    [Fact]
    public void Analyze_NonMatchingSelector_DoesNotIsolate()
    {
        Ids(Policy("  podSelector: {matchLabels: {app: other}}\n  policyTypes: [Egress]")).Should().Contain("NETPOL-EGRESS-OPEN");
        Ids(Policy("  podSelector: {matchExpressions: [{key: app, operator: In, values: [op, x]}]}\n  policyTypes: [Egress]")).Should().NotContain("NETPOL-EGRESS-OPEN");
    }

    [Fact]
    public void Analyze_AllowAllEgressRule_UndoesTheDefaultDeny()
    {
        Ids(Policy("  podSelector: {}\n  policyTypes: [Egress, Ingress]\n  egress: [{}]")).Should().Equal("NETPOL-EGRESS-ANY");
    }

    [Fact]
    public void Analyze_HttpsToAnywhere_IsWideButDnsToAnywhereIsNot()
    {
        var spec = """
              podSelector: {}
              policyTypes: [Egress, Ingress]
              egress:
              - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
              - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
                ports: [{port: 443}]
            """;

        Ids(Policy(spec)).Should().Equal("NETPOL-EGRESS-WIDE");
    }

    [Fact]
    public void Analyze_SampleHardenedOperator_HasNoNetworkFindingsAndSummarizesWhatIsAllowed()
    {
        var docs = ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened"));
        var deployment = docs.Single(d => d.Kind == "Deployment");

        NetworkPolicyAnalyzer.Analyze(docs, deployment).Should().BeEmpty();
        var summary = NetworkPolicyAnalyzer.Summarize(docs, "greeter-system", new Dictionary<string, string> { ["app.kubernetes.io/name"] = "greeter-operator" });
        summary.EgressIsolated.Should().BeTrue();
        summary.IngressIsolated.Should().BeTrue();
        summary.Egress.Should().Equal(
            "53/UDP, 53/TCP to pods k8s-app=kube-dns in namespaces kubernetes.io/metadata.name=kube-system",
            "443/TCP, 6443/TCP to 172.18.0.0/16");
        summary.Ingress.Should().BeEmpty();
    }
}
