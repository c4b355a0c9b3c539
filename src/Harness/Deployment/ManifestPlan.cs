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
/// Puts an operator's manifests in the order and place they are applied: namespaces, then CRDs (which must be
/// established before their custom resources), then other cluster-scoped objects, then namespaced ones, then custom
/// resources; every namespaced object moved into the target namespace, with ServiceAccount subjects of bindings
/// following it, and Namespace objects folded into the target namespace (their labels kept). Pure.
/// </summary>
internal static class ManifestPlan
{
    private static readonly ImmutableHashSet<string> ClusterScopedKinds =
    [
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "APIService", "RuntimeClass", "IngressClass", "PersistentVolume", "CSIDriver", "Node",
    ];

    /// <summary>Plans the manifests for a target namespace.</summary>
    /// <param name="documents">The operator's manifests.</param>
    /// <param name="targetNamespace">Where its namespaced objects go.</param>
    /// <param name="clusterScopedCustomKinds">Custom kinds (<c>group/Kind</c>) known to be cluster-scoped besides those the CRDs here declare.</param>
    public static ImmutableArray<PlannedObject> Build(IReadOnlyList<ManifestDocument> documents, string targetNamespace, IEnumerable<string>? clusterScopedCustomKinds = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentException.ThrowIfNullOrEmpty(targetNamespace);
        var crdScopes = documents.Where(d => d.Object is V1CustomResourceDefinition)
            .Select(d => (V1CustomResourceDefinition)d.Object!)
            .ToDictionary(c => $"{c.Spec.Group}/{c.Spec.Names.Kind}", c => c.Spec.Scope == "Namespaced", StringComparer.Ordinal);
        var extraCluster = (clusterScopedCustomKinds ?? []).ToHashSet(StringComparer.Ordinal);
        var originalNamespaces = documents.Where(d => d.Kind == "Namespace").Select(d => d.Name)
            .Concat(documents.Select(d => d.Namespace).Where(n => n is not null).Select(n => n!))
            .ToHashSet(StringComparer.Ordinal);
        var namespaceLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        var planned = new List<PlannedObject>();
        foreach (var doc in documents)
        {
            var (group, version) = SplitApiVersion(doc.ApiVersion);
            var json = JsonNode.Parse(doc.Object is { } typed ? KubernetesJson.Serialize(typed) : YamlToJson(doc.Text))!.AsObject();
            json["apiVersion"] = doc.ApiVersion;
            json["kind"] = doc.Kind;
            if (doc.Kind == "Namespace")
            {
                // The operator's namespace becomes the target namespace: keep its labels (PodSecurity levels matter).
                foreach (var (k, v) in (doc.Object?.Metadata?.Labels ?? new Dictionary<string, string>()))
                {
                    namespaceLabels[k] = v;
                }
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
            var metadata = json["metadata"] as JsonObject ?? new JsonObject();
            json["metadata"] = metadata;
            metadata.Remove("resourceVersion");
            metadata.Remove("uid");
            metadata.Remove("creationTimestamp");
            if (namespaced)
            {
                metadata["namespace"] = targetNamespace;
            }
            else
            {
                metadata.Remove("namespace");
            }
            if (doc.Kind is "RoleBinding" or "ClusterRoleBinding" && json["subjects"] is JsonArray subjects)
            {
                foreach (var subject in subjects.OfType<JsonObject>())
                {
                    if ((string?)subject["kind"] == "ServiceAccount"
                        && (subject["namespace"] is null || originalNamespaces.Contains((string?)subject["namespace"] ?? "")))
                    {
                        subject["namespace"] = targetNamespace;
                    }
                }
            }
            var phase = doc.Kind == "CustomResourceDefinition" ? ApplyPhase.CustomResourceDefinitions : custom ? ApplyPhase.CustomResources : namespaced ? ApplyPhase.Namespaced : ApplyPhase.ClusterScoped;
            planned.Add(new PlannedObject(doc, group, version, doc.Kind, doc.Name, namespaced ? targetNamespace : null, json.ToJsonString(), phase));
        }
        var nsJson = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject
            {
                ["name"] = targetNamespace,
                ["labels"] = new JsonObject(namespaceLabels.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
            },
        };
        var nsDoc = documents.FirstOrDefault(d => d.Kind == "Namespace")
            ?? new ManifestDocument("(generated)", 0, "v1", "Namespace", targetNamespace, null, null, "");
        planned.Insert(0, new PlannedObject(nsDoc, "", "v1", "Namespace", targetNamespace, null, nsJson.ToJsonString(), ApplyPhase.Namespace));
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

    private static string YamlToJson(string yaml)
    {
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        return ToJson(stream.Documents[0].RootNode)!.ToJsonString();
    }

    private static JsonNode? ToJson(YamlDotNet.RepresentationModel.YamlNode node) => node switch
    {
        YamlDotNet.RepresentationModel.YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlDotNet.RepresentationModel.YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlDotNet.RepresentationModel.YamlSequenceNode s => new JsonArray([.. s.Children.Select(ToJson)]),
        YamlDotNet.RepresentationModel.YamlScalarNode sc => Scalar(sc),
        _ => null,
    };

    private static JsonNode? Scalar(YamlDotNet.RepresentationModel.YamlScalarNode s)
    {
        if (s.Style is YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted or YamlDotNet.Core.ScalarStyle.Literal or YamlDotNet.Core.ScalarStyle.Folded)
        {
            return JsonValue.Create(s.Value);
        }
        return s.Value switch
        {
            null or "~" or "null" => null,
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            var v when long.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            var v when double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && v.Contains('.', StringComparison.Ordinal) => JsonValue.Create(d),
            var v => JsonValue.Create(v),
        };
    }
}
