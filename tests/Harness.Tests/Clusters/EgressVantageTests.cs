using Harness.Runs;
using Harness.Clusters;
using Harness.PodSecurity;
using Harness.Probes;
using Harness.Protocol;

namespace Harness.Tests.Clusters;

public sealed class EgressVantageTests
{
    [Fact]
    public void InClusterSinkPod_IsRestrictedAndKeepsItsKeyInASecret()
    {
        var pod = InClusterSink.Pod("harness-sink-abc", "harness.local/probe:1", SessionId.Parse("abc"), "t0ken", "harness-sink-tls");

        PodSecurityEvaluator.Evaluate(pod.Metadata, pod.Spec, PodSecurityLevel.Restricted, PolicyVersion.Latest).Violations.Should().BeEmpty();
        var container = pod.Spec.Containers.Single();
        container.Command.Should().Equal("/probe/agent", "sink", "--port", "8080", "--tls-port", "8443", "--token", "t0ken");
        container.Env.Should().OnlyContain(e => e.Value == null && e.ValueFrom.SecretKeyRef.Name == "harness-sink-tls", "the TLS key is never written into the pod spec");
        container.ReadinessProbe.TcpSocket.Port.Value.Should().Be("8080");
        pod.Metadata.Labels.Should().ContainKey("io.harness.session").WhoseValue.Should().Be("abc");
        InClusterSink.CertificateName(SessionId.Parse("abc")).Should().EndWith(".invalid", "a name no resolver answers: probes pin the pod's address");
    }

    [Fact]
    public void InClusterCaveat_SaysWhatAnInClusterSinkCannotProve()
    {
        var caveat = EgressVantage.InClusterCaveat("10.244.1.7", "harness-sink-abc");

        caveat.Should().Contain("10.244.1.7").And.Contain("do not prove that traffic leaving the cluster is blocked").And.Contain("analyses the NetworkPolicies in force")
            .And.Contain("0.0.0.0/0 except the pod network").And.Contain("HARNESS_EGRESS_TARGETS");
    }

    private static StepResult Result(string id, string outcome, string? token = null) => new()
    {
        Id = id,
        Kind = id.EndsWith(".tcp", StringComparison.Ordinal) ? StepKinds.Tcp : StepKinds.Http,
        Outcome = outcome,
        Detail = id,
        Data = token is null ? null : new Dictionary<string, string> { ["sinkToken"] = token },
    };

    [Fact]
    public void Unreached_AnswerWithoutTheSinksToken_DoesNotProveTheSinkReachable()
    {
        EgressTarget[] targets = [new("sink", "10.0.0.5", "10.0.0.5", 8080, "tok"), new("lab", "10.1.2.3", "10.1.2.3", 80, null)];
        var report = new AgentReport
        {
            AgentVersion = "1",
            Results =
            [
                Result("control.egress.sink.tcp", StepOutcomes.Succeeded),
                Result("control.egress.sink.http", StepOutcomes.Succeeded, token: "someone-else"),
                Result("control.egress.lab.tcp", StepOutcomes.TimedOut),
                Result("control.egress.lab.http", StepOutcomes.Succeeded),
            ],
        };

        var unreached = EgressVantage.Unreached(report, targets);

        unreached.Should().HaveCount(2);
        unreached[0].Should().StartWith("control.egress.sink.http succeeded", "an answer from something other than the sink proves nothing");
        unreached[1].Should().StartWith("control.egress.lab.tcp timedOut");
    }

    [Theory]
    [InlineData("lab=http://10.1.2.3:8080/", "lab 10.1.2.3 10.1.2.3:8080 http")]
    [InlineData("api=https://api.staging.example:8443/health@192.168.5.10", "api 192.168.5.10 api.staging.example:8443 https")]
    [InlineData(" lab=http://10.1.2.3/ ; v6=http://[fd00::7]:81/ ", "lab 10.1.2.3 10.1.2.3:80 http|v6 fd00::7 [fd00::7]:81 http")]
    public void EgressTargetList_Parse_ReadsNameUrlAndAddress(string text, string expected)
    {
        var targets = EgressTargetList.Parse(text, allowPublic: false);

        string.Join('|', targets.Select(t => $"{t.Name} {t.Address} {t.HostName}:{t.Port} {t.Scheme}")).Should().Be(expected);
    }

    [Theory]
    [InlineData("http://10.1.2.3/", "*'http://10.1.2.3/' is not name=URL*")]
    [InlineData("lab=http://name.example/", "*entry 'lab' needs an IP address for the TCP probe: write lab=http://name.example/@ADDRESS*")]
    [InlineData("ex=https://example.com/@93.184.215.14", "*(93.184.215.14) is a public address*HARNESS_EGRESS_ALLOW_PUBLIC=1*")]
    [InlineData("a=ftp://10.0.0.1/", "*'ftp://10.0.0.1/' in entry 'a' is not an http(s) URL*")]
    [InlineData("a=http://10.0.0.1/;a=http://10.0.0.2/", "*the name 'a' is used twice*")]
    [InlineData("a.b=http://10.0.0.1/", "*may hold only letters, digits and '-'*")]
    public void EgressTargetList_Parse_BadEntry_NamesTheVariableAndWhatToWrite(string text, string message)
    {
        FluentActions.Invoking(() => EgressTargetList.Parse(text, allowPublic: false)).Should().Throw<ArgumentException>()
            .WithMessage("HARNESS_EGRESS_TARGETS: " + message);
    }
}
