// Harness.Protocol: the JSON contract between the harness and the agent (plans, steps, results).
using System.Text.Json.Serialization;

namespace Harness.Protocol;

/// <summary>
/// Everything one agent run attempts. The agent runs all steps concurrently, each under its own timeout,
/// and answers with one <see cref="AgentReport"/>.
/// </summary>
public sealed record AgentPlan
{
    /// <summary>The steps to run; ids must be unique.</summary>
    public required IReadOnlyList<AgentStep> Steps { get; init; }

    /// <summary>Where the agent finds the Kubernetes API and the pod's credentials, for <see cref="StepKinds.KubernetesRequest"/> steps.</summary>
    public KubernetesAccess? Kubernetes { get; init; }

    /// <summary>
    /// When set, the agent observes another process instead of itself (an ephemeral container beside the operator):
    /// process steps read that process's status, filesystem steps write through its root, and kernel steps run only
    /// when the agent's own security context equals the target's. Null: the agent's own process is the target.
    /// </summary>
    public TargetProcess? Target { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"AgentPlan {{ Steps = [{string.Join(", ", Steps.Select(st => st.Id))}], Kubernetes = {Kubernetes?.ToString() ?? "null"}, Target = {Target?.ToString() ?? "null"} }}";
}

/// <summary>The process an agent observes when it is not itself in the target's security context.</summary>
public sealed record TargetProcess
{
    /// <summary>
    /// The target's pid in the agent's PID namespace; null to discover it: the lowest pid outside the agent's own
    /// mount namespace that is not a pod sandbox (<c>pause</c>) process.
    /// </summary>
    public int? Pid { get; init; }

    /// <summary>
    /// Kernel attempts run in the agent's own process. When true (the default) they are made only if that process's
    /// uid, gid, capability sets, no_new_privs and seccomp mode equal the target's; otherwise each is an error that
    /// names the difference, never a verdict about the agent's own context.
    /// </summary>
    public bool RequireSameSecurityContext { get; init; } = true;
}

/// <summary>One attempt the agent makes. <see cref="Kind"/> is one of <see cref="StepKinds"/>.</summary>
public sealed record AgentStep
{
    /// <summary>Unique id within the plan; the result carries it back.</summary>
    public required string Id { get; init; }

    /// <summary>What to attempt: one of the constants in <see cref="StepKinds"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>The object of the attempt: a path, a host, <c>host:port</c>, a URL, an API path, or a uid.</summary>
    public string? Target { get; init; }

    /// <summary>Time the step may take before it is reported as <see cref="StepOutcomes.TimedOut"/>.</summary>
    public int TimeoutMs { get; init; } = 5000;

    /// <summary>Kind-specific arguments (HTTP method, request body, expected sink token, ...).</summary>
    public IReadOnlyDictionary<string, string>? Args { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"AgentStep {{ Id = {Id}, Kind = {Kind}, Target = {Target ?? "null"}, TimeoutMs = {TimeoutMs}, Args = {ProtocolText.Map(Args)} }}";
}

/// <summary>How the agent reaches the Kubernetes API from inside a pod.</summary>
public sealed record KubernetesAccess
{
    /// <summary>
    /// API server base URL. Null (the default) finds it as in-cluster clients do: the address the kubelet injects in
    /// <c>KUBERNETES_SERVICE_HOST</c>/<c>KUBERNETES_SERVICE_PORT</c> first (no DNS needed), then <see cref="ServerName"/>
    /// through DNS. Either way TLS is verified against <see cref="CaPath"/> for <see cref="ServerName"/>.
    /// </summary>
    public string? ApiServer { get; init; }

    /// <summary>The name the API server's certificate must carry (and the host name tried when no address is injected).</summary>
    public string ServerName { get; init; } = "kubernetes.default.svc";

    /// <summary>File holding the bearer token; the agent reads it and never prints it.</summary>
    public string TokenPath { get; init; } = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    /// <summary>CA bundle that signs the API server certificate.</summary>
    public string CaPath { get; init; } = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

    /// <summary>The pod's namespace file, used to expand <c>{namespace}</c> in request paths.</summary>
    public string NamespacePath { get; init; } = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
}

/// <summary>The agent's answer to one plan.</summary>
public sealed record AgentReport
{
    /// <summary>Version of the agent that produced the report.</summary>
    public required string AgentVersion { get; init; }

    /// <summary>Wall time of the whole plan.</summary>
    public long DurationMs { get; init; }

    /// <summary>One result per plan step, in plan order.</summary>
    public required IReadOnlyList<StepResult> Results { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"AgentReport {{ AgentVersion = {AgentVersion}, DurationMs = {DurationMs}, Results = [{string.Join(", ", Results.Select(r => $"{r.Id}: {r.Outcome}"))}] }}";
}

/// <summary>What happened when the agent attempted one step. Raw observation; the harness classifies it.</summary>
public sealed record StepResult
{
    /// <summary>The step id.</summary>
    public required string Id { get; init; }

    /// <summary>The step kind.</summary>
    public required string Kind { get; init; }

    /// <summary>One of <see cref="StepOutcomes"/>.</summary>
    public required string Outcome { get; init; }

    /// <summary>Symbolic errno (<c>EROFS</c>, <c>EPERM</c>, <c>ECONNREFUSED</c>, ...) when a system call failed.</summary>
    public string? Errno { get; init; }

    /// <summary>HTTP status for HTTP and Kubernetes steps.</summary>
    public int? HttpStatus { get; init; }

    /// <summary><c>V1Status.reason</c> for Kubernetes steps (e.g. <c>Forbidden</c>).</summary>
    public string? StatusReason { get; init; }

    /// <summary>Human-readable detail, trimmed; never contains credentials.</summary>
    public string? Detail { get; init; }

    /// <summary>Structured facts the step observed (uid, capability masks, euid after exec, resolved addresses...).</summary>
    public IReadOnlyDictionary<string, string>? Data { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"StepResult {{ Id = {Id}, Kind = {Kind}, Outcome = {Outcome}, Errno = {Errno ?? "null"}, HttpStatus = {HttpStatus?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}, Detail = {Detail ?? "null"}, Data = {ProtocolText.Map(Data)}, DurationMs = {DurationMs} }}";

    /// <summary>Time the step took.</summary>
    public long DurationMs { get; init; }
}

/// <summary>Text forms shared by the protocol records.</summary>
internal static class ProtocolText
{
    /// <summary><c>{k: v, ...}</c> with long values cut (a CA bundle or a request body says nothing in a log line).</summary>
    public static string Map(IReadOnlyDictionary<string, string>? map) =>
        map is null ? "null" : "{" + string.Join(", ", map.Select(kv => $"{kv.Key}: {(kv.Value.Length > 80 ? string.Concat(kv.Value.AsSpan(0, 80), "…") : kv.Value)}")) + "}";
}

/// <summary>Keys of <see cref="StepResult.Data"/> that every consumer may rely on.</summary>
public static class DataKeys
{
    /// <summary>What the step observed: the agent's own process, or the target process (pid, name) and how it was reached.</summary>
    public const string Observed = "observed";

    /// <summary>
    /// For file writes the kernel refused by permission: <c>read-only</c> or <c>writable</c>, the directory's mount as
    /// statvfs reports it (ST_RDONLY), or <c>unknown: ERRNO</c> when it cannot be read.
    /// </summary>
    public const string Mount = "mount";

    /// <summary>For HTTP steps: the token the harness's sink put in its answer (proves the answer came from the sink).</summary>
    public const string SinkToken = "sinkToken";

    /// <summary>For HTTPS steps with a given CA: the names the server's certificate holds (comma-separated).</summary>
    public const string TlsNames = "tlsNames";

    /// <summary>For HTTPS steps with a given CA: the certificate's notAfter (UTC, ISO 8601).</summary>
    public const string TlsNotAfter = "tlsNotAfter";

    /// <summary>For HTTPS steps with a given CA: <c>yes</c> when the certificate holds the URL's name.</summary>
    public const string TlsNameMatch = "tlsNameMatch";

    /// <summary>For HTTPS steps with a given CA: <c>trusted</c>, or the chain problems (<c>NotTimeValid</c>, <c>UntrustedRoot</c>, <c>PartialChain</c>).</summary>
    public const string TlsChain = "tlsChain";

    /// <summary>For Kubernetes steps: the address the request went to and where it came from (injected environment or DNS).</summary>
    public const string ApiServer = "apiServer";
}

/// <summary>Step outcomes as the agent reports them.</summary>
public static class StepOutcomes
{
    /// <summary>The attempt did what it asked for.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>The attempt was refused; <see cref="StepResult.Errno"/>, <see cref="StepResult.HttpStatus"/> or <see cref="StepResult.Detail"/> says how.</summary>
    public const string Failed = "failed";

    /// <summary>The step's own timeout expired first.</summary>
    public const string TimedOut = "timedOut";

    /// <summary>The agent could not make the attempt at all (missing helper, bad arguments, unexpected exception).</summary>
    public const string Error = "error";
}

/// <summary>The kinds of step the agent knows.</summary>
public static class StepKinds
{
    /// <summary>Create, write, sync and remove a file in the directory <see cref="AgentStep.Target"/>.</summary>
    public const string FileWrite = "fs.write";

    /// <summary>Read identity, capabilities, no_new_privs and seccomp mode from <c>/proc/self/status</c> (or the target process's).</summary>
    public const string ProcessStatus = "proc.status";

    /// <summary>Run the kernel helper with the arguments in <c>Args["argv"]</c> (space separated); see <c>kprobe.c</c>.</summary>
    public const string Kernel = "kernel";

    /// <summary>Resolve <see cref="AgentStep.Target"/> with the system resolver.</summary>
    public const string Dns = "net.dns";

    /// <summary>Open a TCP connection to <see cref="AgentStep.Target"/> (<c>host:port</c>).</summary>
    public const string Tcp = "net.tcp";

    /// <summary>HTTP(S) GET of the URL in <see cref="AgentStep.Target"/>.</summary>
    public const string Http = "net.http";

    /// <summary>A request to the Kubernetes API with the pod's own token; path in <see cref="AgentStep.Target"/>.</summary>
    public const string KubernetesRequest = "k8s.request";

    /// <summary>
    /// Read the ServiceAccount token file <see cref="AgentStep.Target"/> and report its claims (audience, expiry, issue
    /// time, the pod it is bound to), never the token; with <c>Args["mode"] = "exists"</c>, only whether the file can be read.
    /// </summary>
    public const string TokenClaims = "sa.token";
}

/// <summary>The claims of a ServiceAccount token, as the agent reports them (the token itself never leaves the pod).</summary>
internal static class JwtClaims
{
    public const string Audience = "aud";
    public const string Expiry = "exp";
    public const string IssuedAt = "iat";
    public const string WarnAfter = "warnafter";
    public const string Pod = "pod";
    public const string ServiceAccount = "serviceAccount";

    /// <summary>The claims of a JWT (header.payload.signature), or null when the text is not one. Pure; the text is not kept.</summary>
    public static Dictionary<string, string>? Read(string text)
    {
        var parts = text.Trim().Split('.');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            return null;
        }
        try
        {
            var b64 = parts[1].Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
            using var doc = System.Text.Json.JsonDocument.Parse(Convert.FromBase64String(b64));
            var root = doc.RootElement;
            if (root.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                return null;
            }
            var claims = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("aud", out var aud))
            {
                claims[Audience] = aud.ValueKind == System.Text.Json.JsonValueKind.Array
                    ? string.Join(",", aud.EnumerateArray().Select(a => a.GetString()))
                    : aud.GetString() ?? "";
            }
            foreach (var (name, key) in new[] { ("exp", Expiry), ("iat", IssuedAt) })
            {
                if (root.TryGetProperty(name, out var n) && n.TryGetInt64(out var v))
                {
                    claims[key] = v.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            if (root.TryGetProperty("kubernetes.io", out var k8s) && k8s.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                if (k8s.TryGetProperty("pod", out var pod) && pod.TryGetProperty("name", out var podName))
                {
                    claims[Pod] = podName.GetString() ?? "";
                }
                if (k8s.TryGetProperty("serviceaccount", out var sa) && sa.TryGetProperty("name", out var saName))
                {
                    claims[ServiceAccount] = saName.GetString() ?? "";
                }
                if (k8s.TryGetProperty("warnafter", out var warn) && warn.TryGetInt64(out var w))
                {
                    claims[WarnAfter] = w.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            else if (root.TryGetProperty("kubernetes.io/serviceaccount/service-account.name", out var legacy))
            {
                claims[ServiceAccount] = legacy.GetString() ?? "";
            }
            return claims;
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>Source-generated JSON metadata, so the NativeAOT agent needs no reflection.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(AgentPlan))]
[JsonSerializable(typeof(AgentReport))]
[JsonSerializable(typeof(TargetProcess))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
