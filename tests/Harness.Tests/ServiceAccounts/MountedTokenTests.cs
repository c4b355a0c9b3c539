using Harness.Runs;
using Harness.ServiceAccounts;
using Harness.Vehicles;
using k8s.Models;

namespace Harness.Tests.ServiceAccounts;

/// <summary>The running pod's mounted Secrets, judged by what the API server says they are (another account's token fails the token item).</summary>
public sealed class MountedTokenTests
{
    private static V1PodSpec Spec() => new()
    {
        ServiceAccountName = "greeter-operator",
        Containers = [new V1Container { Name = "operator", Image = "x" }],
        Volumes =
        [
            new V1Volume { Name = "config", Secret = new V1SecretVolumeSource { SecretName = "greeter-config" } },
            new V1Volume { Name = "admin-token", Secret = new V1SecretVolumeSource { SecretName = "admin-token-x7" } },
            new V1Volume { Name = "own", Projected = new V1ProjectedVolumeSource { Sources = [new V1VolumeProjection { Secret = new V1SecretProjection { Name = "greeter-operator-token" } }] } },
        ],
    };

    [Fact]
    public void ForeignTokenMounts_OnlyAnotherAccountsTokenSecret_IsAFinding()
    {
        var secrets = new Dictionary<string, (string?, string?)>
        {
            ["greeter-config"] = ("Opaque", null),
            ["admin-token-x7"] = ("kubernetes.io/service-account-token", "cluster-admin-sa"),
            ["greeter-operator-token"] = ("kubernetes.io/service-account-token", "greeter-operator"),
        };

        var findings = TokenExposureAnalyzer.ForeignTokenMounts(Spec(), "Pod ns/op-1", secrets);

        findings.Should().ContainSingle().Which.Should().Match<Harness.Preflight.Finding>(f =>
            f.Id == TokenExposureAnalyzer.ForeignToken && f.Subject == "Pod ns/op-1" && f.Message.Contains("admin-token-x7") && f.Message.Contains("cluster-admin-sa"));
    }

    [Fact]
    public async Task ForeignTokenMountsAsync_ReadsEachMountedSecretFromTheApiServer_AndKeepsNoData()
    {
        const string token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl";
        var data = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(token));
        using var api = new LoopbackHttpServer(r => r.Path switch
        {
            "/api/v1/namespaces/greeter-system/secrets/greeter-config" =>
                (200, """{"kind":"Secret","apiVersion":"v1","metadata":{"name":"greeter-config","namespace":"greeter-system"},"type":"Opaque","data":{"k":"dg=="}}"""),
            "/api/v1/namespaces/greeter-system/secrets/admin-token-x7" =>
                (200, """{"kind":"Secret","apiVersion":"v1","metadata":{"name":"admin-token-x7","namespace":"greeter-system","annotations":{"kubernetes.io/service-account.name":"cluster-admin-sa","kubernetes.io/service-account.uid":"4f1c"}},"type":"kubernetes.io/service-account-token","data":{"token":"@DATA","ca.crt":"LS0t","namespace":"Z3JlZXRlci1zeXN0ZW0="}}""".Replace("@DATA", data, StringComparison.Ordinal)),
            _ => (404, """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets \"greeter-operator-token\" not found","reason":"NotFound","details":{"name":"greeter-operator-token","kind":"secrets"},"code":404}"""),
        });
        var target = new OperatorTarget("greeter-system", new Harness.Manifests.WorkloadRef("Deployment", "greeter-operator"), "operator", "greeter-operator", new V1ObjectMeta(), Spec(), "greeter-operator-5d-x");

        var findings = await ClusterStages.ForeignTokenMountsAsync(api.Client(), target, TestContext.Current.CancellationToken);

        findings.Should().ContainSingle(f => f.Message.Contains("admin-token-x7"));
        string.Join("\n", findings.Select(f => f.ToString())).Should().NotContain(token).And.NotContain(data);
        api.Requests.Select(r => r.Path).Should().BeEquivalentTo(
            "/api/v1/namespaces/greeter-system/secrets/greeter-config", "/api/v1/namespaces/greeter-system/secrets/admin-token-x7", "/api/v1/namespaces/greeter-system/secrets/greeter-operator-token");
    }

    [Fact]
    public void Checklist_AForeignTokenOnTheCluster_FailsTheTokenItem_EvenWithoutATokenProbe()
    {
        var inputs = new Harness.Qualification.ChecklistInputs(null, [], System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, "no policy")
        {
            ClusterFindings = System.Collections.Immutable.ImmutableDictionary<Harness.Probes.HardeningItem, System.Collections.Immutable.ImmutableArray<string>>.Empty
                .Add(Harness.Probes.HardeningItem.ServiceAccountToken, ["Pod ns/op volume \"t\" mounts the token Secret t of ServiceAccount admin"]),
        };

        var item = Harness.Qualification.Checklist.Build([], [], inputs).Single(i => i.Id == "serviceaccount-token");

        item.Status.Should().Be(Harness.Qualification.ChecklistStatus.Failed);
        item.Evidence.Should().Equal("on the cluster: Pod ns/op volume \"t\" mounts the token Secret t of ServiceAccount admin");
    }
}
