using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Harness.Tests;

/// <summary>
/// A real HTTP server on 127.0.0.1 that answers what a test scripts (an API server, a download site) and records every
/// request. Nothing leaves the machine.
/// </summary>
internal sealed class LoopbackHttpServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Task loop;

    public LoopbackHttpServer(Func<Request, (int Status, string Json)> answer)
        : this(r => answer(r) is var (status, json) ? (status, Encoding.UTF8.GetBytes(json)) : default)
    {
    }

    public LoopbackHttpServer(Func<Request, (int Status, byte[] Body)> answer)
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Url = $"http://127.0.0.1:{port}";
        listener.Prefixes.Add(Url + "/");
        listener.Start();
        loop = Task.Run(() => ServeAsync(answer));
    }

    public sealed record Request(string Method, string PathAndQuery, string? ContentType, string Body)
    {
        public string Path => PathAndQuery.Split('?')[0];
    }

    public string Url { get; }

    public ConcurrentQueue<Request> Requests { get; } = new();

    public k8s.Kubernetes Client() => new(new k8s.KubernetesClientConfiguration { Host = Url });

    private async Task ServeAsync(Func<Request, (int Status, byte[] Body)> answer)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            // Stopped between the IsListening check and the call: HttpListener says so with InvalidOperationException.
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var request = new Request(context.Request.HttpMethod, context.Request.Url!.PathAndQuery, context.Request.ContentType, await reader.ReadToEndAsync());
            Requests.Enqueue(request);
            var (status, body) = answer(request);
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    public static string NotFound => """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}""";

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }
}
