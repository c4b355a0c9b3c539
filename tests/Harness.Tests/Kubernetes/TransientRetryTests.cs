using Harness.Kubernetes;
using k8s;

namespace Harness.Tests.Kubernetes;

/// <summary>
/// Issue #36 item 1: what a real server says is transient (429 with Retry-After while a new CRD's watch cache starts, 503,
/// a lost etcd leader) is sent again, bounded, each attempt logged; anything else is the answer at once. Faults are
/// injected on the loopback API server, which answers them in the real server's words.
/// </summary>
public sealed class TransientRetryTests
{
    private static k8s.Kubernetes Client(FakeKubeApiServer server, TextWriter log) => new(new KubernetesClientConfiguration
    {
        Host = $"https://127.0.0.1:{server.Port}",
        SslCaCerts = [server.Certificate],
        AccessToken = "not-a-real-token",
    }, new TransientRetryHandler(log, baseDelay: TimeSpan.FromMilliseconds(20)));

    [Fact]
    public async Task StorageInitializing_IsRetriedAfterItsRetryAfter_AndTheAttemptsAreLogged()
    {
        await using var server = await FakeKubeApiServer.StartAsync(TestContext.Current.CancellationToken);
        server.Seed("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}""", "test");
        var faults = 2;
        server.Fault = (method, path) => path == "/api/v1/namespaces/team-a" && Interlocked.Decrement(ref faults) >= 0 ? FakeKubeApiServer.InjectedFault.StorageInitializing : null;
        using var log = new StringWriter();
        using var client = Client(server, log);
        var started = DateTime.UtcNow;

        var ns = await client.CoreV1.ReadNamespaceAsync("team-a", cancellationToken: TestContext.Current.CancellationToken);

        ns.Metadata.Name.Should().Be("team-a");
        (DateTime.UtcNow - started).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1.9), "the server's Retry-After (1 s) is honoured, twice");
        log.ToString().Should().Contain("GET /api/v1/namespaces/team-a answered 429 storage is (re)initializing; attempt 2 of 8")
            .And.Contain("attempt 3 of 8");
    }

    [Theory]
    [InlineData(503, "ServiceUnavailable", "the server is currently unable to handle the request")]
    [InlineData(500, "InternalError", "etcdserver: leader changed")]
    public async Task OtherTransientAnswers_AreRetried_ThePostTooWhenTheServerAnswered(int status, string reason, string message)
    {
        await using var server = await FakeKubeApiServer.StartAsync(TestContext.Current.CancellationToken);
        var faults = 1;
        server.Fault = (method, path) => method == "POST" && Interlocked.Decrement(ref faults) >= 0 ? new FakeKubeApiServer.InjectedFault(status, reason, message) : null;
        using var log = new StringWriter();
        using var client = Client(server, log);

        await client.CoreV1.CreateNamespaceAsync(new k8s.Models.V1Namespace { Metadata = new() { Name = "team-b" } }, cancellationToken: TestContext.Current.CancellationToken);

        server.Get("api/v1/namespaces", null, "team-b").Should().NotBeNull("the second attempt carried the same body");
        log.ToString().Should().Contain($"answered {status} {message}");
    }

    [Fact]
    public async Task AForbidden_IsTheAnswer_NotRetried()
    {
        await using var server = await FakeKubeApiServer.StartAsync(TestContext.Current.CancellationToken);
        server.Fault = (_, _) => new FakeKubeApiServer.InjectedFault(403, "Forbidden", "namespaces \"x\" is forbidden: User \"u\" cannot get resource \"namespaces\"");
        using var log = new StringWriter();
        using var client = Client(server, log);

        var act = () => client.CoreV1.ReadNamespaceAsync("x", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<k8s.Autorest.HttpOperationException>()).Which.Response.StatusCode.Should().Be(System.Net.HttpStatusCode.Forbidden);
        server.Requests.Count(r => r.StartsWith("GET /api/v1/namespaces/x", StringComparison.Ordinal)).Should().Be(1);
        log.ToString().Should().BeEmpty();
    }

    [Fact]
    public async Task ATransientAnswerThatPersists_EndsAfterTheBoundedAttempts_WithTheServersAnswer()
    {
        await using var server = await FakeKubeApiServer.StartAsync(TestContext.Current.CancellationToken);
        server.Fault = (_, _) => new FakeKubeApiServer.InjectedFault(503, "ServiceUnavailable", "etcd is down");
        using var log = new StringWriter();
        using var client = Client(server, log);

        var act = () => client.CoreV1.ReadNamespaceAsync("x", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<k8s.Autorest.HttpOperationException>()).Which.Response.Content.Should().Contain("etcd is down");
        server.Requests.Count(r => r.StartsWith("GET /api/v1/namespaces/x", StringComparison.Ordinal)).Should().Be(TransientRetryHandler.MaxAttempts);
    }
}
