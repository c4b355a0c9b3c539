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

        using var handler = Steps.DirectHandler();
        if (access.ApiServer.StartsWith("https:", StringComparison.Ordinal) && File.Exists(access.CaPath))
        {
            handler.SslOptions = Steps.TrustOnly(Steps.PemCertificates(File.ReadAllText(access.CaPath)));
        }
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(new HttpMethod(method), access.ApiServer.TrimEnd('/') + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        var data = new Dictionary<string, string>(StringComparer.Ordinal) { ["method"] = method, ["path"] = path };
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
            return Observation.Error($"{method} {path}: cannot reach the API server ({ex.HttpRequestError}: {ex.Message})");
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
