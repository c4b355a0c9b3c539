using System.Collections.Concurrent;
using System.Globalization;
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
/// the real one does for what the harness and a simple operator use: discovery (built-in kinds and the CRDs it holds,
/// which it marks Established), lists with label selectors, create, server-side apply (labels owned per field manager,
/// so a manager that stops applying a label removes it, as the real one does), JSON merge patches (the object or its
/// status), deletes with preconditions, and a watch that stays open. Namespaces and CRDs terminate the way the real ones
/// do: marked with a deletionTimestamp first, their contents removed, then themselves, after
/// <see cref="TerminationDelay"/>; while a CRD terminates, creating its custom resources is refused with the real
/// server's message. Nothing leaves the machine.
/// </summary>
internal sealed class FakeKubeApiServer : IAsyncDisposable
{
    /// <summary>Built-in resources: group/version, kind, plural, namespaced.</summary>
    private static readonly (string GroupVersion, string Kind, string Plural, bool Namespaced)[] BuiltIn =
    [
        ("v1", "Namespace", "namespaces", false), ("v1", "Node", "nodes", false), ("v1", "Pod", "pods", true),
        ("v1", "Service", "services", true), ("v1", "ConfigMap", "configmaps", true), ("v1", "Secret", "secrets", true),
        ("v1", "ServiceAccount", "serviceaccounts", true), ("v1", "Event", "events", true), ("v1", "Endpoints", "endpoints", true),
        ("apps/v1", "Deployment", "deployments", true), ("apps/v1", "StatefulSet", "statefulsets", true),
        ("apps/v1", "DaemonSet", "daemonsets", true), ("apps/v1", "ReplicaSet", "replicasets", true),
        ("rbac.authorization.k8s.io/v1", "Role", "roles", true), ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false),
        ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true), ("networking.k8s.io/v1", "ServiceCIDR", "servicecidrs", false),
        ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true), ("coordination.k8s.io/v1", "Lease", "leases", true),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false),
        ("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", false), ("apiregistration.k8s.io/v1", "APIService", "apiservices", false),
        ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
    ];

    private readonly ConcurrentDictionary<string, JsonObject> objects = new(StringComparer.Ordinal);
    private readonly object gate = new();
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

    /// <summary>How long a deleted namespace or CRD stays terminating before it and its contents are gone.</summary>
    public TimeSpan TerminationDelay { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>What RBAC is asked for one request: verb, API group, resource, subresource, namespace, name.</summary>
    public sealed record ResourceRequest(string Verb, string Group, string Resource, string? Subresource, string? Namespace, string? Name);

    /// <summary>
    /// When set, every resource request is authorized as RBAC would authorize it; a denial gets the real server's 403
    /// (<c>namespaces is forbidden: User "..." cannot create resource "namespaces" in API group "" at the cluster scope</c>)
    /// and SelfSubjectAccessReviews are answered by it. Discovery and <c>/version</c> are every user's.
    /// </summary>
    public Func<ResourceRequest, bool>? Authorize { get; set; }

    /// <summary>An admission step for creations (dry runs included): a refusal it returns is the answer; null admits.</summary>
    public Func<JsonObject, (int, string)?>? Admit { get; set; }

    /// <summary>An answer the real server gives for a passing condition, injected before anything else is done.</summary>
    public sealed record InjectedFault(int Status, string Reason, string Message, int? RetryAfterSeconds = null)
    {
        /// <summary>What a v1.36 server answered while a new CRD's watch cache initialized.</summary>
        public static InjectedFault StorageInitializing => new(429, "TooManyRequests", "storage is (re)initializing", 1);
    }

    /// <summary>When set and it returns a fault for (method, path), that is the answer to the request.</summary>
    public Func<string, string, InjectedFault?>? Fault { get; set; }

    /// <summary>The user the 403s name.</summary>
    public string User { get; set; } = "system:serviceaccount:team-a:releaser";

    /// <summary>Every request <see cref="Authorize"/> denied, as <c>verb resource.group namespace/name</c>.</summary>
    public ConcurrentQueue<string> Denied { get; } = new();

    // The RBAC attributes of a request, as the API server derives them; null for non-resource paths (discovery, /version).
    private static ResourceRequest? Attributes(string method, string path, bool watch)
    {
        if (Parse(path) is not { } parts)
        {
            return null;
        }
        var (prefix, ns, plural, name, sub) = parts;
        var verb = method switch
        {
            "GET" => name is null ? (watch ? "watch" : "list") : "get",
            "POST" => "create",
            "PATCH" => "patch",
            "PUT" => "update",
            "DELETE" => name is null ? "deletecollection" : "delete",
            _ => method.ToLowerInvariant(),
        };
        return new ResourceRequest(verb, prefix == "api/v1" ? "" : prefix.Split('/')[1], plural, sub, ns, name);
    }

    private (int, string)? Authorized(ResourceRequest request, string body, string path)
    {
        if (request is { Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Verb: "create" })
        {
            // Every authenticated user may ask about itself; the answer is this authorizer's.
            var review = JsonNode.Parse(body)!.AsObject();
            var a = review["spec"]?["resourceAttributes"];
            var asked = new ResourceRequest((string?)a?["verb"] ?? "", (string?)a?["group"] ?? "", (string?)a?["resource"] ?? "", (string?)a?["subresource"], (string?)a?["namespace"], (string?)a?["name"]);
            review["status"] = new JsonObject { ["allowed"] = Authorize!(asked) };
            return (201, review.ToJsonString());
        }
        // Server-side apply that creates: the real server authorizes the creation too (verb create).
        bool creates;
        lock (gate)
        {
            creates = request.Verb == "patch" && request.Name is not null && request.Subresource is null && Parse(path) is { } p
                && !objects.ContainsKey(Key($"{p.Prefix}/{p.Plural}", p.Ns, p.Name!));
        }
        if (Authorize!(request) && (!creates || Authorize(request with { Verb = "create" })))
        {
            return null;
        }
        if (creates && Authorize(request))
        {
            request = request with { Verb = "create" };
        }
        var resource = request.Subresource is null ? request.Resource : $"{request.Resource}/{request.Subresource}";
        Denied.Enqueue($"{request.Verb} {resource}{(request.Group.Length > 0 ? "." + request.Group : "")} {request.Namespace}/{request.Name}");
        var where = request.Namespace is null ? "at the cluster scope" : $"in the namespace \"{request.Namespace}\"";
        var subject = request.Name is null ? resource : $"{resource} \"{request.Name}\"";
        return (403, StatusJson(403, "Forbidden", $"{subject} is forbidden: User \"{User}\" cannot {request.Verb} resource \"{resource}\" in API group \"{request.Group}\" {where}"));
    }

    /// <summary>Called (under the server's lock) after an object is created by POST or apply: a test's controllers and kubelet.</summary>
    public Action<FakeKubeApiServer, JsonObject>? Created { get; set; }

    /// <summary>A kubeconfig file (a temporary file the caller deletes) whose current context is this server, with a token that is not real.</summary>
    public async Task<string> WriteKubeconfigAsync(CancellationToken ct)
    {
        var kubeconfig = Path.GetTempFileName();
        var ca = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(CaPem));
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
              - name: fake
                cluster:
                  server: https://127.0.0.1:{Port}
                  certificate-authority-data: {ca}
            users:
              - name: fake
                user:
                  token: not-a-real-token
            contexts:
              - name: fake
                context:
                  cluster: fake
                  user: fake
            current-context: fake
            """, ct);
        return kubeconfig;
    }

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
        lock (gate)
        {
            Stamp(obj, manager, "Update");
            objects[Key(collection, ns, name)] = obj;
            if ((string?)obj["kind"] == "CustomResourceDefinition")
            {
                Establish(obj);
            }
        }
        return obj;
    }

    public JsonObject? Get(string collection, string? ns, string name) => objects.TryGetValue(Key(collection, ns, name), out var o) ? o : null;

    /// <summary>Every stored object of a collection (<c>apis/group/version/plural</c>), in all namespaces.</summary>
    public IReadOnlyList<JsonObject> All(string collection) =>
        [.. objects.Where(kv => kv.Key.StartsWith(collection + "|", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value)];

    /// <summary>Every stored object, as <c>collection|namespace|name</c>.</summary>
    public IReadOnlyList<string> Keys => [.. objects.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Changes a stored object as a controller would (the resource version moves on).</summary>
    public void Update(string collection, string? ns, string name, Action<JsonObject> change)
    {
        lock (gate)
        {
            var obj = Get(collection, ns, name) ?? throw new InvalidOperationException($"{collection} {ns}/{name} is not stored");
            change(obj);
            Bump(obj);
        }
    }

    /// <summary>Stores an object a controller created (no request involved).</summary>
    public void Put(JsonObject obj, string manager)
    {
        var (collection, ns, name) = Locate(obj);
        lock (gate)
        {
            Stamp(obj, manager, "Update");
            objects[Key(collection, ns, name)] = obj;
        }
    }

    /// <summary>How long the server takes before it answers each request: a real cluster's round trip (zero by default).</summary>
    public TimeSpan Latency { get; set; }

    private async Task ServeAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        Requests.Enqueue($"{request.Method} {path}{request.QueryString}");
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, context.RequestAborted);
        }
        var body = "";
        if (request.Method != "GET")
        {
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        (int, string) answer;
        var watching = request.Query["watch"].FirstOrDefault() is "1" or "true";
        if (Fault?.Invoke(request.Method, path) is { } fault)
        {
            context.Response.StatusCode = fault.Status;
            context.Response.ContentType = "application/json";
            if (fault.RetryAfterSeconds is { } after)
            {
                context.Response.Headers.RetryAfter = after.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            await context.Response.WriteAsync(StatusJson(fault.Status, fault.Reason, fault.Message), context.RequestAborted);
            return;
        }
        if (Authorize is not null && Attributes(request.Method, path, watching) is { } attributes && Authorized(attributes, body, path) is { } refused)
        {
            context.Response.StatusCode = refused.Item1;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(refused.Item2, context.RequestAborted);
            return;
        }
        if (request.Method == "GET" && watching)
        {
            answer = (-1, "");
        }
        else
        {
            try
            {
                lock (gate)
                {
                    answer = request.Method switch
                    {
                        "GET" => Read(path, request.Query["labelSelector"].FirstOrDefault()),
                        "POST" => Create(path, body, request.Query["dryRun"].FirstOrDefault() == "All"),
                        "PATCH" => Patch(path, request.ContentType ?? "", request.Query["fieldManager"].FirstOrDefault(), body),
                        "DELETE" => Delete(path, body),
                        _ => (405, StatusJson(405, "MethodNotAllowed", $"{request.Method} is not served here")),
                    };
                }
            }
            catch (Exception e)
            {
                // A fault of this double, not an answer the real server gives: said plainly, so a test shows it.
                answer = (500, StatusJson(500, "InternalError", $"fake API server fault on {request.Method} {path}: {e}"));
            }
        }
        var (status, text) = answer;
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
        await context.Response.WriteAsync(text, context.RequestAborted);
    }

    private (int, string) Read(string path, string? labelSelector)
    {
        if (path.TrimEnd('/') == "/version")
        {
            return (200, """{"major":"1","minor":"36","gitVersion":"v1.36.2","platform":"linux/amd64"}""");
        }
        if (Discovery(path) is { } resources)
        {
            return (200, resources.ToJsonString());
        }
        var parts = Parse(path);
        if (parts is null)
        {
            return NotFound("the server could not find the requested resource");
        }
        var (prefix, ns, plural, name, sub) = parts.Value;
        var collection = $"{prefix}/{plural}";
        if (name is not null)
        {
            return sub is null && Get(collection, ns, name) is { } one ? (200, one.ToJsonString()) : NotFound($"{plural} \"{name}\" not found");
        }
        var items = objects.Where(kv => kv.Key.StartsWith(collection + "|", StringComparison.Ordinal) && (ns is null || kv.Key.StartsWith($"{collection}|{ns}|", StringComparison.Ordinal)))
            .Where(kv => Matches(kv.Value, labelSelector))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => kv.Value.DeepClone())
            .ToArray();
        var list = new JsonObject
        {
            ["apiVersion"] = prefix.StartsWith("api/", StringComparison.Ordinal) ? prefix[4..] : prefix[5..],
            ["kind"] = "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = Interlocked.Read(ref resourceVersion).ToString(CultureInfo.InvariantCulture) },
            ["items"] = new JsonArray(items),
        };
        return (200, list.ToJsonString());
    }

    /// <summary>The APIResourceList of <c>/api/v1</c> or <c>/apis/GROUP/VERSION</c>: built-in kinds and established CRDs.</summary>
    private JsonObject? Discovery(string path)
    {
        var s = path.Trim('/').Split('/');
        string? groupVersion = s switch
        {
            ["api", var v] => v,
            ["apis", var g, var v] => $"{g}/{v}",
            _ => null,
        };
        if (groupVersion is null)
        {
            return null;
        }
        var resources = BuiltIn.Where(b => b.GroupVersion == groupVersion).Select(b => (b.Kind, b.Plural, b.Namespaced)).ToList();
        foreach (var crd in All("apis/apiextensions.k8s.io/v1/customresourcedefinitions").Where(c => c["metadata"]?["deletionTimestamp"] is null))
        {
            var spec = crd["spec"]!;
            foreach (var version in spec["versions"]!.AsArray())
            {
                if ($"{spec["group"]}/{version!["name"]}" == groupVersion)
                {
                    resources.Add(((string)spec["names"]!["kind"]!, (string)spec["names"]!["plural"]!, (string?)spec["scope"] == "Namespaced"));
                }
            }
        }
        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = groupVersion,
            ["resources"] = new JsonArray([.. resources.Select(r => (JsonNode)new JsonObject
            {
                ["name"] = r.Plural, ["singularName"] = "", ["namespaced"] = r.Namespaced, ["kind"] = r.Kind,
                ["verbs"] = new JsonArray("create", "delete", "get", "list", "patch", "update", "watch"),
            })]),
        };
    }

    private (int, string) Create(string path, string body, bool dryRun = false)
    {
        if (Parse(path) is not { Name: null } parts)
        {
            return NotFound("the server could not find the requested resource");
        }
        var (prefix, ns, plural, _, _) = parts;
        var obj = JsonNode.Parse(body)!.AsObject();
        if (prefix is "apis/authorization.k8s.io/v1" or "apis/authentication.k8s.io/v1")
        {
            // Reviews are questions, not objects: answered (by a test's hook, as an authorizer would) and never stored.
            AfterCreate(obj);
            return (201, obj.ToJsonString());
        }
        var metadata = obj["metadata"] as JsonObject ?? [];
        obj["metadata"] = metadata;
        // The real server takes the group and version from the path when the body leaves them out (a client's typed
        // object without apiVersion); it sets kind from the resource. Only the core kinds the harness posts that way are named here.
        obj["apiVersion"] ??= prefix == "api/v1" ? "v1" : prefix["apis/".Length..];
        obj["kind"] ??= plural switch { "namespaces" => "Namespace", "pods" => "Pod", "secrets" => "Secret", "services" => "Service", _ => null };
        if (metadata["name"] is null && (string?)metadata["generateName"] is { } generate)
        {
            metadata["name"] = generate + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))[..5];
        }
        var name = (string)metadata["name"]!;
        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }
        if (Refused(prefix, plural, ns, name) is { } refused)
        {
            return refused;
        }
        var key = Key($"{prefix}/{plural}", ns, name);
        if (objects.ContainsKey(key))
        {
            return (409, StatusJson(409, "AlreadyExists", $"{plural} \"{name}\" already exists"));
        }
        if (Admit?.Invoke(obj) is { } refusedByAdmission)
        {
            return refusedByAdmission;
        }
        if (dryRun)
        {
            return (201, obj.ToJsonString()); // admitted, not stored
        }
        Stamp(obj, "harness-test-client", "Update");
        objects[key] = obj;
        AfterCreate(obj);
        return (201, obj.ToJsonString());
    }

    private (int, string) Patch(string path, string contentType, string? fieldManager, string body)
    {
        if (Parse(path) is not { Name: not null } parts)
        {
            return NotFound("the server could not find the requested resource");
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
            if (!objects.TryGetValue(key, out var existing))
            {
                if (Refused(prefix, plural, ns, name!) is { } refused)
                {
                    return refused;
                }
                Stamp(patch, fieldManager, "Apply");
                OwnLabels(patch, fieldManager, patch);
                objects[key] = patch;
                AfterCreate(patch);
                return (201, patch.ToJsonString());
            }
            Apply(existing, patch, fieldManager);
            return (200, existing.ToJsonString());
        }
        if (!objects.TryGetValue(key, out var current))
        {
            return NotFound($"{plural} \"{name}\" not found");
        }
        if (sub == "status")
        {
            if (patch["status"] is { } status)
            {
                current["status"] = MergePatch(current["status"], status);
                Record(current, fieldManager ?? "greeter-operator", "Update", "status");
            }
        }
        else
        {
            var merged = MergePatch(current, patch)!.AsObject();
            foreach (var (k, v) in merged.ToList())
            {
                current[k] = v?.DeepClone();
            }
            foreach (var k in current.Select(kv => kv.Key).Except(merged.Select(kv => kv.Key)).ToList())
            {
                current.Remove(k);
            }
            Record(current, fieldManager ?? "harness-test-client", "Update", null);
        }
        Bump(current);
        return (200, current.ToJsonString());
    }

    private (int, string) Delete(string path, string body)
    {
        if (Parse(path) is not { Name: not null } parts)
        {
            return NotFound("the server could not find the requested resource");
        }
        var (prefix, ns, plural, name, _) = parts;
        var key = Key($"{prefix}/{plural}", ns, name!);
        if (!objects.TryGetValue(key, out var current))
        {
            return NotFound($"{plural} \"{name}\" not found");
        }
        var wanted = string.IsNullOrWhiteSpace(body) ? null : (string?)JsonNode.Parse(body)?["preconditions"]?["resourceVersion"];
        var recorded = (string?)current["metadata"]!["resourceVersion"];
        if (wanted is not null && wanted != recorded)
        {
            return (409, StatusJson(409, "Conflict", $"Operation cannot be fulfilled on {plural}{Group(prefix)} \"{name}\": the ResourceVersion in the precondition ({wanted}) does not match the ResourceVersion in record ({recorded}). The object might have been modified"));
        }
        var metadata = current["metadata"]!.AsObject();
        if (plural is "namespaces" or "customresourcedefinitions")
        {
            if (metadata["deletionTimestamp"] is null)
            {
                metadata["deletionTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                if (plural == "customresourcedefinitions")
                {
                    var conditions = current["status"]?["conditions"] as JsonArray ?? [];
                    conditions.Add(new JsonObject { ["type"] = "Terminating", ["status"] = "True", ["reason"] = "InstanceDeletionInProgress", ["message"] = "CustomResource deletion is in progress" });
                }
                else
                {
                    current["status"] = new JsonObject { ["phase"] = "Terminating" };
                }
                Bump(current);
                _ = FinishTerminationAsync(key, current);
            }
            return (200, current.ToJsonString());
        }
        objects.TryRemove(key, out _);
        return (200, current.ToJsonString());
    }

    private async Task FinishTerminationAsync(string key, JsonObject obj)
    {
        await Task.Delay(TerminationDelay);
        lock (gate)
        {
            if ((string?)obj["kind"] == "Namespace")
            {
                var ns = (string)obj["metadata"]!["name"]!;
                foreach (var k in objects.Keys.Where(k => k.Split('|')[1] == ns).ToList())
                {
                    objects.TryRemove(k, out _);
                }
            }
            else
            {
                var spec = obj["spec"]!;
                foreach (var version in spec["versions"]!.AsArray())
                {
                    var collection = $"apis/{spec["group"]}/{version!["name"]}/{spec["names"]!["plural"]}|";
                    foreach (var k in objects.Keys.Where(k => k.StartsWith(collection, StringComparison.Ordinal)).ToList())
                    {
                        objects.TryRemove(k, out _);
                    }
                }
            }
            objects.TryRemove(key, out _);
        }
    }

    /// <summary>Why a create is refused: its namespace is terminating, or its CRD is.</summary>
    private (int, string)? Refused(string prefix, string plural, string? ns, string name)
    {
        if (ns is not null && Get("api/v1/namespaces", null, ns) is { } namespaceObject && namespaceObject["metadata"]?["deletionTimestamp"] is not null)
        {
            return (403, StatusJson(403, "Forbidden", $"{plural} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"));
        }
        if (prefix.StartsWith("apis/", StringComparison.Ordinal))
        {
            var group = prefix.Split('/')[1];
            if (Get("apis/apiextensions.k8s.io/v1/customresourcedefinitions", null, $"{plural}.{group}") is { } crd && crd["metadata"]?["deletionTimestamp"] is not null)
            {
                return (403, StatusJson(403, "Forbidden", $"{plural}.{group} \"{name}\" is forbidden: create not allowed while custom resource definition is terminating"));
            }
        }
        return null;
    }

    private void AfterCreate(JsonObject obj)
    {
        if ((string?)obj["kind"] == "CustomResourceDefinition")
        {
            Establish(obj);
        }
        Created?.Invoke(this, obj);
    }

    private static void Establish(JsonObject crd)
    {
        crd["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["reason"] = "NoConflicts", ["message"] = "no conflicts found" },
                new JsonObject { ["type"] = "Established", ["status"] = "True", ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted" }),
        };
    }

    /// <summary>
    /// Server-side apply on an existing object, simplified: fields are merged in (maps recursively, lists replaced), and
    /// labels are owned per manager: a label this manager applied before and no longer applies is removed; a label
    /// another manager owns with another value is a conflict the real server refuses without force (here: taken).
    /// </summary>
    private void Apply(JsonObject existing, JsonObject patch, string manager)
    {
        var previous = Owned(existing, manager);
        var patchLabels = patch["metadata"]?["labels"] as JsonObject;
        foreach (var (k, v) in patch.ToList())
        {
            if (k == "metadata")
            {
                continue;
            }
            existing[k] = MergeApply(existing[k], v);
        }
        var metadata = existing["metadata"]!.AsObject();
        var labels = metadata["labels"] as JsonObject ?? [];
        metadata["labels"] = labels;
        foreach (var dropped in previous.Where(l => patchLabels?.ContainsKey(l) != true && !OwnedByOthers(existing, manager).Contains(l)))
        {
            labels.Remove(dropped);
        }
        foreach (var (k, v) in patchLabels ?? [])
        {
            labels[k] = v?.DeepClone();
        }
        if (patch["metadata"]?["annotations"] is JsonObject annotations)
        {
            var current = metadata["annotations"] as JsonObject ?? [];
            metadata["annotations"] = current;
            foreach (var (k, v) in annotations)
            {
                current[k] = v?.DeepClone();
            }
        }
        OwnLabels(existing, manager, patch);
        Record(existing, manager, "Apply", null);
        Bump(existing);
    }

    private static JsonNode? MergeApply(JsonNode? current, JsonNode? patch) => (current, patch) switch
    {
        (JsonObject c, JsonObject p) => new JsonObject([.. c.Where(kv => !p.ContainsKey(kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())),
            .. p.Select(kv => KeyValuePair.Create(kv.Key, MergeApply(c[kv.Key], kv.Value)))]),
        _ => patch?.DeepClone(),
    };

    /// <summary>RFC 7386.</summary>
    private static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject p)
        {
            return patch?.DeepClone();
        }
        var result = target is JsonObject t ? t.DeepClone().AsObject() : [];
        foreach (var (k, v) in p)
        {
            if (v is null)
            {
                result.Remove(k);
            }
            else
            {
                result[k] = MergePatch(result[k], v);
            }
        }
        return result;
    }

    // Label ownership per manager, kept beside managedFields (the fake's stand-in for fieldsV1).
    private static HashSet<string> Owned(JsonObject obj, string manager) =>
        [.. ((obj["metadata"]?["annotations"]?["fake.test/owned-labels." + manager]?.GetValue<string>()) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)];

    private static HashSet<string> OwnedByOthers(JsonObject obj, string manager) =>
        [.. (obj["metadata"]?["annotations"] as JsonObject ?? []).Where(kv => kv.Key.StartsWith("fake.test/owned-labels.", StringComparison.Ordinal) && kv.Key != "fake.test/owned-labels." + manager)
            .SelectMany(kv => kv.Value!.GetValue<string>().Split(',', StringSplitOptions.RemoveEmptyEntries))];

    private static void OwnLabels(JsonObject obj, string manager, JsonObject patch)
    {
        var metadata = obj["metadata"]!.AsObject();
        var annotations = metadata["annotations"] as JsonObject ?? [];
        metadata["annotations"] = annotations;
        annotations["fake.test/owned-labels." + manager] = string.Join(",", (patch["metadata"]?["labels"] as JsonObject ?? []).Select(kv => kv.Key));
    }

    private static bool Matches(JsonObject obj, string? selector)
    {
        if (string.IsNullOrEmpty(selector))
        {
            return true;
        }
        var labels = obj["metadata"]?["labels"] as JsonObject ?? [];
        foreach (var term in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var ok = term switch
            {
                _ when term.Contains("!=", StringComparison.Ordinal) => (string?)labels[term.Split("!=")[0]] != term.Split("!=")[1],
                _ when term.Contains('=', StringComparison.Ordinal) => (string?)labels[term.Split('=')[0]] == term.Split('=', 2)[1].TrimStart('='),
                _ when term.StartsWith('!') => !labels.ContainsKey(term[1..]),
                _ => labels.ContainsKey(term),
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    private void Stamp(JsonObject obj, string manager, string operation)
    {
        var metadata = obj["metadata"]!.AsObject();
        metadata["uid"] ??= Guid.NewGuid().ToString();
        metadata["creationTimestamp"] ??= DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        metadata["generation"] ??= 1;
        metadata["managedFields"] = new JsonArray(ManagedFieldsEntry(obj, manager, operation));
        Bump(obj);
    }

    private void Bump(JsonObject obj) =>
        obj["metadata"]!["resourceVersion"] = Interlocked.Increment(ref resourceVersion).ToString(CultureInfo.InvariantCulture);

    private static void Record(JsonObject obj, string manager, string operation, string? subresource)
    {
        var entries = obj["metadata"]!["managedFields"] as JsonArray ?? [];
        obj["metadata"]!["managedFields"] = entries;
        if (!entries.Any(e => (string?)e?["manager"] == manager && (string?)e?["operation"] == operation && (string?)e?["subresource"] == subresource))
        {
            entries.Add(ManagedFieldsEntry(obj, manager, operation, subresource));
        }
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

    private (string Collection, string? Ns, string Name) Locate(JsonObject obj)
    {
        var apiVersion = (string)obj["apiVersion"]!;
        var kind = (string)obj["kind"]!;
        var known = BuiltIn.FirstOrDefault(b => b.GroupVersion == apiVersion && b.Kind == kind).Plural
            ?? All("apis/apiextensions.k8s.io/v1/customresourcedefinitions").Select(c => c["spec"]!).FirstOrDefault(s => (string?)s["names"]?["kind"] == kind && apiVersion.StartsWith($"{s["group"]}/", StringComparison.Ordinal))?["names"]?["plural"]?.GetValue<string>();
        var lower = kind.ToLowerInvariant();
        var plural = known ?? (lower.EndsWith('y') ? lower[..^1] + "ies" : lower + (lower.EndsWith('s') ? "es" : "s"));
        var prefix = apiVersion.Contains('/') ? $"apis/{apiVersion}" : $"api/{apiVersion}";
        return ($"{prefix}/{plural}", (string?)obj["metadata"]?["namespace"], (string)obj["metadata"]!["name"]!);
    }

    private static string Group(string prefix) => prefix.StartsWith("apis/", StringComparison.Ordinal) ? "." + prefix.Split('/')[1] : "";

    private static string Key(string collection, string? ns, string name) => $"{collection}|{ns}|{name}";

    private static (int, string) NotFound(string message) => (404, StatusJson(404, "NotFound", message));

    /// <summary>A 403 answer with <paramref name="message"/>, as the real server words a refusal (for <see cref="Admit"/>).</summary>
    public static (int, string) Forbidden(string message) => (403, StatusJson(403, "Forbidden", message));

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
