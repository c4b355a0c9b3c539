using System.Text.RegularExpressions;
using Harness.Clusters;
using Harness.Probes;
using Harness.Tests;
using Harness.Verdicts;
using Harness.Xunit;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Scenarios;

/// <summary>
/// Issue #35 item 3: the loopback API server (FakeKubeApiServer) stays for what a real server will not do on demand,
/// and what it imitates is held to the real server's answer here: the same request to both, the same words back.
/// </summary>
public sealed partial class FakeApiServerContract(HarnessClusterFixture live)
{
    /// <summary>The status message of a refused request.</summary>
    private static async Task<(int Code, string Message)> RefusalAsync(Func<Task> request)
    {
        try
        {
            await request();
        }
        catch (HttpOperationException e)
        {
            return ((int)e.Response.StatusCode, KubernetesJson.Deserialize<V1Status>(e.Response.Content).Message);
        }
        throw new InvalidOperationException("the request was not refused");
    }

    [Fact]
    public async Task RbacDenial_TheFakeAnswersInTheRealServersWords()
    {
        var cluster = live.Require();
        var ct = TestContext.Current.CancellationToken;
        var admin = cluster.Client;
        var ns = $"harness-contract-{Guid.NewGuid():N}"[..28];
        await admin.CoreV1.CreateNamespaceAsync(ClusterVerification.UnlabeledNamespace(ns, live.Options!.SessionId), cancellationToken: ct);
        try
        {
            // Given a ServiceAccount with no rights, on the real server and on the fake
            await admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = "nobody" } }, ns, cancellationToken: ct);
            var token = (await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { Audiences = [], ExpirationSeconds = 600 } }, "nobody", ns, cancellationToken: ct)).Status.Token;
            var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(cluster.KubeconfigPath, cluster.Context);
            using var asNobody = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = config.Host, SslCaCerts = config.SslCaCerts, AccessToken = token, SkipTlsVerify = config.SkipTlsVerify });
            await using var fake = await FakeKubeApiServer.StartAsync(ct);
            fake.Authorize = _ => false;
            fake.User = $"system:serviceaccount:{ns}:nobody";
            using var fakeClient = fake.Client();

            // When each is asked to create a Secret in that namespace and a namespace at the cluster scope
            foreach (var (what, call) in new (string, Func<IKubernetes, Task>)[]
            {
                ("a Secret in the namespace", c => c.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, ns, cancellationToken: ct)),
                ("a namespace", c => c.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns + "-x" } }, cancellationToken: ct)),
                ("a list of Secrets everywhere", c => c.CoreV1.ListSecretForAllNamespacesAsync(cancellationToken: ct)),
            })
            {
                var real = await RefusalAsync(() => call(asNobody));
                var imitated = await RefusalAsync(() => call(fakeClient));

                // Then both answer 403 in the same words
                imitated.Should().Be(real, $"the fake must refuse {what} as the real server does");
            }
        }
        finally
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(admin, ns);
        }
    }

    [Fact]
    public async Task PodSecurityRefusal_IsReadAsTheVerdictItIs_FromTheRealServersWords()
    {
        // The refusal the unit tests build by hand (PodSecurityRefusalTests) is the real server's: same shape, same items.
        var cluster = live.Require();
        var ct = TestContext.Current.CancellationToken;
        var client = cluster.Client;
        var ns = $"harness-contract-{Guid.NewGuid():N}"[..28];
        await client.CoreV1.CreateNamespaceAsync(ClusterVerification.UnlabeledNamespace(ns, live.Options!.SessionId), cancellationToken: ct);
        try
        {
            var pod = new V1Pod
            {
                Metadata = new V1ObjectMeta { Name = "op-harness-twin-1" },
                Spec = new V1PodSpec
                {
                    SecurityContext = new V1PodSecurityContext { RunAsNonRoot = true, RunAsUser = 65532, SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" } },
                    Containers = [new V1Container
                    {
                        Name = "operator", Image = "harness.invalid/never-pulled:1",
                        SecurityContext = new V1SecurityContext { AllowPrivilegeEscalation = true, Capabilities = new V1Capabilities { Drop = ["ALL"] } },
                    }],
                },
            };

            var refused = await RefusalAsync(() => client.CoreV1.CreateNamespacedPodAsync(pod, ns, dryRun: "All", cancellationToken: ct));

            refused.Code.Should().Be(403);
            PodSecurityRefusal.IsRefusal(refused.Message).Should().BeTrue(refused.Message);
            MessageShape().IsMatch(refused.Message).Should().BeTrue(refused.Message);
            new PodSecurityRefusal("pod", refused.Message).Items.Select(i => i.Id()).Should().Equal(["namespace-psa", "no-privilege-escalation"], refused.Message);
        }
        finally
        {
            await ClusterVerification.DeleteNamespaceQuietlyAsync(client, ns);
        }
    }

    [GeneratedRegex("""^pods "op-harness-twin-1" is forbidden: violates PodSecurity "restricted:v?[a-z0-9.]+": allowPrivilegeEscalation != false \(container "operator" must set securityContext\.allowPrivilegeEscalation=false\)$""")]
    private static partial Regex MessageShape();
}
