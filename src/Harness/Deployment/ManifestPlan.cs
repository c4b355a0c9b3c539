using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Harness.Manifests;
using k8s;
using k8s.Models;

namespace Harness.Deployment;

/// <summary>The order objects are applied in: what later phases need exists first.</summary>
internal enum ApplyPhase
{
    /// <summary>The target namespace.</summary>
    Namespace = 0,

    /// <summary>CustomResourceDefinitions, waited for until Established.</summary>
    CustomResourceDefinitions = 1,

    /// <summary>Other cluster-scoped objects (ClusterRoles, bindings, webhooks).</summary>
    ClusterScoped = 2,

    /// <summary>Namespaced built-in objects (Deployments, ServiceAccounts, Roles, NetworkPolicies).</summary>
    Namespaced = 3,

    /// <summary>Custom resources, once their CRDs are served.</summary>
    CustomResources = 4,

    /// <summary>
    /// Admission webhook configurations and APIServices, last (as Helm orders them): applied before the workload that
    /// serves them, a webhook matching Deployments blocks that very Deployment (<c>failed calling webhook</c>).
    /// </summary>
    Admission = 5,
}

/// <summary>One object to apply: its JSON, where it goes, and in which phase.</summary>
/// <param name="Source">The manifest it came from.</param>
/// <param name="Group">API group ("" for core).</param>
/// <param name="Version">API version.</param>
/// <param name="Kind">Kind.</param>
/// <param name="Name">Name.</param>
/// <param name="Namespace">Target namespace; null for a cluster-scoped object.</param>
/// <param name="Json">The object as it will be applied (namespace rewritten).</param>
/// <param name="Phase">When it is applied.</param>
internal sealed record PlannedObject(ManifestDocument Source, string Group, string Version, string Kind, string Name, string? Namespace, string Json, ApplyPhase Phase)
{
    /// <summary><c>Kind ns/name</c>.</summary>
    public string Display => Namespace is null ? $"{Kind} {Name}" : $"{Kind} {Namespace}/{Name}";
}

/// <summary>
/// Where one run puts the manifests. The workload's namespace (or, for namespace-less install files, the only
/// Namespace the manifests declare) becomes <see cref="PrimaryNamespace"/>; every other namespace of the manifests gets
/// a name of the run's own (<c>{name}-{suffix}</c>); cluster-scoped objects that can be renamed get the suffix too.
/// Without a suffix, every namespace folds into the primary one and nothing is renamed.
/// </summary>
/// <param name="PrimaryNamespace">The run's namespace for the operator.</param>
/// <param name="Suffix">The run's suffix (its session id); null to fold and keep names.</param>
/// <param name="SourceNamespace">The manifests' namespace that maps to <paramref name="PrimaryNamespace"/>; null to infer it.</param>
internal sealed record Placement(string PrimaryNamespace, string? Suffix = null, string? SourceNamespace = null);

/// <summary>
/// Puts an operator's manifests in the order and place they are applied: namespaces, then CRDs (which must be
/// established before their custom resources), then other cluster-scoped objects, then namespaced ones, then custom
/// resources. Each namespace of the manifests maps to a namespace of the run (labels kept, PodSecurity ones above all)
/// and every reference follows it: object namespaces, binding subjects, webhook and APIService service references,
/// namespaceSelectors on <c>kubernetes.io/metadata.name</c>, Service DNS names (<c>svc.NS.svc</c>), cert-manager's
/// <c>inject-ca-from</c>, and env values that name a namespace. ClusterRoles, ClusterRoleBindings, webhook
/// configurations, admission policies and PriorityClasses get per-run names with their references rewritten, and the
/// run's webhooks are limited to the run's namespaces, so that runs on one cluster cannot see each other. CRDs keep
/// their names: they are shared (see <see cref="ManifestApplier"/>). Pure.
/// </summary>
internal static class ManifestPlan
{
    /// <summary>An admission webhook configuration or an APIService: what the API server calls out to.</summary>
    internal static bool IsAdmission(ManifestDocument doc) =>
        (doc.ApiVersion.StartsWith("admissionregistration.k8s.io/", StringComparison.Ordinal) && doc.Kind is "MutatingWebhookConfiguration" or "ValidatingWebhookConfiguration")
        || (doc.ApiVersion.StartsWith("apiregistration.k8s.io/", StringComparison.Ordinal) && doc.Kind == "APIService");

    private static readonly ImmutableHashSet<string> ClusterScopedKinds =
    [
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "APIService", "RuntimeClass", "IngressClass", "PersistentVolume", "CSIDriver", "Node",
    ];

    /// <summary>Plans the manifests for a target namespace, folding every namespace into it (no renames).</summary>
    public static ImmutableArray<PlannedObject> Build(IReadOnlyList<ManifestDocument> documents, string targetNamespace, IEnumerable<string>? clusterScopedCustomKinds = null) =>
        Build(documents, new Placement(targetNamespace), clusterScopedCustomKinds);

    /// <summary>Plans the manifests for one run (see <see cref="Placement"/>).</summary>
    /// <param name="documents">The operator's manifests.</param>
    /// <param name="placement">Where the run puts them.</param>
    /// <param name="clusterScopedCustomKinds">Custom kinds (<c>group/Kind</c>) known to be cluster-scoped besides those the CRDs here declare.</param>
    public static ImmutableArray<PlannedObject> Build(IReadOnlyList<ManifestDocument> documents, Placement placement, IEnumerable<string>? clusterScopedCustomKinds = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(placement);
        ArgumentException.ThrowIfNullOrEmpty(placement.PrimaryNamespace);
        var crdScopes = documents.Where(d => d.Object is V1CustomResourceDefinition)
            .Select(d => (V1CustomResourceDefinition)d.Object!)
            .ToDictionary(c => $"{c.Spec.Group}/{c.Spec.Names.Kind}", c => c.Spec.Scope == "Namespaced", StringComparer.Ordinal);
        var extraCluster = (clusterScopedCustomKinds ?? []).ToHashSet(StringComparer.Ordinal);
        var names = RunNames.For(documents, placement);
        var planned = new List<PlannedObject>();
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var doc in documents)
        {
            var (group, version) = SplitApiVersion(doc.ApiVersion);
            // A CRD from its text: its typed object carries no schemas (ManifestLoader).
            var json = JsonNode.Parse(doc.Object is { } typed && doc.Object is not V1CustomResourceDefinition ? KubernetesJson.Serialize(typed) : YamlJson.FromText(doc.Text)!.ToJsonString())!.AsObject();
            json["apiVersion"] = doc.ApiVersion;
            json["kind"] = doc.Kind;
            var metadata = json["metadata"] as JsonObject ?? new JsonObject();
            json["metadata"] = metadata;
            metadata.Remove("resourceVersion");
            metadata.Remove("uid");
            metadata.Remove("creationTimestamp");
            if (doc.Kind == "Namespace" && group.Length == 0)
            {
                var mapped = names.Namespace(doc.Name);
                if (!declared.Add(mapped))
                {
                    continue;
                }
                metadata["name"] = mapped;
                metadata.Remove("namespace");
                planned.Add(new PlannedObject(doc, "", "v1", "Namespace", mapped, null, json.ToJsonString(), ApplyPhase.Namespace));
                continue;
            }
            var custom = !IsBuiltIn(doc);
            var namespaced = doc.Kind switch
            {
                _ when ClusterScopedKinds.Contains(doc.Kind) && !custom => false,
                _ when custom && crdScopes.TryGetValue($"{group}/{doc.Kind}", out var ns) => ns,
                _ when custom && extraCluster.Contains($"{group}/{doc.Kind}") => false,
                _ => true,
            };
            var targetNamespace = namespaced ? names.Namespace(doc.Namespace) : null;
            if (targetNamespace is not null)
            {
                metadata["namespace"] = targetNamespace;
            }
            else
            {
                metadata.Remove("namespace");
            }
            var name = custom ? doc.Name : names.ClusterScoped(doc.Kind, doc.Name);
            metadata["name"] = name;
            names.Rewrite(json, doc.Kind, targetNamespace);
            var phase = doc.Kind == "CustomResourceDefinition" ? ApplyPhase.CustomResourceDefinitions
                : IsAdmission(doc) ? ApplyPhase.Admission
                : custom ? ApplyPhase.CustomResources : namespaced ? ApplyPhase.Namespaced : ApplyPhase.ClusterScoped;
            planned.Add(new PlannedObject(doc, group, version, doc.Kind, name, targetNamespace, json.ToJsonString(), phase));
        }
        // Every namespace the run uses exists: those the manifests use but do not declare are generated.
        foreach (var ns in planned.Where(p => p.Namespace is not null).Select(p => p.Namespace!).Append(placement.PrimaryNamespace).Distinct(StringComparer.Ordinal).Where(n => !declared.Contains(n)).Reverse())
        {
            var nsJson = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ns, ["labels"] = new JsonObject() } };
            planned.Insert(0, new PlannedObject(new ManifestDocument("(generated)", 0, "v1", "Namespace", ns, null, null, ""), "", "v1", "Namespace", ns, null, nsJson.ToJsonString(), ApplyPhase.Namespace));
        }
        return [.. planned.OrderBy(p => p.Phase)];
    }

    /// <summary>Images the manifests' pods run that are not pinned by digest.</summary>
    public static ImmutableArray<string> UnpinnedImages(IEnumerable<ManifestDocument> documents) =>
    [
        .. documents
            .Select(d => PodTemplates.TryGet(d.Object, out _, out var spec) ? spec : null)
            .Where(s => s is not null)
            .SelectMany(s => ContainerImages.UnpinnedImages(s!))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal),
    ];

    /// <summary><c>apps/v1</c> to (apps, v1); <c>v1</c> to ("", v1).</summary>
    public static (string Group, string Version) SplitApiVersion(string apiVersion)
    {
        ArgumentNullException.ThrowIfNull(apiVersion);
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? ("", apiVersion) : (apiVersion[..slash], apiVersion[(slash + 1)..]);
    }

    private static bool IsBuiltIn(ManifestDocument doc) => doc.Object is not null;
}
