// Webhooks: the serving certificates of the operator's admission webhooks, checked from inside the cluster with the caBundle as the only trust anchor.
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Harness.Protocol;
using Harness.Runs;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s;
using k8s.Models;

namespace Harness.Webhooks;

/// <summary>The verdict on the operator's webhook TLS.</summary>
/// <param name="Status">Passed: every webhook's certificate verified; Failed: one did not (names, expiry, trust) or a caBundle is empty; Inconclusive: a control failed.</param>
/// <param name="Evidence">One line per webhook and control.</param>
public sealed record WebhookTlsReport(ProbeStatus Status, ImmutableArray<string> Evidence) : ILiveCheckReport
{
    /// <summary>False when the manifests declare no Service-backed admission webhook: the item is untested, not failed.</summary>
    public bool Tested { get; init; } = true;

    /// <inheritdoc/>
    public ImmutableArray<string> Controls { get; init; } = [];

    /// <inheritdoc/>
    public override string ToString() => $"{Status}: {string.Join("; ", Evidence)}";
}

/// <summary>One Service-backed webhook as the cluster holds it.</summary>
internal sealed record WebhookEndpoint(string Configuration, string Webhook, string Namespace, string Service, int Port, string Path, string CaBundlePem, string? ClusterIp)
{
    public string Host => $"{Service}.{Namespace}.svc";

    public string Url => $"https://{Host}:{Port}{Path}";
}

/// <summary>
/// Each webhook is reached at its Service's DNS name from the cluster vantage (the harness's control pod, where the API
/// server's calls come from, not the operator's pod) with the caBundle as the only trust anchor: the handshake proves
/// names, validity and chain at once, and the agent records what the certificate holds. The control connects to the
/// same Service address under a name no certificate holds and must fail on the name: it proves the Service answered
/// TLS and that name checking is in force, so a pass cannot come from a check that was never made.
/// </summary>
internal static class WebhookTls
{
    /// <summary>A name no serving certificate holds (<c>.invalid</c> is reserved).</summary>
    public const string ControlHost = "webhook-name-check.harness.invalid";

    /// <summary>How long before expiry a certificate is reported (it passes, with a warning line).</summary>
    public static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(14);

    /// <summary>The agent plan: per webhook, the attempt and its control. Pure.</summary>
    public static AgentPlan Plan(IReadOnlyList<WebhookEndpoint> endpoints, int timeoutMs) => new()
    {
        Steps = [.. endpoints.SelectMany((e, i) => new[]
        {
            // The attempt connects where the control does (the Service's ClusterIP, as the API server does) and verifies
            // the certificate for the Service's DNS name: no cluster DNS is needed, and the two differ only in the name.
            new AgentStep
            {
                Id = $"webhook.tls.{i}", Kind = StepKinds.Http, Target = e.Url, TimeoutMs = timeoutMs,
                Args = e.ClusterIp is { } address ? new Dictionary<string, string> { ["caPem"] = e.CaBundlePem, ["connectTo"] = address } : new Dictionary<string, string> { ["caPem"] = e.CaBundlePem },
            },
            new AgentStep
            {
                Id = $"webhook.tls.{i}.control", Kind = StepKinds.Http, Target = $"https://{ControlHost}:{e.Port}{e.Path}", TimeoutMs = timeoutMs,
                Args = e.ClusterIp is { } ip ? new Dictionary<string, string> { ["caPem"] = e.CaBundlePem, ["connectTo"] = ip } : new Dictionary<string, string> { ["caPem"] = e.CaBundlePem },
            },
        })],
    };

    /// <summary>Judges one webhook from its attempt and control. Pure.</summary>
    public static (ProbeStatus Status, string Line) Judge(WebhookEndpoint endpoint, StepResult? attempt, StepResult? control, DateTimeOffset now)
    {
        var who = $"{endpoint.Configuration}/{endpoint.Webhook} ({endpoint.Url})";
        if (endpoint.CaBundlePem.Length == 0)
        {
            return (ProbeStatus.Failed, $"{who}: caBundle is empty on the cluster: the API server cannot verify the webhook (inject it, or set it)");
        }
        if (control is null || attempt is null)
        {
            return (ProbeStatus.Inconclusive, $"{who}: the agent returned no result");
        }
        var controlHeld = control.Outcome == StepOutcomes.Failed && control.Errno == "TLS" && Data(control, DataKeys.TlsNameMatch) == "no";
        if (!controlHeld)
        {
            return (ProbeStatus.Inconclusive, $"{who}: control FAILED: a connection under the name {ControlHost} should have been refused for its name, but: {control.Outcome} {control.Errno} {control.Detail}");
        }
        var names = Data(attempt, DataKeys.TlsNames) ?? Data(control, DataKeys.TlsNames) ?? "?";
        var notAfter = Data(attempt, DataKeys.TlsNotAfter) ?? Data(control, DataKeys.TlsNotAfter);
        var facts = $"certificate names [{names}], notAfter {notAfter ?? "?"}";
        if (attempt.Outcome == StepOutcomes.Succeeded && attempt.HttpStatus == 404)
        {
            return (ProbeStatus.Failed, $"{who}: TLS verified, but nothing serves {endpoint.Path} (HTTP 404): the API server's calls would fail; {facts}; control held");
        }
        if (attempt.Outcome == StepOutcomes.Succeeded)
        {
            var soon = notAfter is not null && DateTimeOffset.TryParse(notAfter, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var end) && end - now < ExpiryWarning
                ? $"; warning: expires within {ExpiryWarning.TotalDays:0} days" : "";
            return (ProbeStatus.Passed, $"{who}: verified by the caBundle alone for {endpoint.Host} (HTTP {attempt.HttpStatus}); {facts}{soon}; control held (name check in force)");
        }
        if (attempt.Errno != "TLS")
        {
            return (ProbeStatus.Inconclusive, $"{who}: the Service answered the control but not the attempt: {attempt.Errno} {attempt.Detail}");
        }
        var chain = Data(attempt, DataKeys.TlsChain) ?? "?";
        var why = Data(attempt, DataKeys.TlsNameMatch) == "no" ? $"the certificate does not hold {endpoint.Host}"
            : chain.Contains("NotTimeValid", StringComparison.Ordinal) ? "the certificate has expired or is not yet valid"
            : chain != "trusted" ? $"the caBundle does not verify the certificate ({chain})"
            : $"the handshake failed ({attempt.Detail})";
        return (ProbeStatus.Failed, $"{who}: {why}; {facts}; control held");
    }

    /// <summary>The Service-backed webhooks of the named configurations, as the cluster holds them (caBundles may have been injected). Pure.</summary>
    public static ImmutableArray<WebhookEndpoint> Endpoints(IEnumerable<(string Configuration, string Webhook, Admissionregistrationv1WebhookClientConfig Client)> webhooks, IReadOnlyDictionary<string, string> clusterIps) =>
    [
        .. webhooks.Where(w => w.Client.Service is not null).Select(w => new WebhookEndpoint(
            w.Configuration, w.Webhook, w.Client.Service.NamespaceProperty, w.Client.Service.Name, w.Client.Service.Port ?? 443, w.Client.Service.Path ?? "/",
            w.Client.CaBundle is { Length: > 0 } bundle ? Encoding.ASCII.GetString(bundle) : "",
            clusterIps.TryGetValue($"{w.Client.Service.NamespaceProperty}/{w.Client.Service.Name}", out var ip) ? ip : null)),
    ];

    /// <summary>Reads the operator's webhook configurations from the cluster, runs the plan on the cluster vantage and judges each webhook.</summary>
    public static async Task<WebhookTlsReport> CheckAsync(IKubernetes client, OperatorUnderTest op, IProbeVehicle vantage, int timeoutMs, RunSession session)
    {
        var ct = session.Cancellation;
        var names = op.Manifests.Where(d => d.Kind is "ValidatingWebhookConfiguration" or "MutatingWebhookConfiguration").Select(d => (d.Kind, d.Name)).ToList();
        if (names.Count == 0)
        {
            return new WebhookTlsReport(ProbeStatus.Inconclusive, ["the manifests declare no admission webhook configuration"]) { Tested = false };
        }
        var webhooks = new List<(string, string, Admissionregistrationv1WebhookClientConfig)>();
        foreach (var (kind, name) in names)
        {
            if (kind == "ValidatingWebhookConfiguration")
            {
                var found = await client.AdmissionregistrationV1.ReadValidatingWebhookConfigurationAsync(name, cancellationToken: ct).ConfigureAwait(false);
                webhooks.AddRange((found.Webhooks ?? []).Select(w => ($"{kind} {name}", w.Name, w.ClientConfig)));
            }
            else
            {
                var found = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync(name, cancellationToken: ct).ConfigureAwait(false);
                webhooks.AddRange((found.Webhooks ?? []).Select(w => ($"{kind} {name}", w.Name, w.ClientConfig)));
            }
        }
        var ips = new Dictionary<string, string>(StringComparer.Ordinal);
        var unserved = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var service in webhooks.Select(w => w.Item3.Service).Where(s => s is not null).DistinctBy(s => $"{s!.NamespaceProperty}/{s.Name}"))
        {
            var key = $"{service!.NamespaceProperty}/{service.Name}";
            V1Service svc;
            try
            {
                svc = await client.CoreV1.ReadNamespacedServiceAsync(service.Name, service.NamespaceProperty, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                unserved[key] = $"its Service {key} does not exist: every call the API server makes to it fails";
                continue;
            }
            if (svc.Spec?.ClusterIP is { Length: > 0 } ip && ip != "None")
            {
                ips[key] = ip;
            }
            // Applied after the workloads (as Helm does), the webhooks are judged once something serves them.
            if (await BackendAsync(client, service.NamespaceProperty, service.Name, session).ConfigureAwait(false) is { } none)
            {
                unserved[key] = none;
            }
        }
        var endpoints = Endpoints(webhooks, ips);
        if (endpoints.IsEmpty)
        {
            return new WebhookTlsReport(ProbeStatus.Inconclusive, ["the webhooks call URLs, not Services: their TLS is outside the cluster's view"]) { Tested = false };
        }
        var served = endpoints.Where(e => !unserved.ContainsKey($"{e.Namespace}/{e.Service}")).ToList();
        var report = served.Count == 0 ? new AgentReport { AgentVersion = "none", Results = [] } : await vantage.RunAsync(Plan(served, timeoutMs), ct).ConfigureAwait(false);
        StepResult? Result(string id) => report.Results.FirstOrDefault(r => r.Id == id);
        (ProbeStatus Status, string Line) JudgeServed(WebhookEndpoint e)
        {
            var i = served.IndexOf(e); // its steps' number in the plan
            return Judge(e, Result($"webhook.tls.{i}"), Result($"webhook.tls.{i}.control"), session.Time.GetUtcNow());
        }
        var judged = endpoints.Select(e => unserved.TryGetValue($"{e.Namespace}/{e.Service}", out var why)
            ? (Status: ProbeStatus.Failed, Line: $"{e.Configuration}/{e.Webhook} ({e.Url}): {why}")
            : JudgeServed(e)).ToList();
        var status = judged.Any(j => j.Status == ProbeStatus.Failed) ? ProbeStatus.Failed
            : judged.Any(j => j.Status == ProbeStatus.Inconclusive) ? ProbeStatus.Inconclusive
            : ProbeStatus.Passed;
        var controls = served.Select((e, i) => ControlLine(e, Result($"webhook.tls.{i}.control")));
        return new WebhookTlsReport(status, [.. judged.Select(j => j.Line)]) { Controls = [.. controls] };
    }

    /// <summary>How long a webhook's Service may take to have a ready backend (its pod starting) before that is the verdict.</summary>
    internal static readonly TimeSpan BackendWait = TimeSpan.FromSeconds(60);

    /// <summary>Null once the Service has a ready endpoint; otherwise, after <see cref="BackendWait"/>, why it has none.</summary>
    private static async Task<string?> BackendAsync(IKubernetes client, string ns, string service, RunSession session)
    {
        try
        {
            await Waits.BoundedWait.UntilAsync(
                $"a ready backend for Service {ns}/{service}",
                async t => (await client.DiscoveryV1.ListNamespacedEndpointSliceAsync(ns, labelSelector: $"kubernetes.io/service-name={service}", cancellationToken: t).ConfigureAwait(false)).Items,
                slices => slices.SelectMany(s => s.Endpoints ?? []).Any(e => e.Conditions?.Ready != false),
                slices => $"{slices.Sum(s => s.Endpoints?.Count ?? 0)} endpoints, none ready",
                BackendWait, TimeSpan.FromSeconds(1), time: session.Time, ct: session.Cancellation).ConfigureAwait(false);
            return null;
        }
        catch (Waits.WaitTimeoutException e)
        {
            return $"its Service {ns}/{service} has no ready backend after {BackendWait.TotalSeconds:0} s ({e.Message}): every call the API server makes to it fails";
        }
    }

    /// <summary>What one webhook's control showed, from its own result. Pure.</summary>
    public static string ControlLine(WebhookEndpoint endpoint, StepResult? control)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var where = endpoint.ClusterIp ?? endpoint.Host;
        return control switch
        {
            null => $"{endpoint.Configuration}/{endpoint.Webhook}: control not run",
            { Outcome: StepOutcomes.Failed, Errno: "TLS" } when Data(control, DataKeys.TlsNameMatch) == "no"
                => $"{endpoint.Configuration}/{endpoint.Webhook}: control held: {where}:{endpoint.Port} answered TLS and refused the name {ControlHost}",
            _ => $"{endpoint.Configuration}/{endpoint.Webhook}: control FAILED: {where}:{endpoint.Port} under the name {ControlHost}: {control.Outcome} {control.Errno} {control.Detail}",
        };
    }

    private static string? Data(StepResult result, string key) => result.Data is { } d && d.TryGetValue(key, out var v) ? v : null;
}
