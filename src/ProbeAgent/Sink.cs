using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Harness.ProbeAgent;

/// <summary>
/// The egress sink: a minimal HTTP server that stands in for "the internet". Every answer carries the run's
/// token in <c>X-Harness-Sink</c>, so a probe that got an answer can prove it reached this sink and nothing else.
/// </summary>
internal static class Sink
{
    public static async Task ServeAsync(int port, string token, CancellationToken ct)
    {
        using var listener = new TcpListener(IPAddress.IPv6Any, port);
        listener.Server.DualMode = true;
        listener.Start();
        Console.WriteLine($"sink listening on :{port}");
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
                _ = Task.Run(() => AnswerAsync(client, token, ct), ct);
            }
        }
        catch (OperationCanceledException)
        {
            // SIGTERM.
        }
    }

    private static async Task AnswerAsync(TcpClient client, string token, CancellationToken ct)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var seen = new StringBuilder();
                using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                readTimeout.CancelAfter(TimeSpan.FromSeconds(5));
                // A bare TCP connect (no request) is fine too: answer once the headers end or the peer stops.
                while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer, readTimeout.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return;
                    }
                    seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                var body = $"harness-sink {token}\n";
                var response = $"HTTP/1.1 200 OK\r\nX-Harness-Sink: {token}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(response), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
            {
                // The peer went away; nothing to report.
            }
        }
    }
}
