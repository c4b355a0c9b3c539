using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Harness.Protocol;

namespace Harness.ProbeAgent;

/// <summary>
/// A request to the Kubernetes API with the pod's own ServiceAccount token. The token is read from its file,
/// sent only in the Authorization header, and never printed. Response bodies are not echoed: a successful
/// Secret list would carry Secret data, so only the item count and the V1Status fields are reported.
/// </summary>
internal static class KubernetesClientStep
{
    public static async Task<Observation> RunAsync(AgentStep step, KubernetesAccess access, StepProgress progress, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(step.Target))
        {
            throw new StepArgumentException($"step '{step.Id}' (k8s.request) needs an API path as target");
        }
        if (!File.Exists(access.TokenPath))
        {
            return Observation.Error($"no ServiceAccount token at {access.TokenPath} (automountServiceAccountToken: false?)");
        }
        var token = (await File.ReadAllTextAsync(access.TokenPath, ct).ConfigureAwait(false)).Trim();
        var ns = File.Exists(access.NamespacePath)
            ? (await File.ReadAllTextAsync(access.NamespacePath, ct).ConfigureAwait(false)).Trim()
            : "default";
        var path = step.Target.Replace("{namespace}", ns, StringComparison.Ordinal);
        var method = step.Args?.GetValueOrDefault("method") ?? "GET";
        var body = step.Args?.GetValueOrDefault("body")?.Replace("{namespace}", ns, StringComparison.Ordinal);

        var endpoint = Endpoint(access, Environment.GetEnvironmentVariable);
        using var handler = Steps.DirectHandler();
        if (endpoint.Address is { } address)
        {
            // The injected address, as in-cluster clients use it: no DNS. The URL keeps the server name, so SNI and the
            // certificate check are against kubernetes.default.svc (which the API server's certificate carries).
            handler.ConnectCallback = async (context, token) =>
            {
                var socket = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new System.Net.IPEndPoint(address, context.DnsEndPoint.Port), token).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            };
        }
        if (endpoint.BaseUrl.StartsWith("https:", StringComparison.Ordinal) && File.Exists(access.CaPath))
        {
            handler.SslOptions = Steps.TrustOnly(Steps.PemCertificates(File.ReadAllText(access.CaPath)));
        }
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(new HttpMethod(method), endpoint.BaseUrl.TrimEnd('/') + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        var data = new Dictionary<string, string>(StringComparer.Ordinal) { ["method"] = method, ["path"] = path, [DataKeys.ApiServer] = endpoint.Describe };
        HttpResponseMessage response;
        progress.Enter("request");
        try
        {
            response = await client.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return Observation.TimedOut($"{method} {path}: the API server did not answer", data);
        }
        catch (HttpRequestException ex)
        {
            return Observation.Error($"{method} {path}: cannot reach the API server at {endpoint.Describe} ({ex.HttpRequestError}: {ex.Message})") with { Data = data };
        }
        using (response)
        {
            var content = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            var (kind, reason, message, items, username) = Inspect(content);
            if (items is not null)
            {
                data["items"] = items.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (username is not null)
            {
                data["username"] = username;
            }
            var status = (int)response.StatusCode;
            var outcome = response.IsSuccessStatusCode ? StepOutcomes.Succeeded : StepOutcomes.Failed;
            return new Observation(outcome)
            {
                HttpStatus = status,
                StatusReason = reason,
                Detail = $"{method} {path} → {status}{(kind == "Status" && message is not null ? ": " + message : "")}",
                Data = data,
            };
        }
    }

    /// <summary>Where a request goes: the base URL (its host is the certificate's name) and, when known, the address to connect to.</summary>
    internal readonly record struct ApiEndpoint(string BaseUrl, System.Net.IPAddress? Address, string Describe);

    /// <summary>
    /// The API server as in-cluster clients find it: an explicit <see cref="KubernetesAccess.ApiServer"/>; else the address
    /// the kubelet injects (<c>KUBERNETES_SERVICE_HOST</c>, <c>KUBERNETES_SERVICE_PORT</c>), reached without DNS and
    /// verified as <see cref="KubernetesAccess.ServerName"/>; else that name through DNS.
    /// </summary>
    internal static ApiEndpoint Endpoint(KubernetesAccess access, Func<string, string?> env)
    {
        if (access.ApiServer is { } explicitUrl)
        {
            return new(explicitUrl, null, $"{explicitUrl} (given)");
        }
        var host = env("KUBERNETES_SERVICE_HOST")?.Trim();
        var portText = env("KUBERNETES_SERVICE_PORT")?.Trim();
        var port = int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p : 443;
        if (!string.IsNullOrEmpty(host) && System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            var shown = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
            return new($"https://{access.ServerName}:{port}", address, $"{shown} from KUBERNETES_SERVICE_HOST/PORT, certificate checked for {access.ServerName}");
        }
        return new($"https://{access.ServerName}:{port}", null, $"{access.ServerName}:{port} through DNS (KUBERNETES_SERVICE_HOST not set)");
    }

    /// <summary>Reads only what may be shown: Status reason/message, list size, the reviewed user name.</summary>
    internal static (string? Kind, string? Reason, string? Message, int? Items, string? Username) Inspect(string content)
    {
        try
        {
            using var doc = JsonDocument.Parse(content);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null, null, null, null);
            }
            string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var kind = Str(root, "kind");
            int? items = root.TryGetProperty("items", out var list) && list.ValueKind == JsonValueKind.Array ? list.GetArrayLength() : null;
            string? username = null;
            if (root.TryGetProperty("status", out var st) && st.ValueKind == JsonValueKind.Object
                && st.TryGetProperty("userInfo", out var ui) && ui.ValueKind == JsonValueKind.Object)
            {
                username = Str(ui, "username");
            }
            return (kind, kind == "Status" ? Str(root, "reason") : null, kind == "Status" ? Str(root, "message") : null, items, username);
        }
        catch (JsonException)
        {
            return (null, null, null, null, null);
        }
    }
}
