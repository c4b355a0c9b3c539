using System.Text.Json.Nodes;

namespace Harness.Manifests;

/// <summary>
/// An OLM bundle as input (<c>manifests/*.clusterserviceversion.yaml</c> and the CRDs beside it): the objects OLM would
/// create from the ClusterServiceVersion, located in the CSV. Each <c>install.spec.deployments[]</c> becomes a Deployment;
/// each <c>permissions[]</c> a ServiceAccount, Role and RoleBinding, each <c>clusterPermissions[]</c> a ClusterRole and
/// ClusterRoleBinding; each <c>webhookdefinitions[]</c> a webhook configuration and the Service OLM puts in front of its
/// Deployment, with OLM's CA injection marked (<see cref="CaInjection"/>). The install namespace is the one given (OLM
/// installs into its OperatorGroup's namespace and ignores the CSV's own, often <c>placeholder</c>), else
/// <see cref="OlmInstall.UnknownNamespace"/>; in <c>AllNamespaces</c> mode (the widest the CSV supports, unless another is
/// chosen) <c>permissions[]</c> become a ClusterRole and ClusterRoleBinding, as OLM makes them. The harness deploys a bundle
/// without OLM, the same way.
/// </summary>
public static class OlmBundle
{
    /// <summary>The annotation that marks a webhook configuration whose CA bundle OLM injects.</summary>
    public const string CaInjection = "harness.dev/olm-ca-injection";

    /// <summary>Whether a document is a ClusterServiceVersion.</summary>
    public static bool IsCsv(ManifestDocument doc) =>
        doc is not null && doc.Kind == "ClusterServiceVersion" && doc.ApiVersion.StartsWith("operators.coreos.com/", StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="file"/> is a bundle's own metadata rather than a manifest: a file under <c>metadata/</c>
    /// (annotations, dependencies, properties) or <c>tests/scorecard/</c> of a folder that also holds <c>manifests/</c>.
    /// </summary>
    internal static bool IsBundleMetadata(string file)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(file));
        var bundle = Path.GetFileName(dir) switch
        {
            "metadata" => Path.GetDirectoryName(dir),
            "scorecard" when Path.GetFileName(Path.GetDirectoryName(dir)) == "tests" => Path.GetDirectoryName(Path.GetDirectoryName(dir)),
            _ => null,
        };
        return bundle is not null && Directory.Exists(Path.Combine(bundle, "manifests"));
    }

    /// <summary>The objects OLM would create from <paramref name="csv"/>, each located at the CSV entry it comes from.</summary>
    /// <exception cref="ManifestException">The CSV has no deployment install strategy.</exception>
    public static IReadOnlyList<ManifestDocument> Expand(ManifestDocument csv) => Expand(csv, new OlmInstall(), []);

    /// <summary>
    /// The objects OLM would create from <paramref name="csv"/> installed as <paramref name="how"/> says, each located at
    /// the CSV entry it comes from; what the reader should know (the mode judged, rights that go to a namespace's
    /// <c>default</c> account) goes to <paramref name="notes"/>.
    /// </summary>
    /// <exception cref="ManifestException">No deployment install strategy, an install mode the CSV does not support, or a permission without <c>serviceAccountName</c>.</exception>
    public static IReadOnlyList<ManifestDocument> Expand(ManifestDocument csv, OlmInstall how, ICollection<string> notes)
    {
        ArgumentNullException.ThrowIfNull(csv);
        ArgumentNullException.ThrowIfNull(how);
        ArgumentNullException.ThrowIfNull(notes);
        var root = YamlJson.FromText(csv.Text)!.AsObject();
        var ns = how.Namespace ?? OlmInstall.UnknownNamespace;
        var supported = Supported(root);
        var mode = Mode(csv, supported, how.Mode);
        notes.Add($"{csv.Location}: ClusterServiceVersion {csv.Name} judged in install mode {mode} (supported: {string.Join(", ", supported)}), installed in {ns}{(mode == OlmInstall.AllNamespaces ? ": its permissions[] become cluster-wide, as OLM makes them" : "")}");
        var install = root["spec"]?["install"];
        if ((string?)install?["strategy"] != "deployment" || install?["spec"]?["deployments"] is not JsonArray deployments)
        {
            throw new ManifestException(csv.Path, csv.Line, 0, $"ClusterServiceVersion {csv.Name} has no deployment install strategy (spec.install.strategy: deployment, spec.install.spec.deployments): nothing to run.");
        }
        var objects = new List<(JsonObject Object, string Anchor)>();
        var accounts = new HashSet<string>(StringComparer.Ordinal);
        void Account(string name)
        {
            if (accounts.Add(name))
            {
                objects.Add((Object("v1", "ServiceAccount", name, ns), $"serviceAccountName: {name}"));
            }
        }
        foreach (var d in deployments.OfType<JsonObject>())
        {
            var name = (string)d["name"]!;
            var deployment = Object("apps/v1", "Deployment", name, ns);
            deployment["spec"] = d["spec"]?.DeepClone();
            if (d["label"] is JsonObject label)
            {
                deployment["metadata"]!["labels"] = label.DeepClone();
            }
            objects.Add((deployment, $"name: {name}"));
        }
        // permissions[] become a Role and RoleBinding in the install namespace, clusterPermissions[] a ClusterRole and
        // ClusterRoleBinding; both numbered in one sequence, as OLM names them apart.
        var index = 0;
        var clusterWide = mode == OlmInstall.AllNamespaces;
        foreach (var (key, roleKind, roleNamespace) in new[] { ("permissions", clusterWide ? "ClusterRole" : "Role", clusterWide ? null : ns), ("clusterPermissions", "ClusterRole", (string?)null) })
        {
            foreach (var (p, i) in (install["spec"]?[key] as JsonArray ?? []).OfType<JsonObject>().Select((p, i) => (p, i)))
            {
                if ((string?)p["serviceAccountName"] is not { Length: > 0 } sa)
                {
                    throw new ManifestException(csv.Path, LineLocator.FirstLine(csv, l => l.Trim().TrimStart('-').Trim() == $"{key}:"), 0,
                        $"ClusterServiceVersion {csv.Name}: spec.install.spec.{key}[{i}] has no serviceAccountName: OLM cannot bind these rules to anything. Name the ServiceAccount its Deployment runs as.");
                }
                if (sa == "default")
                {
                    notes.Add($"{csv.Location}: ClusterServiceVersion {csv.Name}: {key}[{i}] go to ServiceAccount default in {ns}, which every pod there that names no account shares");
                }
                Account(sa);
                var roleName = $"{csv.Name}-{sa}-{index++}";
                var role = Object("rbac.authorization.k8s.io/v1", roleKind, roleName, roleNamespace);
                role["rules"] = p["rules"]?.DeepClone();
                // A cluster permission is placed at its list: its account's line is the namespaced permission's, if both name it.
                var anchor = roleNamespace is null ? $"{key}:" : $"serviceAccountName: {sa}";
                objects.Add((role, anchor));
                objects.Add((Binding($"{roleKind}Binding", roleName, ns, roleKind, sa), anchor));
            }
        }
        foreach (var w in (root["spec"]?["webhookdefinitions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var type = (string?)w["type"];
            if (type is not ("ValidatingAdmissionWebhook" or "MutatingAdmissionWebhook"))
            {
                continue; // conversion webhooks live in the CRDs
            }
            var deploymentName = (string)w["deploymentName"]!;
            var service = $"{deploymentName}-service";
            var port = w["containerPort"] is JsonValue p && p.TryGetValue<long>(out var declared) ? declared : 443L;
            if (!objects.Any(o => (string?)o.Object["kind"] == "Service" && (string?)o.Object["metadata"]!["name"] == service))
            {
                var svc = Object("v1", "Service", service, ns);
                var selector = deployments.OfType<JsonObject>().FirstOrDefault(d => (string?)d["name"] == deploymentName)?["spec"]?["selector"]?["matchLabels"]?.DeepClone();
                svc["spec"] = new JsonObject { ["selector"] = selector, ["ports"] = new JsonArray(new JsonObject { ["port"] = port, ["targetPort"] = w["targetPort"]?.DeepClone() ?? port }) };
                objects.Add((svc, $"deploymentName: {deploymentName}"));
            }
            var kind = type == "ValidatingAdmissionWebhook" ? "ValidatingWebhookConfiguration" : "MutatingWebhookConfiguration";
            var name = (string)w["generateName"]!;
            var configuration = Object("admissionregistration.k8s.io/v1", kind, name, null);
            configuration["metadata"]!["annotations"] = new JsonObject { [CaInjection] = "true" };
            var webhook = new JsonObject
            {
                ["name"] = name,
                ["clientConfig"] = new JsonObject { ["service"] = new JsonObject { ["name"] = service, ["namespace"] = ns, ["port"] = port, ["path"] = w["webhookPath"]?.DeepClone() } },
            };
            foreach (var key in new[] { "admissionReviewVersions", "failurePolicy", "matchPolicy", "objectSelector", "rules", "sideEffects", "timeoutSeconds", "reinvocationPolicy" })
            {
                if (w[key] is { } value)
                {
                    webhook[key] = value.DeepClone();
                }
            }
            configuration["webhooks"] = new JsonArray(webhook);
            objects.Add((configuration, $"generateName: {name}"));
        }
        return [.. objects.Select(o => ManifestLoader.LoadText(o.Object.ToJsonString(), csv.Path).Single()
            with { Line = LineLocator.FirstLine(csv, l => l.Trim().TrimStart('-').Trim() == o.Anchor), SourceText = "" })];
    }

    // The modes the CSV marks supported, widest first; a CSV that lists none is installed in its own namespace.
    private static List<string> Supported(JsonObject root)
    {
        var listed = (root["spec"]?["installModes"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(m => m["supported"] is JsonValue v && v.TryGetValue<bool>(out var yes) && yes)
            .Select(m => (string?)m["type"]).OfType<string>().ToList();
        return listed.Count == 0 ? [OlmInstall.OwnNamespace] : [.. OlmInstall.Modes.Where(listed.Contains)];
    }

    private static string Mode(ManifestDocument csv, List<string> supported, string? chosen)
    {
        if (chosen is null)
        {
            return supported.FirstOrDefault() ?? OlmInstall.OwnNamespace;
        }
        var mode = OlmInstall.Modes.FirstOrDefault(m => string.Equals(m, chosen, StringComparison.OrdinalIgnoreCase))
            ?? throw new ManifestException(csv.Path, csv.Line, 0, $"install mode '{chosen}' is not an OLM install mode; use one of {string.Join(", ", OlmInstall.Modes)}.");
        return supported.Contains(mode) ? mode
            : throw new ManifestException(csv.Path, csv.Line, 0, $"ClusterServiceVersion {csv.Name} does not support install mode {mode} (it supports {string.Join(", ", supported)}).");
    }

    private static JsonObject Object(string apiVersion, string kind, string name, string? ns)
    {
        var metadata = new JsonObject { ["name"] = name };
        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }
        return new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind, ["metadata"] = metadata };
    }

    private static JsonObject Binding(string kind, string name, string ns, string roleKind, string account)
    {
        var binding = Object("rbac.authorization.k8s.io/v1", kind, name, kind == "RoleBinding" ? ns : null);
        binding["roleRef"] = new JsonObject { ["apiGroup"] = "rbac.authorization.k8s.io", ["kind"] = roleKind, ["name"] = name };
        binding["subjects"] = new JsonArray(new JsonObject { ["kind"] = "ServiceAccount", ["name"] = account, ["namespace"] = ns });
        return binding;
    }
}

/// <summary>How an OLM bundle is installed: the namespace OLM installs it into, and the install mode.</summary>
public sealed record OlmInstall
{
    /// <summary>The install namespace in messages when none was given (OLM's is the OperatorGroup's, known only at install).</summary>
    public const string UnknownNamespace = "<install namespace>";

    /// <summary>OLM's install modes.</summary>
    public const string OwnNamespace = "OwnNamespace", SingleNamespace = "SingleNamespace", MultiNamespace = "MultiNamespace", AllNamespaces = "AllNamespaces";

    /// <summary>The install modes, widest first.</summary>
    public static IReadOnlyList<string> Modes { get; } = [AllNamespaces, MultiNamespace, SingleNamespace, OwnNamespace];

    /// <summary>The install namespace; null: <see cref="UnknownNamespace"/>.</summary>
    public string? Namespace { get; init; }

    /// <summary>The install mode; null: the widest the CSV supports (what grants the most).</summary>
    public string? Mode { get; init; }

    /// <inheritdoc/>
    public override string ToString() => $"{Mode ?? "widest supported"} in {Namespace ?? UnknownNamespace}";
}
