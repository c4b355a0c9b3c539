using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Harness.Tests.Clusters;

/// <summary>A real HTTP server on 127.0.0.1 that serves fixed bytes per path and counts requests.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly ConcurrentDictionary<string, (int Status, byte[] Body)> routes = new(StringComparer.Ordinal);
    private readonly Task loop;

    public LoopbackServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = new Uri($"http://127.0.0.1:{port}/dl/");
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        loop = Task.Run(ServeAsync);
    }

    public Uri BaseUrl { get; }

    public ConcurrentQueue<string> Requests { get; } = new();

    public void Serve(string path, byte[] body, int status = 200) => routes[path] = (status, body);

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            var path = context.Request.Url!.AbsolutePath;
            Requests.Enqueue(path);
            var (status, body) = routes.TryGetValue(path, out var r) ? r : (404, "not found"u8.ToArray());
            context.Response.StatusCode = status;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }
}
