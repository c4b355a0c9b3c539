using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Harness.Manifests;

namespace Harness.Deployment;

/// <summary>
/// The names one run gives the manifests' namespaces and renamed cluster-scoped objects, and the rewriting of every
/// reference to them inside an object. Pure; built by <see cref="For"/>.
/// </summary>
internal sealed class RunNames
{
    private const string NamespaceNameLabel = "kubernetes.io/metadata.name";

    /// <summary>
    /// The cluster-scoped kinds a run renames (nothing refers to them by a name the harness cannot rewrite), with the
    /// resource names RBAC rules use for them.
    /// </summary>
    private static readonly ImmutableDictionary<string, string> Plurals = ImmutableDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
    {
        ["ClusterRole"] = "clusterroles",
        ["ClusterRoleBinding"] = "clusterrolebindings",
        ["MutatingWebhookConfiguration"] = "mutatingwebhookconfigurations",
        ["ValidatingWebhookConfiguration"] = "validatingwebhookconfigurations",
        ["ValidatingAdmissionPolicy"] = "validatingadmissionpolicies",
        ["ValidatingAdmissionPolicyBinding"] = "validatingadmissionpolicybindings",
        ["PriorityClass"] = "priorityclasses",
    });

    private readonly ImmutableDictionary<string, string> namespaces;
    private readonly ImmutableDictionary<(string Kind, string Name), string> renamed;
    private readonly string primary;

    private RunNames(string primary, ImmutableDictionary<string, string> namespaces, ImmutableDictionary<(string, string), string> renamed)
    {
        this.primary = primary;
        this.namespaces = namespaces;
        this.renamed = renamed;
    }

    /// <summary>The manifests' namespaces and the run's name for each.</summary>
    public IReadOnlyDictionary<string, string> Namespaces => namespaces;

    /// <summary>Every namespace of the run, primary first.</summary>
    public ImmutableArray<string> RunNamespaces => [primary, .. namespaces.Values.Where(n => n != primary).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>The names for <paramref name="documents"/> placed by <paramref name="placement"/>.</summary>
    public static RunNames For(IReadOnlyList<ManifestDocument> documents, Placement placement)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(placement);
        var declared = documents.Where(d => d.Kind == "Namespace" && d.ApiVersion == "v1").Select(d => d.Name).Distinct(StringComparer.Ordinal).ToList();
        var used = documents.Select(d => d.Namespace).Where(n => n is not null).Select(n => n!);
        var all = declared.Concat(used).Distinct(StringComparer.Ordinal).ToList();
        var source = placement.SourceNamespace ?? (declared.Count == 1 ? declared[0] : all.Count == 1 ? all[0] : null);
        var map = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var ns in all)
        {
            map[ns] = ns == source || placement.Suffix is null ? placement.PrimaryNamespace : WithSuffix(ns, placement.Suffix, 63);
        }
        var renames = ImmutableDictionary.CreateBuilder<(string, string), string>();
        if (placement.Suffix is { } suffix)
        {
            foreach (var d in documents.Where(d => Plurals.ContainsKey(d.Kind) && d.Object is not null))
            {
                renames[(d.Kind, d.Name)] = WithSuffix(d.Name, suffix, 253);
            }
        }
        return new RunNames(placement.PrimaryNamespace, map.ToImmutable(), renames.ToImmutable());
    }

    /// <summary><c>{name}-{suffix}</c>, the name shortened (never the suffix) to fit <paramref name="max"/>.</summary>
    public static string WithSuffix(string name, string suffix, int max)
    {
        var room = max - suffix.Length - 1;
        var head = (name.Length <= room ? name : name[..room]).TrimEnd('-', '.');
        return $"{head}-{suffix}".ToLowerInvariant();
    }

    /// <summary>The run's namespace for an object in <paramref name="original"/> (none: the primary one).</summary>
    public string Namespace(string? original) => original is not null && namespaces.TryGetValue(original, out var mapped) ? mapped : original is null ? primary : original;

    /// <summary>The run's name for a cluster-scoped object.</summary>
    public string ClusterScoped(string kind, string name) => renamed.TryGetValue((kind, name), out var n) ? n : name;

    /// <summary>Rewrites the references inside <paramref name="json"/> (an object of <paramref name="kind"/> placed in <paramref name="ns"/>).</summary>
    public void Rewrite(JsonObject json, string kind, string? ns)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (kind is "RoleBinding" or "ClusterRoleBinding")
        {
            foreach (var subject in (json["subjects"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if ((string?)subject["kind"] == "ServiceAccount")
                {
                    var original = (string?)subject["namespace"];
                    subject["namespace"] = original is null ? ns ?? primary : Namespace(original);
                }
            }
            if (json["roleRef"] is JsonObject roleRef && (string?)roleRef["kind"] == "ClusterRole" && (string?)roleRef["name"] is { } role)
            {
                roleRef["name"] = ClusterScoped("ClusterRole", role);
            }
        }
        if (kind is "Role" or "ClusterRole")
        {
            // A rule that names a renamed object (patch its own webhook configuration, bind its own ClusterRole) follows it.
            foreach (var rule in (json["rules"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if (rule["resourceNames"] is JsonArray names && rule["resources"] is JsonArray resources)
                {
                    var kinds = resources.Select(r => (string?)r).Select(r => Plurals.FirstOrDefault(p => p.Value == r).Key).Where(k => k is not null).ToList();
                    rule["resourceNames"] = new JsonArray([.. names.Select(n => (JsonNode)JsonValue.Create(kinds.Select(k => ClusterScoped(k!, (string)n!)).FirstOrDefault(r => r != (string)n!) ?? (string)n!)!)]);
                }
            }
        }
        if (kind is "ValidatingWebhookConfiguration" or "MutatingWebhookConfiguration")
        {
            foreach (var webhook in (json["webhooks"] as JsonArray ?? []).OfType<JsonObject>())
            {
                LimitToRun(webhook);
            }
        }
        if (kind == "ValidatingAdmissionPolicyBinding" && json["spec"] is JsonObject bindingSpec && (string?)bindingSpec["policyName"] is { } policy)
        {
            bindingSpec["policyName"] = ClusterScoped("ValidatingAdmissionPolicy", policy);
        }
        if (json["metadata"]?["annotations"] is JsonObject annotations && (string?)annotations["cert-manager.io/inject-ca-from"] is { } from && from.Split('/') is [var certNs, var cert])
        {
            annotations["cert-manager.io/inject-ca-from"] = $"{Namespace(certNs)}/{cert}";
        }
        Walk(json, null);
    }

    /// <summary>
    /// A renamed webhook still sees every namespace of the cluster; on a cluster other runs share, it must not judge
    /// (or, with failurePolicy Fail and no backend yet, refuse) their objects: its namespaceSelector also requires one
    /// of the run's namespaces. Only done when the run has its own names (a suffix).
    /// </summary>
    private void LimitToRun(JsonObject webhook)
    {
        if (renamed.IsEmpty)
        {
            return;
        }
        var selector = webhook["namespaceSelector"] as JsonObject ?? [];
        webhook["namespaceSelector"] = selector;
        var expressions = selector["matchExpressions"] as JsonArray ?? [];
        selector["matchExpressions"] = expressions;
        expressions.Add(new JsonObject
        {
            ["key"] = NamespaceNameLabel,
            ["operator"] = "In",
            ["values"] = new JsonArray([.. RunNamespaces.Select(n => (JsonNode)JsonValue.Create(n)!)]),
        });
    }

    private void Walk(JsonNode? node, string? key)
    {
        switch (node)
        {
            case JsonObject obj:
                if (key == "namespaceSelector")
                {
                    RewriteSelector(obj);
                }
                if (key == "service" && obj["namespace"] is JsonValue && obj["name"] is JsonValue)
                {
                    obj["namespace"] = Namespace((string?)obj["namespace"]);
                }
                if (obj["priorityClassName"] is JsonValue pc && (string?)pc is { } priority)
                {
                    obj["priorityClassName"] = ClusterScoped("PriorityClass", priority);
                }
                foreach (var (k, v) in obj.ToList())
                {
                    if (k is "metadata" && key is null)
                    {
                        continue; // the object's own name and namespace are placed already
                    }
                    if (v is JsonValue value && value.TryGetValue<string>(out var text))
                    {
                        obj[k] = ServiceNames(text);
                    }
                    else
                    {
                        Walk(v, k);
                    }
                }
                break;
            case JsonArray array when key == "env":
                foreach (var env in array.OfType<JsonObject>())
                {
                    if ((string?)env["value"] is { } value)
                    {
                        env["value"] = namespaces.TryGetValue(value, out var mapped) ? mapped : ServiceNames(value);
                    }
                    Walk(env["valueFrom"], "valueFrom");
                }
                break;
            case JsonArray array when key is "args" or "command":
                // A container's flags that name a namespace follow the map as env values do (issue #36 item 6): the
                // certificate manager's --leader-election-namespace=kube-system must name where its Role now is.
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is not JsonValue value || !value.TryGetValue<string>(out var text))
                    {
                        continue;
                    }
                    var eq = text.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0 && IsNamespaceFlag(text[..eq]) && namespaces.TryGetValue(text[(eq + 1)..], out var mappedValue))
                    {
                        array[i] = $"{text[..eq]}={mappedValue}";
                    }
                    else if (i > 0 && array[i - 1] is JsonValue previous && previous.TryGetValue<string>(out var flag) && !flag.Contains('=', StringComparison.Ordinal) && IsNamespaceFlag(flag) && namespaces.TryGetValue(text, out var mappedNext))
                    {
                        array[i] = mappedNext;
                    }
                    else
                    {
                        array[i] = ServiceNames(text);
                    }
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is JsonValue value && value.TryGetValue<string>(out var text))
                    {
                        array[i] = ServiceNames(text);
                    }
                    else
                    {
                        Walk(array[i], key);
                    }
                }
                break;
        }
    }

    // -n, --namespace, --leader-election-namespace, --cluster-resource-namespace, --watch-namespace ...
    private static bool IsNamespaceFlag(string flag) =>
        flag.StartsWith('-') && (flag is "-n" || flag.TrimStart('-').Contains("namespace", StringComparison.OrdinalIgnoreCase));

    private void RewriteSelector(JsonObject selector)
    {
        if (selector["matchLabels"] is JsonObject labels && (string?)labels[NamespaceNameLabel] is { } name)
        {
            labels[NamespaceNameLabel] = Namespace(name);
        }
        foreach (var expression in (selector["matchExpressions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if ((string?)expression["key"] == NamespaceNameLabel && expression["values"] is JsonArray values)
            {
                expression["values"] = new JsonArray([.. values.Select(v => (JsonNode)JsonValue.Create(Namespace((string?)v))!)]);
            }
        }
    }

    /// <summary><c>svc.NS.svc</c> (and <c>.svc.cluster.local</c>) with NS a namespace of the manifests, pointed at the run's namespace.</summary>
    private string ServiceNames(string text)
    {
        foreach (var (from, to) in namespaces)
        {
            if (from != to && text.Contains($".{from}.svc", StringComparison.Ordinal))
            {
                text = text.Replace($".{from}.svc", $".{to}.svc", StringComparison.Ordinal);
            }
        }
        return text;
    }
}
