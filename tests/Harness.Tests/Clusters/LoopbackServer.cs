using System.Collections.Concurrent;

namespace Harness.Tests.Clusters;

/// <summary>Fixed bytes per path on a loopback HTTP server (a release download site), with the paths requested.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly ConcurrentDictionary<string, (int Status, byte[] Body)> routes = new(StringComparer.Ordinal);
    private readonly LoopbackHttpServer server;

    public LoopbackServer() =>
        server = new LoopbackHttpServer(r => routes.TryGetValue(r.Path, out var route) ? route : (404, "not found"u8.ToArray()));

    public Uri BaseUrl => new($"{server.Url}/dl/");

    public IEnumerable<string> Requests => server.Requests.Select(r => r.Path);

    public void Serve(string path, byte[] body, int status = 200) => routes[path] = (status, body);

    public void Dispose() => server.Dispose();
}
