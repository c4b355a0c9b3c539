using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Harness.ProbeAgent;

/// <summary>
/// The egress sink: a minimal HTTP server that stands in for "the internet". Every answer carries the run's
/// token in <c>X-Harness-Sink</c>, so a probe that got an answer can prove it reached this sink and nothing else.
/// With a TLS port it also serves HTTPS with a certificate the harness generated for this run.
/// </summary>
internal static class Sink
{
    public static async Task ServeAsync(int port, int? tlsPort, string token, CancellationToken ct)
    {
        X509Certificate2? certificate = null;
        if (tlsPort is not null)
        {
            var certPem = Environment.GetEnvironmentVariable("HARNESS_SINK_CERT_PEM");
            var keyPem = Environment.GetEnvironmentVariable("HARNESS_SINK_KEY_PEM");
            if (string.IsNullOrEmpty(certPem) || string.IsNullOrEmpty(keyPem))
            {
                throw new AgentUsageException("--tls-port needs HARNESS_SINK_CERT_PEM and HARNESS_SINK_KEY_PEM");
            }
            certificate = X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        using (certificate)
        {
            var servers = new List<Task> { ListenAsync(port, null, token, ct) };
            if (tlsPort is { } p)
            {
                servers.Add(ListenAsync(p, certificate, token, ct));
            }
            await Task.WhenAll(servers).ConfigureAwait(false);
        }
    }

    private static async Task ListenAsync(int port, X509Certificate2? certificate, string token, CancellationToken ct)
    {
        using var listener = new TcpListener(IPAddress.IPv6Any, port);
        listener.Server.DualMode = true;
        listener.Start();
        Console.WriteLine($"sink listening on :{port}{(certificate is null ? "" : " (TLS)")}");
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
                _ = Task.Run(() => AnswerAsync(client, certificate, token, ct), ct);
            }
        }
        catch (OperationCanceledException)
        {
            // SIGTERM.
        }
    }

    private static async Task AnswerAsync(TcpClient client, X509Certificate2? certificate, string token, CancellationToken ct)
    {
        using (client)
        {
            try
            {
                Stream stream = client.GetStream();
                if (certificate is not null)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    handshakeTimeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, handshakeTimeout.Token).ConfigureAwait(false);
                    stream = ssl;
                }
                await using var _ = stream.ConfigureAwait(false);
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
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or System.Security.Authentication.AuthenticationException)
            {
                // The peer went away; nothing to report.
            }
        }
    }
}
