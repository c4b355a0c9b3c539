using System.Collections.Immutable;
using Harness.Manifests;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>A ServiceAccount, and the user name and groups the API server authenticates it as.</summary>
/// <param name="Namespace">Its namespace.</param>
/// <param name="Name">Its name.</param>
public sealed record ServiceAccountRef(string Namespace, string Name)
{
    /// <summary><c>system:serviceaccount:NS:NAME</c>.</summary>
    public string UserName => $"system:serviceaccount:{Namespace}:{Name}";

    /// <summary>The groups every token of this account carries.</summary>
    public ImmutableArray<string> Groups => ["system:serviceaccounts", $"system:serviceaccounts:{Namespace}", "system:authenticated"];

    /// <inheritdoc/>
    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>A policy rule as RBAC evaluates it.</summary>
public sealed record RbacRule(
    ImmutableArray<string> Verbs,
    ImmutableArray<string> ApiGroups,
    ImmutableArray<string> Resources,
    ImmutableArray<string> ResourceNames,
    ImmutableArray<string> NonResourceUrls)
{
    internal static RbacRule From(V1PolicyRule r) => new(
        [.. r.Verbs ?? []], [.. r.ApiGroups ?? []], [.. r.Resources ?? []], [.. r.ResourceNames ?? []], [.. r.NonResourceURLs ?? []]);

    /// <summary>Whether the rule allows a resource request, with Kubernetes' matching (<c>*</c>, <c>*/subresource</c>, resourceNames).</summary>
    public bool Allows(string verb, string apiGroup, string resource, string? subresource, string? name)
    {
        if (!Has(Verbs, verb) || !Has(ApiGroups, apiGroup))
        {
            return false;
        }
        var combined = string.IsNullOrEmpty(subresource) ? resource : $"{resource}/{subresource}";
        var resourceMatch = Resources.Any(r => r == "*" || r == combined || (!string.IsNullOrEmpty(subresource) && r == $"*/{subresource}"));
        if (!resourceMatch)
        {
            return false;
        }
        // The API server authorizes create and deletecollection without a name: a rule limited by resourceNames never
        // grants them (kubectl auth can-i says otherwise; the authorizer does not).
        if (!ResourceNames.IsEmpty && verb is "create" or "deletecollection")
        {
            return false;
        }
        return ResourceNames.IsEmpty || (!string.IsNullOrEmpty(name) && ResourceNames.Contains(name));
    }

    /// <summary>Whether the rule allows a non-resource request (<c>/metrics</c>, <c>/logs/*</c>).</summary>
    public bool AllowsUrl(string verb, string url) =>
        Has(Verbs, verb) && NonResourceUrls.Any(u => u == "*" || u == url || (u.EndsWith('*') && url.StartsWith(u[..^1], StringComparison.Ordinal)));

    /// <summary><c>verbs on resources</c> in kubectl's words.</summary>
    public override string ToString()
    {
        var what = NonResourceUrls.IsEmpty
            ? string.Join(",", Resources.Select(r => ApiGroups.All(g => g.Length == 0) ? r : $"{r}.{string.Join("|", ApiGroups.Select(g => g.Length == 0 ? "core" : g))}"))
            : string.Join(",", NonResourceUrls);
        var names = ResourceNames.IsEmpty ? "" : $" [{string.Join(",", ResourceNames)}]";
        return $"{string.Join(",", Verbs)} on {what}{names}";
    }

    private static bool Has(ImmutableArray<string> values, string value) => values.Contains("*") || values.Contains(value);
}

/// <summary>A rule granted to an account, with the binding and role it came through and where it applies.</summary>
/// <param name="Rule">The rule.</param>
/// <param name="Namespace">The namespace it applies in; null for a ClusterRoleBinding (every namespace and cluster-scoped resources).</param>
/// <param name="Binding">The binding, <c>RoleBinding ns/name</c> or <c>ClusterRoleBinding name</c>.</param>
/// <param name="Role">The role, <c>Role ns/name</c> or <c>ClusterRole name</c> (and the aggregated role it came from).</param>
/// <param name="Path">The file that declares the binding.</param>
/// <param name="Line">The binding's line in that file.</param>
public sealed record RbacGrant(RbacRule Rule, string? Namespace, string Binding, string Role, string Path, int Line)
{
    /// <summary>Where the rule itself is (its role's file and the rule's line); the binding's place when the role is not known.</summary>
    public (string Path, int Line) RuleLocation { get; init; } = (Path, Line);

    /// <summary><c>cluster-wide</c> or <c>namespace NS</c>.</summary>
    public string Scope => Namespace is null ? "cluster-wide" : $"namespace {Namespace}";
}

/// <summary>Roles and bindings read from manifests: what RBAC would authorize, offline.</summary>
public sealed class RbacModel
{
    private readonly List<(V1ClusterRole Role, ManifestDocument Doc)> _clusterRoles = [];
    private readonly List<(V1Role Role, ManifestDocument Doc)> _roles = [];
    private readonly List<(V1RoleBinding Binding, ManifestDocument Doc)> _roleBindings = [];
    private readonly List<(V1ClusterRoleBinding Binding, ManifestDocument Doc)> _clusterRoleBindings = [];

    private RbacModel()
    {
    }

    /// <summary>Bindings whose role is not among the manifests (<c>RoleBinding ns/name -> ClusterRole x</c>): nothing is known of what they grant.</summary>
    public ImmutableArray<string> DanglingReferences { get; private set; } = [];

    /// <summary><see cref="DanglingReferences"/> with the binding, the missing role and the binding's document apart.</summary>
    internal ImmutableArray<(string Binding, string Role, ManifestDocument Doc)> DanglingBindings { get; private set; } = [];

    private static string Display(V1ClusterRoleBinding b) => $"ClusterRoleBinding {b.Metadata?.Name}";

    private static string Display(V1RoleBinding b) => $"RoleBinding {b.Metadata?.NamespaceProperty}/{b.Metadata?.Name}";

    /// <summary>Builds the model from loaded manifests; other kinds are ignored.</summary>
    /// <param name="documents">Manifests.</param>
    /// <param name="defaultNamespace">Namespace for namespaced objects that do not name one.</param>
    public static RbacModel From(IEnumerable<ManifestDocument> documents, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(documents);
        var model = new RbacModel();
        foreach (var doc in documents)
        {
            switch (doc.Object)
            {
                case V1ClusterRole cr:
                    model._clusterRoles.Add((cr, doc));
                    break;
                case V1Role r:
                    r.Metadata ??= new V1ObjectMeta();
                    r.Metadata.NamespaceProperty ??= defaultNamespace;
                    model._roles.Add((r, doc));
                    break;
                case V1RoleBinding rb:
                    rb.Metadata ??= new V1ObjectMeta();
                    rb.Metadata.NamespaceProperty ??= defaultNamespace;
                    model._roleBindings.Add((rb, doc));
                    break;
                case V1ClusterRoleBinding crb:
                    model._clusterRoleBindings.Add((crb, doc));
                    break;
            }
        }
        model.DanglingBindings =
        [
            .. model._clusterRoleBindings
                .Where(b => b.Binding.RoleRef?.Kind != "ClusterRole" || model.ClusterRoleRules(b.Binding.RoleRef.Name) is null)
                .Select(b => (Display(b.Binding), $"{b.Binding.RoleRef?.Kind} {b.Binding.RoleRef?.Name}", b.Doc)),
            .. model._roleBindings
                .Where(b => model.RoleBindingRules(b.Binding) is null)
                .Select(b => (Display(b.Binding), $"{b.Binding.RoleRef?.Kind} {b.Binding.RoleRef?.Name}", b.Doc)),
        ];
        model.DanglingReferences = [.. model.DanglingBindings.Select(d => $"{d.Binding} -> {d.Role}")];
        return model;
    }

    /// <summary>Every rule the account gets, through every binding that names it, its groups or its user name.</summary>
    public ImmutableArray<RbacGrant> GrantsFor(ServiceAccountRef account)
    {
        ArgumentNullException.ThrowIfNull(account);
        var grants = ImmutableArray.CreateBuilder<RbacGrant>();
        foreach (var (binding, doc) in _clusterRoleBindings)
        {
            if (Names(binding.Subjects, account, bindingNamespace: null)
                && binding.RoleRef?.Kind == "ClusterRole" && ClusterRoleRules(binding.RoleRef.Name) is { } rules)
            {
                grants.AddRange(rules.Select(r => new RbacGrant(r.Rule, null, $"ClusterRoleBinding {binding.Metadata?.Name}", r.Role, doc.Path, doc.Line) { RuleLocation = r.At }));
            }
        }
        foreach (var (binding, doc) in _roleBindings)
        {
            var ns = binding.Metadata!.NamespaceProperty!;
            if (Names(binding.Subjects, account, ns) && RoleBindingRules(binding) is { } rules)
            {
                grants.AddRange(rules.Select(r => new RbacGrant(r.Rule, ns, $"RoleBinding {ns}/{binding.Metadata.Name}", r.Role, doc.Path, doc.Line) { RuleLocation = r.At }));
            }
        }
        return grants.ToImmutable();
    }

    /// <summary>The bindings' ServiceAccount subjects that are none of <paramref name="analysed"/>: <c>(RoleBinding ns/name, ns/account)</c>.</summary>
    public ImmutableArray<(string Binding, ServiceAccountRef Account)> UnmatchedBindings(IReadOnlyCollection<ServiceAccountRef> analysed) =>
        [.. Unmatched(analysed).Select(u => (u.Binding, u.Account))];

    /// <summary><see cref="UnmatchedBindings"/> with each binding's document.</summary>
    internal ImmutableArray<(string Binding, ServiceAccountRef Account, ManifestDocument Doc)> Unmatched(IReadOnlyCollection<ServiceAccountRef> analysed)
    {
        ArgumentNullException.ThrowIfNull(analysed);
        IEnumerable<(string, ServiceAccountRef, ManifestDocument)> Of(string binding, IEnumerable<Rbacv1Subject>? subjects, string? bindingNamespace, ManifestDocument doc) =>
            (subjects ?? []).Where(s => s.Kind == "ServiceAccount")
                .Select(s => new ServiceAccountRef(s.NamespaceProperty ?? bindingNamespace ?? "", s.Name))
                .Where(a => !analysed.Contains(a))
                .Select(a => (binding, a, doc));
        return
        [
            .. _clusterRoleBindings.SelectMany(b => Of(Display(b.Binding), b.Binding.Subjects, null, b.Doc)),
            .. _roleBindings.SelectMany(b => Of(Display(b.Binding), b.Binding.Subjects, b.Binding.Metadata?.NamespaceProperty, b.Doc)),
        ];
    }

    /// <summary>Whether the account may make a resource request in a namespace (null for a cluster-scoped resource).</summary>
    public bool Allows(ServiceAccountRef account, string verb, string apiGroup, string resource, string? ns, string? subresource = null, string? name = null) =>
        GrantsFor(account).Any(g => (g.Namespace is null || (ns is not null && g.Namespace == ns)) && g.Rule.Allows(verb, apiGroup, resource, subresource, name));

    private List<(RbacRule Rule, string Role, (string, int) At)>? RoleBindingRules(V1RoleBinding binding)
    {
        var ns = binding.Metadata!.NamespaceProperty!;
        var name = binding.RoleRef?.Name;
        if (binding.RoleRef?.Kind == "ClusterRole")
        {
            return ClusterRoleRules(name!);
        }
        if (binding.RoleRef?.Kind != "Role")
        {
            return null;
        }
        var (role, roleDoc) = _roles.FirstOrDefault(r => r.Role.Metadata?.Name == name && r.Role.Metadata?.NamespaceProperty == ns);
        return role is null ? null : (role.Rules ?? []).Select((r, i) => (RbacRule.From(r), $"Role {ns}/{name}", (roleDoc.Path, LineLocator.RuleLine(roleDoc, i)))).ToList();
    }

    private List<(RbacRule Rule, string Role, (string, int) At)>? ClusterRoleRules(string name)
    {
        var (found, foundDoc) = _clusterRoles.FirstOrDefault(c => c.Role.Metadata?.Name == name);
        if (found is null)
        {
            return null;
        }
        var rules = (found.Rules ?? []).Select((r, i) => (RbacRule.From(r), $"ClusterRole {name}", (foundDoc.Path, LineLocator.RuleLine(foundDoc, i)))).ToList();
        // Aggregation: the controller fills the rules from every ClusterRole whose labels match a selector.
        foreach (var selector in found.AggregationRule?.ClusterRoleSelectors ?? [])
        {
            foreach (var (other, otherDoc) in _clusterRoles)
            {
                if (other.Metadata?.Name != name && Labels.Matches(selector, other.Metadata?.Labels))
                {
                    rules.AddRange((other.Rules ?? []).Select((r, i) => (RbacRule.From(r), $"ClusterRole {name} (aggregated from {other.Metadata?.Name})", (otherDoc.Path, LineLocator.RuleLine(otherDoc, i)))));
                }
            }
        }
        return rules;
    }

    private static bool Names(IList<Rbacv1Subject>? subjects, ServiceAccountRef account, string? bindingNamespace) =>
        (subjects ?? []).Any(s => s.Kind switch
        {
            "ServiceAccount" => s.Name == account.Name && (string.IsNullOrEmpty(s.NamespaceProperty) ? bindingNamespace : s.NamespaceProperty) == account.Namespace,
            "User" => s.Name == account.UserName,
            "Group" => account.Groups.Contains(s.Name),
            _ => false,
        });
}
