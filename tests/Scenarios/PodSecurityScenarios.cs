using Harness.Clusters;
using Harness.Docker;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Harness.Xunit;

namespace Harness.Scenarios;

/// <summary>Verify, then trust: the cluster must really enforce PodSecurity and NetworkPolicy before any verdict relies on it.</summary>
public sealed class PodSecurityScenarios(HarnessClusterFixture live)
{
    [Fact]
    public async Task UnlabelledNamespace_PrivilegedPod_IsRejectedByPodSecurityNotRbac()
    {
        var client = live.Require().Client;
        var ct = TestContext.Current.CancellationToken;
        var ns = $"harness-psa-{Guid.NewGuid():N}"[..24];
        await client.CoreV1.CreateNamespaceAsync(ClusterVerification.UnlabeledNamespace(ns, live.Options!.SessionId), cancellationToken: ct);
        try
        {
            var act = () => client.CoreV1.CreateNamespacedPodAsync(ClusterVerification.PrivilegedPod(ns), ns, dryRun: "All", cancellationToken: ct);

            var error = (await act.Should().ThrowAsync<HttpOperationException>()).Which;
            error.Response.StatusCode.Should().Be(System.Net.HttpStatusCode.Forbidden);
            var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
            status.Message.Should().Contain("violates PodSecurity", "the rejection must come from PodSecurity admission, not RBAC");
        }
        finally
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns);
        }
    }

    [Fact]
    public void Cluster_WasVerifiedBeforeUse()
    {
        var cluster = live.Require();
        if (cluster.Verification is null)
        {
            Assert.Skip("verification was off: an existing cluster without HARNESS_PROBE_IMAGE cannot run the NetworkPolicy canary");
        }

        cluster.Verification.PodSecurity.Should().Contain("violates PodSecurity");
        cluster.Verification.NetworkPolicy.Should().Contain("before the policy").And.Contain("after it:");
        TestContext.Current.TestOutputHelper?.WriteLine($"PodSecurity: {cluster.Verification.PodSecurity}\nNetworkPolicy ({cluster.Cni}): {cluster.Verification.NetworkPolicy}");
    }

    [Fact]
    public async Task EgressSink_OnTheClusterNetwork_IsReachableFromAControlPod()
    {
        var cluster = live.Require();
        if (cluster.DockerNetwork is null || cluster.ProbeImage is null)
        {
            Assert.Skip("an existing cluster has no Docker network here for the harness's sink; qualification uses real egress targets instead");
        }
        var ct = TestContext.Current.CancellationToken;
        await using var docker = await DockerHost.ConnectAsync(ct: ct);

        await using var sink = await ClusterEgressSink.StartAsync(cluster, docker, cluster.ProbeImage, live.Options!.SessionId, ct: ct);

        sink.Evidence.Should().Contain("200");
        sink.Https.Url.Should().StartWith("https://harness-sink-");
        TestContext.Current.TestOutputHelper?.WriteLine(sink.Evidence);
    }
}
