using System.Collections.Immutable;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Probes;
using Harness.Qualification;
using Harness.Verdicts;
using Harness.Vehicles;
using k8s.Models;

namespace Harness.Tests.Verdicts;

/// <summary>
/// Issue #36 item 3: PodSecurity's refusal of the operator's pods is the verdict. The messages are the real v1.36 API
/// server's (FACTS.md, 2026-12-07, and issue #36).
/// </summary>
public sealed class PodSecurityRefusalTests
{
    private const string Escalation = "pods \"x-6bc8d87f9-np5g9\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"operator\" must set securityContext.allowPrivilegeEscalation=false)";
    private const string HostPort = "pods \"ingress-harness-twin-1\" is forbidden: violates PodSecurity \"restricted:latest\": hostPort (container \"controller\" uses hostPorts 443, 80)";
    private const string NoDropNoSeccomp = "pods \"pg-0\" is forbidden: violates PodSecurity \"restricted:latest\": unrestricted capabilities (container \"postgres\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"postgres\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"postgres\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

    [Theory]
    [InlineData(Escalation, "namespace-psa,no-privilege-escalation")]
    [InlineData(HostPort, "namespace-psa,no-privilege-escalation")]
    [InlineData(NoDropNoSeccomp, "namespace-psa,capabilities-dropped,non-root,seccomp")]
    public void Items_AreTheNamespaceLevelAndTheControlsTheServerNames(string message, string items)
    {
        new PodSecurityRefusal("pod x", message).Items.Select(i => i.Id()).Should().Equal(items.Split(','));
    }

    [Fact]
    public void IsRefusal_OnlyForPodSecurityAdmission_NotForAnRbacForbidden()
    {
        PodSecurityRefusal.IsRefusal(Escalation).Should().BeTrue();
        PodSecurityRefusal.IsRefusal("pods is forbidden: User \"system:serviceaccount:a:b\" cannot create resource \"pods\" in API group \"\" in the namespace \"a\"").Should().BeFalse();
        PodSecurityRefusal.IsRefusal(null).Should().BeFalse();
    }

    private static ManifestDocument Workload(string name) =>
        ManifestLoader.LoadText($"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers: [{{name: operator, image: x:1}}]\n", "op.yaml").Single();

    private static Corev1Event Event(string kind, string owner, string reason, string message, int minute) => new()
    {
        Reason = reason,
        Message = message,
        InvolvedObject = new V1ObjectReference { Kind = kind, Name = owner },
        LastTimestamp = new DateTime(2026, 12, 7, 10, minute, 0, DateTimeKind.Utc),
        Metadata = new V1ObjectMeta { Name = $"{owner}.{minute}" },
    };

    [Fact]
    public void FromTheReplicaSetsFailedCreate_TheOperatorsOwnPodsAreRefused()
    {
        var events = new[]
        {
            Event("ReplicaSet", "greeter-operator-6bc8d87f9", "FailedCreate", "Error creating: " + Escalation, 1),
            Event("ReplicaSet", "other-7c9d", "FailedCreate", "Error creating: " + HostPort, 2),
            Event("Pod", "greeter-operator-6bc8d87f9-abcde", "Scheduled", "Successfully assigned", 3),
        };

        var refusal = OperatorDeployment.PodSecurityRefusal(Workload("greeter-operator"), events);

        refusal.Should().NotBeNull();
        refusal!.Subject.Should().Be("ReplicaSet greeter-operator-6bc8d87f9 (the operator's own pods)");
        refusal.Message.Should().Contain("allowPrivilegeEscalation != false");
        OperatorDeployment.PodSecurityRefusal(Workload("greeter"), events).Should().BeNull("another workload's ReplicaSet is not the operator's");
        OperatorDeployment.PodSecurityRefusal(Workload("greeter-operator"), [Event("ReplicaSet", "greeter-operator-6bc8d87f9", "FailedCreate", "Error creating: pods is forbidden: exceeded quota", 1)])
            .Should().BeNull("only PodSecurity's refusal is a verdict");
    }

    [Fact]
    public void Checklist_NamespaceItemAndTheNamedItemsFail_WithTheServersWords()
    {
        var report = new OperatorHardeningReport(
            new OperatorTarget("ns", new WorkloadRef("Deployment", "op"), "operator", "op", new V1ObjectMeta(), new V1PodSpec(), null),
            new ProbeRunReport([], "twin-pod", [], DateTimeOffset.UnixEpoch, TimeSpan.Zero), [], [])
        {
            PodSecurityRefusal = new PodSecurityRefusal("ReplicaSet op-1", Escalation),
        };
        var inputs = new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, "n/a") { ClusterFindings = Qualifier.ClusterFindings(report) };

        var items = Checklist.Build([], [], inputs).ToDictionary(i => i.Id);

        items["namespace-psa"].Status.Should().Be(ChecklistStatus.Failed);
        items["namespace-psa"].Evidence.Should().Contain(e => e.Contains("PodSecurity refused ReplicaSet op-1", StringComparison.Ordinal));
        items["no-privilege-escalation"].Status.Should().Be(ChecklistStatus.Failed);
        items["no-privilege-escalation"].Evidence.Should().Contain(e => e.Contains("allowPrivilegeEscalation != false", StringComparison.Ordinal));
        items["non-root"].Status.Should().NotBe(ChecklistStatus.Failed, "the server did not name it");
    }
}

/// <summary>
/// Issue #35: on a cluster without DNS (../shared/cluster has none, as many hardened clusters do not), the operator's
/// DNS allowance cannot be judged; its control from the harness's own unpoliced pod shows the cluster lacks the service,
/// which says nothing against the egress item.
/// </summary>
public sealed class ClusterWithoutDnsTests
{
    private static readonly ProbePlan Plan = Harness.Tests.Probes.TestPlans.Standard;

    private static ProbeResult Result(string id, ProbeStatus status, bool controlHeld, Verdict verdict) => new(
        Plan.Probes.Single(p => p.Id == id), verdict, status, "test",
        new Harness.Verdicts.Evidence(id, null, null, null, ImmutableDictionary<string, string>.Empty, 5, new ControlEvidence($"control of {id}", controlHeld, "", Vantage.Outside)));

    private static ChecklistItem Egress(params ProbeResult[] results) =>
        Checklist.Build(results, [], new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, "n/a")
        {
            EgressPolicy = new Harness.NetworkPolicies.EgressReach(Harness.NetworkPolicies.EgressReachStatus.Closed, [], ["no rule in force allows an address outside the cluster"]),
        }).Single(i => i.Id == "egress-default-deny");

    [Fact]
    public void DnsUnprovidedByTheCluster_IsSaidAndLeavesTheItemToTheOtherProbes()
    {
        var sink = Result("egress.sink.tcp", ProbeStatus.Passed, controlHeld: true, Verdict.Denied(Mechanism.ConnectTimeout));
        var dns = Result("dns.cluster", ProbeStatus.Inconclusive, controlHeld: false, Verdict.Denied(Mechanism.DnsTimeout));

        var item = Egress(sink, dns);

        item.Status.Should().Be(ChecklistStatus.Passed);
        item.Evidence.Should().Contain(e => e.StartsWith("dns.cluster: not tested", StringComparison.Ordinal) && e.Contains("the cluster does not provide it", StringComparison.Ordinal));
        item.Controls.Should().NotContain(c => c.Contains("FAILED", StringComparison.Ordinal));
    }

    [Fact]
    public void DnsDeniedWhereTheClusterProvidesIt_StillFailsTheItem()
    {
        var sink = Result("egress.sink.tcp", ProbeStatus.Passed, controlHeld: true, Verdict.Denied(Mechanism.ConnectTimeout));
        var dns = Result("dns.cluster", ProbeStatus.Failed, controlHeld: true, Verdict.Denied(Mechanism.DnsTimeout));

        Egress(sink, dns).Status.Should().Be(ChecklistStatus.Failed);
    }
}
