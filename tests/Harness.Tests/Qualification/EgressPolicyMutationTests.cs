using Harness.Probes;
using Harness.Qualification;
using Harness.Tests.Docker;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Tests.Qualification;

/// <summary>
/// Issue #21, item 3, through the local vantage: the hardened sample plus one policy that opens the outside. The sink sits
/// on a private Docker network, so the local probes alone cannot tell "internet yes, internal no" from a default deny;
/// the analysis of the policies does, and the egress check fails naming the rule.
/// </summary>
public sealed class EgressPolicyMutationTests(DockerFixture docker)
{
    public static TheoryData<string, string> Openings => new()
    {
        { "all but the cluster's ranges", "{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/16, 10.96.0.0/12]}}]}" },
        { "all but the private ranges, HTTPS only", "{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}], ports: [{port: 443}]}" },
    };

    [Theory]
    [MemberData(nameof(Openings))]
    public async Task Qualify_HardenedSamplePlusAnOpeningPolicy_FailsTheEgressCheckNamingIt(string name, string rule)
    {
        docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("harness-egress-mutant-");
        try
        {
            foreach (var file in Directory.GetFiles(RepoPaths.File("fixtures/sample-operator/hardened")))
            {
                File.Copy(file, Path.Combine(dir.FullName, Path.GetFileName(file)));
            }
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "opening.yaml"), $$$"""
                apiVersion: networking.k8s.io/v1
                kind: NetworkPolicy
                metadata: {name: opening, namespace: greeter-system}
                spec:
                  podSelector: {matchLabels: {app.kubernetes.io/name: greeter-operator}}
                  policyTypes: [Egress]
                  egress: [{{{rule}}}]
                """, ct);

            var report = await Qualifier.RunAsync(new QualifyRequest
            {
                Scenario = new QualificationScenario { Path = "test", Name = name, Deployment = "greeter-operator", Manifests = [dir.FullName], Vehicle = VehicleKind.Docker },
            }, TextWriter.Null, ct);

            var item = report.Checklist.Single(i => i.Id == "egress-default-deny");
            item.Status.Should().Be(ChecklistStatus.Failed, name);
            item.Evidence.Should().Contain(e => e.Contains("NetworkPolicy greeter-system/opening egress rule 1", StringComparison.Ordinal) && e.Contains("allows the internet", StringComparison.Ordinal));
            report.Mission.Single(m => m.Check == HardeningCheck.EgressDenied).Status.Should().Be(ProbeStatus.Failed);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
