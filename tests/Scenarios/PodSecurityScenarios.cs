using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Scenarios;

/// <summary>Verify, then trust: the cluster must really enforce PodSecurity before any verdict relies on it.</summary>
public sealed class PodSecurityScenarios(LiveCluster cluster)
{
    [Fact]
    public async Task UnlabelledNamespace_PrivilegedPod_IsRejectedByPodSecurityNotRbac()
    {
        var client = cluster.Require();
        var ct = TestContext.Current.CancellationToken;
        var ns = $"harness-psa-{Guid.NewGuid():N}"[..24];
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = ns, Labels = new Dictionary<string, string> { ["io.harness.owner"] = "harness" } },
        }, cancellationToken: ct);
        try
        {
            var pod = KubernetesJson.Deserialize<V1Pod>(Harness.Probes.StandardProbes.PrivilegedPodJson(ns));

            var act = () => client.CoreV1.CreateNamespacedPodAsync(pod, ns, dryRun: "All", cancellationToken: ct);

            var error = (await act.Should().ThrowAsync<HttpOperationException>()).Which;
            error.Response.StatusCode.Should().Be(System.Net.HttpStatusCode.Forbidden);
            var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
            status.Message.Should().Contain("violates PodSecurity", "the rejection must come from PodSecurity admission, not RBAC");
        }
        finally
        {
            await client.CoreV1.DeleteNamespaceAsync(ns, cancellationToken: CancellationToken.None);
        }
    }
}
