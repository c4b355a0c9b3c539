// Webhooks: whether the admission webhooks the manifests declare can be reached and trusted (pure).
using System.Collections.Immutable;
using Harness.Manifests;
using Harness.Preflight;
using k8s.Models;

namespace Harness.Webhooks;

/// <summary>
/// The manifests' admission webhooks, checked before anything runs: the Service each one calls is among the manifests
/// and has the port; something backs that Service; the CA bundle is set or injected by a named controller (cert-manager's
/// <c>cert-manager.io/inject-ca-from</c>); a URL webhook is called outside the cluster's Service routing. Pure.
/// </summary>
public static class WebhookAnalyzer
{
    /// <summary>Finding: the webhook's Service is not in the manifests.</summary>
    public const string ServiceMissing = "WEBHOOK-SERVICE-MISSING";

    /// <summary>Finding: the Service has no such port.</summary>
    public const string PortMissing = "WEBHOOK-PORT-MISSING";

    /// <summary>Finding: no pod template in the manifests matches the Service's selector.</summary>
    public const string NoBackend = "WEBHOOK-NO-BACKEND";

    /// <summary>Finding: no caBundle and no injection annotation: the API server cannot verify the webhook.</summary>
    public const string CaBundleMissing = "WEBHOOK-CABUNDLE-MISSING";

    /// <summary>Note: the caBundle is empty in the manifests and an account of theirs may write it at run time.</summary>
    public const string CaBundleInjected = "WEBHOOK-CABUNDLE-INJECTED";

    /// <summary>Finding: the webhook is called by URL, not through a Service.</summary>
    public const string UrlClient = "WEBHOOK-URL";

    /// <summary>Annotations by which a controller injects the CA bundle (the controller named in the evidence).</summary>
    public static readonly ImmutableDictionary<string, string> InjectionAnnotations = ImmutableDictionary.CreateRange(
    [
        KeyValuePair.Create("cert-manager.io/inject-ca-from", "cert-manager's cainjector"),
        KeyValuePair.Create("cert-manager.io/inject-ca-from-secret", "cert-manager's cainjector"),
        KeyValuePair.Create("service.beta.openshift.io/inject-cabundle", "OpenShift's service CA operator"),
        KeyValuePair.Create(Manifests.OlmBundle.CaInjection, "OLM (the webhook comes from a ClusterServiceVersion)"),
    ]);

    /// <summary>The findings for every webhook configuration in <paramref name="documents"/>.</summary>
    /// <remarks>
    /// An empty caBundle is an error only when nothing can fill it: operators that write it themselves at run time (their
    /// controller, or a patch Job of the same manifests) hold patch or update on that very configuration, and are named in
    /// a note instead.
    /// </remarks>
    public static ImmutableArray<Finding> Analyze(IReadOnlyList<ManifestDocument> documents, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(documents);
        var findings = ImmutableArray.CreateBuilder<Finding>();
        var rbac = Rbac.RbacModel.From(documents, defaultNamespace);
        var runners = documents
            .Select(d => PodTemplates.TryGet(d.Object, out _, out var spec) ? (Doc: d, Account: new Rbac.ServiceAccountRef(d.Namespace ?? defaultNamespace, string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName)) : default)
            .Where(x => x.Doc is not null)
            .ToList();
        foreach (var doc in documents)
        {
            var (annotations, webhooks) = doc.Object switch
            {
                V1ValidatingWebhookConfiguration v => (v.Metadata?.Annotations, (v.Webhooks ?? []).Select(w => (w.Name, w.ClientConfig)).ToList()),
                V1MutatingWebhookConfiguration m => (m.Metadata?.Annotations, (m.Webhooks ?? []).Select(w => (w.Name, w.ClientConfig)).ToList()),
                _ => (null, null),
            };
            if (webhooks is null)
            {
                continue;
            }
            var injector = annotations?.Keys.FirstOrDefault(InjectionAnnotations.ContainsKey);
            foreach (var (name, client) in webhooks)
            {
                var subject = $"{doc.Kind} {doc.Name} webhook {name}";
                void Add(string id, FindingSeverity severity, string message) => findings.Add(new Finding(id, severity, subject, message, doc.Path, doc.Line));
                if (client?.CaBundle is not { Length: > 0 } && injector is null)
                {
                    var resource = doc.Kind == "ValidatingWebhookConfiguration" ? "validatingwebhookconfigurations" : "mutatingwebhookconfigurations";
                    var writers = runners.Where(r => new[] { "patch", "update" }.Any(v => rbac.Allows(r.Account, v, "admissionregistration.k8s.io", resource, null, null, doc.Name))).ToList();
                    if (writers.Count > 0)
                    {
                        Add(CaBundleInjected, FindingSeverity.Note,
                            $"clientConfig.caBundle is empty in the manifests and written at run time: {string.Join("; ", writers.Select(w => $"{w.Doc.Kind} {w.Doc.Namespace ?? defaultNamespace}/{w.Doc.Name} runs as ServiceAccount {w.Account}, which may patch this configuration"))}");
                    }
                    else
                    {
                        Add(CaBundleMissing, FindingSeverity.Error,
                            $"clientConfig.caBundle is empty, no controller injects it ({string.Join(", ", InjectionAnnotations.Keys.Where(k => k != Manifests.OlmBundle.CaInjection).Order(StringComparer.Ordinal))}) and no account of these manifests may patch this configuration: the API server cannot verify the webhook's certificate");
                    }
                }
                if (client?.Url is { Length: > 0 } url)
                {
                    Add(UrlClient, FindingSeverity.Warning, $"is called by URL ({url}), outside the cluster's Service routing and NetworkPolicy");
                    continue;
                }
                if (client?.Service is not { } reference)
                {
                    continue;
                }
                var port = reference.Port ?? 443;
                var service = documents.FirstOrDefault(d => d.Object is V1Service && d.Name == reference.Name && (d.Namespace ?? defaultNamespace) == reference.NamespaceProperty)?.Object as V1Service;
                if (service is null)
                {
                    Add(ServiceMissing, FindingSeverity.Error, $"calls Service {reference.NamespaceProperty}/{reference.Name}, which is not in these manifests");
                    continue;
                }
                if (!(service.Spec?.Ports ?? []).Any(p => p.Port == port))
                {
                    Add(PortMissing, FindingSeverity.Error,
                        $"calls port {port} of Service {reference.NamespaceProperty}/{reference.Name}, which has {string.Join(", ", (service.Spec?.Ports ?? []).Select(p => p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty("no ports"))}");
                }
                var selector = service.Spec?.Selector;
                var backed = selector is { Count: > 0 } && documents.Any(d =>
                    (d.Namespace ?? defaultNamespace) == reference.NamespaceProperty
                    && PodTemplates.TryGet(d.Object, out var meta, out _)
                    && Labels.Matches(new V1LabelSelector { MatchLabels = selector }, meta?.Labels));
                if (!backed)
                {
                    Add(NoBackend, FindingSeverity.Warning, $"Service {reference.NamespaceProperty}/{reference.Name} selects no pod template in these manifests");
                }
            }
        }
        return findings.ToImmutable();
    }
}
