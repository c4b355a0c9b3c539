using k8s;

namespace Harness.Scenarios;

/// <summary>
/// The cluster the live scenarios run against: the kubeconfig in HARNESS_KUBECONFIG (context HARNESS_CONTEXT), else
/// KUBECONFIG or ~/.kube/config. Availability is decided once and recorded; tests skip with the one-line reason.
/// </summary>
public sealed class LiveCluster : IAsyncLifetime
{
    public IKubernetes? Client { get; private set; }

    public string? Unavailable { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var path = Environment.GetEnvironmentVariable("HARNESS_KUBECONFIG")
            ?? Environment.GetEnvironmentVariable("KUBECONFIG")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
        if (!File.Exists(path))
        {
            Unavailable = $"no cluster: no kubeconfig at {path} (set HARNESS_KUBECONFIG, or run `bash eng/e2e.sh` to create a kind cluster)";
            return;
        }
        try
        {
            var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(path, Environment.GetEnvironmentVariable("HARNESS_CONTEXT"));
            var client = new Kubernetes(config);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.CoreV1.ListNamespaceAsync(limit: 1, cancellationToken: timeout.Token);
            Client = client;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Unavailable = $"no cluster: the API server in {path} did not answer ({ex.GetType().Name}: {FirstLine(ex.Message)})";
        }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    public IKubernetes Require()
    {
        if (Client is null)
        {
            Assert.Skip(Unavailable ?? "no cluster");
        }
        return Client;
    }

    public ValueTask DisposeAsync()
    {
        Client?.Dispose();
        return ValueTask.CompletedTask;
    }
}
