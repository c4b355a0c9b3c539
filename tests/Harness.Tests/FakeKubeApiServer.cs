using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Harness.Tests;

/// <summary>
/// A small API server on 127.0.0.1 over HTTPS (its own self-signed CA), holding objects in memory and answering the way
/// the real one does for what a simple operator and the payload inventory use: lists (one namespace or all), server-side
/// apply (creating the object, recording its field manager in <c>metadata.managedFields</c>), merge patches of the status
/// subresource, and a watch that stays open. Nothing leaves the machine.
/// </summary>
internal sealed class FakeKubeApiServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, JsonObject> objects = new(StringComparer.Ordinal);
    private readonly WebApplication app;
    private long resourceVersion = 100;

    private FakeKubeApiServer(WebApplication app, X509Certificate2 certificate, int port)
    {
        this.app = app;
        Certificate = certificate;
        Port = port;
    }

    public int Port { get; }

    public X509Certificate2 Certificate { get; }

    public string CaPem => Certificate.ExportCertificatePem();

    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<FakeKubeApiServer> StartAsync(CancellationToken ct)
    {
        var certificate = SelfSigned();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http1;
            l.UseHttps(certificate);
        }));
        var app = builder.Build();
        FakeKubeApiServer? server = null;
        app.Run(context => server!.ServeAsync(context));
        await app.StartAsync(ct);
        var address = app.Urls.Single();
        server = new FakeKubeApiServer(app, certificate, new Uri(address).Port);
        return server;
    }

    /// <summary>A client for the server, trusting its CA only.</summary>
    public k8s.Kubernetes Client() => new(new k8s.KubernetesClientConfiguration
    {
        Host = $"https://127.0.0.1:{Port}",
        SslCaCerts = [Certificate],
        AccessToken = "not-a-real-token",
    });

    /// <summary>Stores an object as the API server would after a create by <paramref name="manager"/>.</summary>
    public JsonObject Seed(string json, string manager)
    {
        var obj = JsonNode.Parse(json)!.AsObject();
        var (collection, ns, name) = Locate(obj);
        Stamp(obj, manager, "Update");
        objects[Key(collection, ns, name)] = obj;
        return obj;
    }

    public JsonObject? Get(string collection, string? ns, string name) => objects.TryGetValue(Key(collection, ns, name), out var o) ? o : null;

    private async Task ServeAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        Requests.Enqueue($"{request.Method} {path}{request.QueryString}");
        var body = "";
        if (request.Method != "GET")
        {
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        var (status, answer) = request.Method switch
        {
            "GET" when request.Query["watch"].FirstOrDefault() is "1" or "true" => (-1, ""),
            "GET" => Read(path),
            "PATCH" => Patch(path, request.ContentType ?? "", request.Query["fieldManager"].FirstOrDefault(), body),
            _ => (405, StatusJson(405, "MethodNotAllowed", $"{request.Method} is not served here")),
        };
        if (status == -1)
        {
            // A watch: headers now, events never; it ends when the client or the server goes.
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
            return;
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(answer, context.RequestAborted);
    }

    private (int, string) Read(string path)
    {
        var parts = Parse(path);
        if (parts is null)
        {
            return (404, StatusJson(404, "NotFound", "the server could not find the requested resource"));
        }
        var (prefix, ns, plural, name, sub) = parts.Value;
        var collection = $"{prefix}/{plural}";
        if (name is not null)
        {
            return sub is null && Get(collection, ns, name) is { } one ? (200, one.ToJsonString()) : (404, StatusJson(404, "NotFound", $"{plural} \"{name}\" not found"));
        }
        var items = objects.Where(kv => kv.Key.StartsWith(collection + "|", StringComparison.Ordinal) && (ns is null || kv.Key.StartsWith($"{collection}|{ns}|", StringComparison.Ordinal)))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => kv.Value.DeepClone())
            .ToArray();
        var list = new JsonObject
        {
            ["apiVersion"] = prefix.StartsWith("api/", StringComparison.Ordinal) ? prefix[4..] : prefix[5..],
            ["kind"] = "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = Interlocked.Read(ref resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            ["items"] = new JsonArray(items),
        };
        return (200, list.ToJsonString());
    }

    private (int, string) Patch(string path, string contentType, string? fieldManager, string body)
    {
        if (Parse(path) is not { Name: not null } parts)
        {
            return (404, StatusJson(404, "NotFound", "the server could not find the requested resource"));
        }
        var (prefix, ns, plural, name, sub) = parts;
        var key = Key($"{prefix}/{plural}", ns, name!);
        var patch = JsonNode.Parse(body)!.AsObject();
        if (contentType.StartsWith("application/apply-patch", StringComparison.Ordinal))
        {
            if (string.IsNullOrEmpty(fieldManager))
            {
                return (400, StatusJson(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager to be set"));
            }
            var created = !objects.TryGetValue(key, out var existing);
            if (!created)
            {
                patch["metadata"]!["uid"] = existing!["metadata"]!["uid"]!.DeepClone();
            }
            Stamp(patch, fieldManager, "Apply");
            objects[key] = patch;
            return (created ? 201 : 200, patch.ToJsonString());
        }
        if (!objects.TryGetValue(key, out var current))
        {
            return (404, StatusJson(404, "NotFound", $"{plural} \"{name}\" not found"));
        }
        if (sub == "status" && patch["status"] is { } status)
        {
            current["status"] = status.DeepClone();
            var entries = current["metadata"]!["managedFields"]!.AsArray();
            entries.Add(ManagedFieldsEntry(current, fieldManager ?? "greeter-operator", "Update", subresource: "status"));
        }
        return (200, current.ToJsonString());
    }

    private void Stamp(JsonObject obj, string manager, string operation)
    {
        var metadata = obj["metadata"]!.AsObject();
        metadata["uid"] ??= Guid.NewGuid().ToString();
        metadata["resourceVersion"] = Interlocked.Increment(ref resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
        metadata["creationTimestamp"] ??= "2026-11-23T12:00:00Z";
        metadata["generation"] ??= 1;
        metadata["managedFields"] = new JsonArray(ManagedFieldsEntry(obj, manager, operation));
    }

    /// <summary>One <c>metadata.managedFields</c> entry as the API server records it.</summary>
    private static JsonObject ManagedFieldsEntry(JsonObject obj, string manager, string operation, string? subresource = null)
    {
        var entry = new JsonObject { ["manager"] = manager, ["operation"] = operation, ["apiVersion"] = obj["apiVersion"]!.DeepClone(), ["time"] = "2026-11-23T12:00:00Z", ["fieldsType"] = "FieldsV1", ["fieldsV1"] = new JsonObject() };
        if (subresource is not null)
        {
            entry["subresource"] = subresource;
        }
        return entry;
    }

    // /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] and /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME[/SUB]]
    private static (string Prefix, string? Ns, string Plural, string? Name, string? Sub)? Parse(string path)
    {
        var s = path.Trim('/').Split('/');
        int start;
        string prefix;
        if (s.Length >= 3 && s[0] == "api")
        {
            (prefix, start) = ($"api/{s[1]}", 2);
        }
        else if (s.Length >= 4 && s[0] == "apis")
        {
            (prefix, start) = ($"apis/{s[1]}/{s[2]}", 3);
        }
        else
        {
            return null;
        }
        var rest = s[start..];
        string? ns = null;
        if (rest.Length >= 3 && rest[0] == "namespaces")
        {
            ns = rest[1];
            rest = rest[2..];
        }
        return rest.Length switch
        {
            1 => (prefix, ns, rest[0], null, null),
            2 => (prefix, ns, rest[0], rest[1], null),
            3 => (prefix, ns, rest[0], rest[1], rest[2]),
            _ => null,
        };
    }

    private static (string Collection, string? Ns, string Name) Locate(JsonObject obj)
    {
        var apiVersion = (string)obj["apiVersion"]!;
        var kind = (string)obj["kind"]!;
        var lower = kind.ToLowerInvariant();
        var plural = lower.EndsWith('y') ? lower[..^1] + "ies" : lower + (lower.EndsWith('s') ? "es" : "s");
        var prefix = apiVersion.Contains('/') ? $"apis/{apiVersion}" : $"api/{apiVersion}";
        return ($"{prefix}/{plural}", (string?)obj["metadata"]?["namespace"], (string)obj["metadata"]!["name"]!);
    }

    private static string Key(string collection, string? ns, string name) => $"{collection}|{ns}|{name}";

    private static string StatusJson(int code, string reason, string message) =>
        new JsonObject { ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = message, ["reason"] = reason, ["code"] = code }.ToJsonString();

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=fake-kube-apiserver", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
        Certificate.Dispose();
    }
}
