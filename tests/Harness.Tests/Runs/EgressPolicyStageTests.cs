using System.Collections.Immutable;
using Harness.Manifests;
using Harness.NetworkPolicies;
using Harness.Probes;
using Harness.Protocol;
using Harness.Qualification;
using Harness.Runs;
using Harness.Tests.NetworkPolicies;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Runs;

/// <summary>
/// Issue #21 reproduced: an existing cluster without given targets (the in-cluster sink vantage), an operator whose
/// policies allow 0.0.0.0/0 except the cluster's ranges. The loopback API server answers as the real one: the policies in
/// force, nodes with podCIDRs, the ServiceCIDR, the kubernetes Service and its EndpointSlice.
/// </summary>
public sealed class EgressPolicyStageTests
{
    private const string Ns = "sc-system";

    private static readonly ProbePlan Plan = StandardProbes.Create(new StandardProbeOptions
    {
        EgressTargets = [new EgressTarget("sink", "10.244.0.112", "10.244.0.112", 8080, "tok")],
    });

    /// <summary>The probes to the in-cluster sink, denied by a connect timeout with the control holding: what the report showed.</summary>
    private static ProbeRunReport SinkDenied()
    {
        var probe = Plan.Probes.Single(p => p.Id == "egress.sink.tcp");
        var result = Classifier.ClassifyOne(probe,
            new StepResult { Id = probe.Id, Kind = StepKinds.Tcp, Outcome = StepOutcomes.TimedOut, Data = new Dictionary<string, string> { ["stage"] = "connect" } },
            new StepResult { Id = "control." + probe.Id, Kind = StepKinds.Tcp, Outcome = StepOutcomes.Succeeded });
        return new ProbeRunReport([result], "twin-pod", [], DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3));
    }

    private static OperatorUnderTest Operator() => new(
        new OperatorTarget(Ns, new WorkloadRef("Deployment", "sample-controller"), "controller", "sample-controller",
            new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "sample-controller" } }, new V1PodSpec { Containers = [new V1Container { Name = "controller" }] }, "sample-controller-abc"),
        [], [], "restricted");

    internal static void SeedCluster(FakeKubeApiServer api, params string[] policies)
    {
        foreach (var p in policies.SelectMany(y => ManifestLoader.LoadText(y, "p.yaml")))
        {
            api.Seed(k8s.KubernetesJson.Serialize(p.Object), "kubectl");
        }
        api.Seed("""{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"},"spec":{"podCIDR":"10.244.0.0/24","podCIDRs":["10.244.0.0/24"]},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.2"},{"type":"Hostname","address":"node-1"}]}}""", "kubelet");
        api.Seed("""{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR","metadata":{"name":"kubernetes"},"spec":{"cidrs":["10.96.0.0/12"]}}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"v1","kind":"Service","metadata":{"name":"kubernetes","namespace":"default"},"spec":{"clusterIP":"10.96.0.1","clusterIPs":["10.96.0.1"],"ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":6443}]}}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"kubernetes","namespace":"default","labels":{"kubernetes.io/service-name":"kubernetes"}},"addressType":"IPv4","endpoints":[{"addresses":["172.18.0.2"]}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"sample-controller-abc","namespace":"sc-system","labels":{"app":"sample-controller"}},"spec":{"containers":[{"name":"controller","image":"x"}]},"status":{"podIP":"10.244.0.7"}}""", "kubelet");
    }

    private const string DefaultDeny = """
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
          egress: [{to: [{ipBlock: {cidr: 172.18.0.2/32}}, {ipBlock: {cidr: 10.96.0.1/32}}], ports: [{port: 443}, {port: 6443}]}]
        """;

    [Fact]
    public async Task InClusterSinkVantage_PolicyAllowingAllButTheCluster_FailsEgressDeniedAndTheChecklistItem_NamingThePolicy()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        SeedCluster(api, DefaultDeny, EgressReachTests.AllButTheCluster);

        var reach = await new ClusterEgressPolicyStage(api.Client()).AnalyzeAsync(new RunSession(ct: ct), Operator(), AddressRanges.Empty);
        var report = new OperatorHardeningReport(Operator().Target, SinkDenied(), [], []) { EgressPolicy = reach };

        reach.Status.Should().Be(EgressReachStatus.Open);
        reach.Evidence.Should().Contain(e => e.Contains("pod ranges 10.244.0.0/24 (node podCIDRs)", StringComparison.Ordinal) && e.Contains("service ranges 10.96.0.0/12 (ServiceCIDRs)", StringComparison.Ordinal));
        var egress = report[HardeningCheck.EgressDenied];
        egress.Status.Should().Be(ProbeStatus.Failed, "the probes reached only an in-cluster sink; the rule in force opens the internet");
        egress.Evidence.Should().Contain(e => e.Contains("NetworkPolicy sc-system/internet egress rule 1", StringComparison.Ordinal) && e.Contains("allows the internet", StringComparison.Ordinal));
        egress.Evidence.Should().Contain(e => e.StartsWith("policies in force: disagreement", StringComparison.Ordinal) || e.Contains("disagreement: the probes were denied", StringComparison.Ordinal));
        var item = Checklist.Build(report.Probes.Results, [], new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, "n/a") { EgressPolicy = reach })
            .Single(i => i.Id == "egress-default-deny");
        item.Status.Should().Be(ChecklistStatus.Failed);
        item.Evidence.Should().Contain(e => e.Contains("NetworkPolicy sc-system/internet", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InClusterSinkVantage_DefaultDenyWithTheApiServer_PassesWithBothHalves()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        SeedCluster(api, DefaultDeny);

        var reach = await new ClusterEgressPolicyStage(api.Client()).AnalyzeAsync(new RunSession(ct: ct), Operator(), AddressRanges.Empty);
        var report = new OperatorHardeningReport(Operator().Target, SinkDenied(), [], []) { EgressPolicy = reach };

        reach.Status.Should().Be(EgressReachStatus.Closed);
        report[HardeningCheck.EgressDenied].Status.Should().Be(ProbeStatus.Passed);
        Checklist.Build(report.Probes.Results, [], new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, "n/a") { EgressPolicy = reach })
            .Single(i => i.Id == "egress-default-deny").Status.Should().Be(ChecklistStatus.Passed);
    }

    [Fact]
    public async Task RangesNotReadable_PrivateRule_KeepsThePassInconclusive()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        // No ServiceCIDR, no nodes: as a cluster before 1.33 with credentials that cannot list nodes.
        foreach (var p in ManifestLoader.LoadText(DefaultDeny + "\n---\n" + """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: corp, namespace: sc-system}
            spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 172.16.0.0/12}}]}]}
            """, "p.yaml"))
        {
            api.Seed(k8s.KubernetesJson.Serialize(p.Object), "kubectl");
        }

        var reach = await new ClusterEgressPolicyStage(api.Client()).AnalyzeAsync(new RunSession(ct: ct), Operator(), AddressRanges.Empty);
        var report = new OperatorHardeningReport(Operator().Target, SinkDenied(), [], []) { EgressPolicy = reach };

        reach.Status.Should().Be(EgressReachStatus.Undetermined);
        reach.Evidence.Should().Contain(e => e.Contains("no node has a podCIDR", StringComparison.Ordinal));
        report[HardeningCheck.EgressDenied].Status.Should().Be(ProbeStatus.Inconclusive, "never Passed when the ranges cannot be learned");
    }

    [Fact]
    public void Combine_NotAnalysed_NeverPasses_AndAClosedAnalysisWithAProbeThroughIsADisagreement()
    {
        var passed = new CheckOutcome(HardeningCheck.EgressDenied, ProbeStatus.Passed, ["egress.sink.tcp: Passed"]);
        EgressPolicyVerdict.Combine(passed, null).Status.Should().Be(ProbeStatus.Inconclusive);

        var failed = passed with { Status = ProbeStatus.Failed };
        var closed = new EgressReach(EgressReachStatus.Closed, [], ["no rule in force allows an address outside the cluster"]);
        var combined = EgressPolicyVerdict.Combine(failed, closed);
        combined.Status.Should().Be(ProbeStatus.Failed);
        combined.Evidence.Should().Contain(e => e.StartsWith("disagreement: no rule in force allows an outside address, yet a probe got through", StringComparison.Ordinal));
    }
}
