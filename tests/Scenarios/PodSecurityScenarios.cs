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

    /// <summary>
    /// The harness's own verification proves PodSecurity rejects a privileged pod, which baseline does too. This proves
    /// the defaults are <b>restricted</b>: a pod that baseline admits (no privilege, no host namespaces) but restricted
    /// refuses (root allowed, no seccomp profile, capabilities kept, escalation allowed) is refused at that level.
    /// </summary>
    [Fact]
    public async Task UnlabelledNamespace_BaselineCompliantPod_IsRejectedAtTheRestrictedLevel()
    {
        var client = live.Require().Client;
        var ct = TestContext.Current.CancellationToken;
        var ns = $"harness-psa-{Guid.NewGuid():N}"[..24];
        await client.CoreV1.CreateNamespaceAsync(ClusterVerification.UnlabeledNamespace(ns, live.Options!.SessionId), cancellationToken: ct);
        try
        {
            var pod = new V1Pod
            {
                Metadata = new V1ObjectMeta { GenerateName = "harness-baseline-", NamespaceProperty = ns },
                Spec = new V1PodSpec { Containers = [new V1Container { Name = "c", Image = "harness.invalid/never-pulled:1" }] },
            };
            var act = () => client.CoreV1.CreateNamespacedPodAsync(pod, ns, dryRun: "All", cancellationToken: ct);

            var error = (await act.Should().ThrowAsync<HttpOperationException>("baseline admits this pod; only restricted refuses it")).Which;
            error.Response.StatusCode.Should().Be(System.Net.HttpStatusCode.Forbidden);
            var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
            status.Message.Should().Contain("violates PodSecurity \"restricted:").And.Contain("allowPrivilegeEscalation != false").And.Contain("seccompProfile");
        }
        finally
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns);
        }
    }

    [Fact]
    public async Task EgressSink_OnTheClusterNetwork_IsReachableFromAControlPod()
    {
        var cluster = live.Require();
        if (cluster.DockerNetwork is null || cluster.ProbeImage is null)
        {
            Assert.Skip("an existing cluster has no Docker network here for the harness's sink; the egress vantage uses given targets or an in-cluster sink instead");
        }
        var ct = TestContext.Current.CancellationToken;
        await using var docker = await DockerHost.ConnectAsync(ct: ct);

        // A session of its own: the shared egress vantage of the runs on this cluster already holds the cluster session's control namespace.
        await using var sink = await ClusterEgressSink.StartAsync(cluster, docker, cluster.ProbeImage, Harness.Runs.SessionId.New(), ct: ct);

        sink.Evidence.Should().Contain("200");
        sink.Https.Url.Should().StartWith("https://harness-sink-");
        TestContext.Current.TestOutputHelper?.WriteLine(sink.Evidence);
    }
}
