using Harness.Probes;
using Harness.Protocol;

namespace Harness.Tests.Probes;

public sealed class ProbePlanTests
{
    private static readonly EgressTarget Sink = new("sink", "172.30.0.2", "harness-sink", 8080, "tok");

    [Fact]
    public void Create_EveryDenialAcceptsOnlyMechanismsThatProveItAndHasAControlOrIsItsOwn()
    {
        var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [Sink], IncludeKubernetesApi = true });

        foreach (var p in plan.Probes.Where(p => p.Expectation.ExpectDenied))
        {
            // The accepted mechanisms are those that can only come from the protection under test, per family.
            Mechanism[] expected = p.Id switch
            {
                _ when p.Id.StartsWith("fs.", StringComparison.Ordinal) => [Mechanism.ReadOnlyFilesystem],
                "kernel.setuid-helper" => [Mechanism.SetuidIgnored],
                _ when p.Id.StartsWith("kernel.", StringComparison.Ordinal) => [Mechanism.OperationNotPermitted],
                "proc.non-root" => [Mechanism.NonRootUser],
                "proc.capabilities" => [Mechanism.NoCapabilities],
                "proc.no-new-privs" => [Mechanism.NoNewPrivileges],
                "proc.seccomp" => [Mechanism.SeccompFilter],
                "egress.sink.tcp" => [Mechanism.ConnectTimeout, Mechanism.NetworkUnreachable, Mechanism.HostUnreachable, Mechanism.OperationNotPermitted],
                "egress.sink.http" => [Mechanism.ConnectTimeout, Mechanism.NetworkUnreachable, Mechanism.HostUnreachable, Mechanism.OperationNotPermitted, Mechanism.DnsNameNotFound, Mechanism.DnsTimeout],
                "api.secrets.namespace" or "api.secrets.cluster" => [Mechanism.RbacForbidden],
                "api.pod.privileged" or "api.pod.other-namespace" => [Mechanism.RbacForbidden, Mechanism.PodSecurityRejected],
                "sa.token" => [Mechanism.NoTokenMounted, Mechanism.BoundShortLivedToken],
                _ => throw new InvalidOperationException($"{p.Id}: add its family to this test"),
            };
            p.Expectation.Accepted.Should().BeEquivalentTo(expected, p.Id);
            p.Expectation.Accepted.Should().NotContain([Mechanism.ConnectionRefused, Mechanism.PermissionDenied], $"{p.Id}: a closed port or a file mode proves nothing about the protection");
            (p.Control is not null || p.Attempt.Kind == StepKinds.ProcessStatus).Should().BeTrue($"{p.Id} needs a positive control");
        }
    }

    [Fact]
    public void TargetPlan_SharedSteps_AppearOnce()
    {
        var plan = StandardProbes.Create(new StandardProbeOptions());

        var steps = plan.TargetPlan().Steps;

        steps.Select(s => s.Id).Should().OnlyHaveUniqueItems();
        steps.Count(s => s.Kind == StepKinds.ProcessStatus).Should().Be(1, "four attribute probes read one /proc/self/status");
    }

    [Fact]
    public void OutsidePlan_HoldsExactlyTheEgressControls()
    {
        var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [Sink] });

        plan.OutsidePlan()!.Steps.Select(s => s.Id).Should().BeEquivalentTo("control.egress.sink.tcp", "control.egress.sink.http");
        plan.TargetPlan().Steps.Should().NotContain(s => s.Id.StartsWith("control.egress", StringComparison.Ordinal));
    }

    [Fact]
    public void OutsidePlan_NoEgressTargets_IsNull()
    {
        StandardProbes.Create(new StandardProbeOptions()).OutsidePlan().Should().BeNull();
    }

    [Fact]
    public void Egress_IpProbeUsesTheLiteral_HttpProbeUsesTheName()
    {
        var plan = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [Sink] });

        plan.Probes.Single(p => p.Id == "egress.sink.tcp").Attempt.Target.Should().Be("172.30.0.2:8080");
        plan.Probes.Single(p => p.Id == "egress.sink.http").Attempt.Target.Should().Be("http://harness-sink:8080/");
        plan.Probes.Single(p => p.Id == "egress.sink.http").Control!.SinkToken.Should().Be("tok");
    }

    [Fact]
    public void Constructor_DuplicateProbeIds_Throws()
    {
        var probe = StandardProbes.Create(new StandardProbeOptions()).Probes[0];

        var act = () => new ProbePlan([probe, probe]);

        act.Should().Throw<ArgumentException>().WithMessage($"*'{probe.Id}'*");
    }

    [Fact]
    public void Constructor_TwoDifferentStepsWithOneId_Throws()
    {
        var a = StandardProbes.Create(new StandardProbeOptions()).Probes.Single(p => p.Id == "fs.root");
        var b = a with { Id = "fs.other", Attempt = a.Attempt with { Target = "/other" } };

        var act = () => new ProbePlan([a, b]);

        act.Should().Throw<ArgumentException>().WithMessage("*'fs.root'*");
    }

    [Fact]
    public void Create_RelativeWritableDirectory_IsRejected()
    {
        var act = () => StandardProbes.Create(new StandardProbeOptions { WritableDirectory = "tmp" });

        act.Should().Throw<ArgumentException>().WithMessage("*WritableDirectory*absolute*");
    }

    [Fact]
    public void Expectation_DeniedWithoutMechanism_Throws()
    {
        ((Action)(() => Expectation.Denied())).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void PrivilegedPod_IsValidJsonThatEveryLevelRejects()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(StandardProbes.PrivilegedPodJson("ns1"));

        doc.RootElement.GetProperty("metadata").GetProperty("namespace").GetString().Should().Be("ns1");
        doc.RootElement.GetProperty("spec").GetProperty("containers")[0].GetProperty("securityContext").GetProperty("privileged").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public void Create_OnACluster_AddsTheExpectedAllowedDnsAndApiProbes()
    {
        var cluster = StandardProbes.Create(new StandardProbeOptions { IncludeKubernetesApi = true, WritableDirectory = "/tmp" });
        var local = StandardProbes.Create(new StandardProbeOptions());
        local.Probes.Should().NotContain(p => p.Id == "fs.writable", "no writable directory declared: nothing must be writable");

        cluster.Probes.Where(p => p.Check == HardeningCheck.RequiredAccess).Select(p => p.Id).Should().Contain(["dns.cluster", "api.self", "fs.writable"]);
        cluster.Probes.Single(p => p.Id == "dns.cluster").Expectation.ExpectDenied.Should().BeFalse();
        cluster.Probes.Single(p => p.Id == "dns.cluster").Attempt.Target.Should().Be("kubernetes.default.svc.cluster.local");
        local.Probes.Should().NotContain(p => p.Id == "dns.cluster" || p.Id.StartsWith("api.", StringComparison.Ordinal));
    }

    [Fact]
    public void Egress_HttpsTargetWithPinnedAddress_PassesCaAndAddressToTheAgent()
    {
        var target = new EgressTarget("sink-tls", "172.30.0.2", "harness-sink", 8443, "tok", "https", "-----BEGIN CERTIFICATE-----", PinAddress: true);

        var step = StandardProbes.Create(new StandardProbeOptions { EgressTargets = [target] }).Probes.Single(p => p.Id == "egress.sink-tls.https").Attempt;

        step.Target.Should().Be("https://harness-sink:8443/");
        step.Args.Should().Contain("caPem", "-----BEGIN CERTIFICATE-----").And.Contain("connectTo", "172.30.0.2");
    }
}
