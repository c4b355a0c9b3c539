using System.Collections.Immutable;
using System.Text;
using Harness.Clusters;
using Harness.Manifests;
using k8s;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>What a harness run does on a cluster, each needing its own rights (<see cref="SelfRights"/>).</summary>
public enum HarnessMode
{
    /// <summary>Deploy the operator from its manifests into a namespace of the run, probe it (twin pod, vantage, access matrix, egress policies), remove it.</summary>
    Deploy,

    /// <summary>Probe an operator already running in a namespace (release qualification); nothing of it is changed.</summary>
    Find,

    /// <summary>Prove the cluster enforces PodSecurity (a server-side dry run) and NetworkPolicy (a canary pair).</summary>
    Verification,

    /// <summary>Inventory what the operator created for its custom resources (cluster-wide reads).</summary>
    Payload,

    /// <summary>Check the operator's webhooks' serving certificates from the control pod.</summary>
    WebhookTls,
}

/// <summary>One right the harness needs: a rule, where (null: cluster-wide), and what it is for.</summary>
/// <param name="Namespace">The namespace the rule is needed in; null for cluster-wide.</param>
/// <param name="Rule">The rule, in PolicyRule terms.</param>
/// <param name="Why">What the harness does with it.</param>
public sealed record SelfRight(string? Namespace, RbacRule Rule, string Why)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Rule} ({(Namespace is null ? "cluster-wide" : $"namespace {Namespace}")}): {Why}";
}

/// <summary>
/// The harness's own rights per mode (issue #27 item 4): what each mode asks of the API server, as rules a cluster
/// administrator can grant (<c>harness rights self --mode M</c> prints them as Role/ClusterRole manifests and as an
/// <c>OperatorRights</c> object), and a check, before anything is created, that names the mode and the first rule a
/// credential lacks (SelfSubjectAccessReviews, which every authenticated user may create).
/// </summary>
public static class SelfRights
{
    private static RbacRule R(string group, string resources, string verbs, string? names = null) => new(
        [.. verbs.Split(',')], [group], [.. resources.Split(',')], names is null ? [] : [.. names.Split(',')], []);

    /// <summary>The rights of <paramref name="mode"/>. Pure.</summary>
    /// <param name="mode">The mode.</param>
    /// <param name="ns">The operator's namespace (Find, WebhookTls); for Deploy, the run's, when fixed; null when the run generates it (its rights are then cluster-wide: it creates the namespace).</param>
    /// <param name="manifests">The operator's manifests (Deploy: the kinds it applies and the roles it must hold to grant them; Payload: its CRDs).</param>
    public static ImmutableArray<SelfRight> For(HarnessMode mode, string? ns, IReadOnlyList<ManifestDocument> manifests)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        var rights = ImmutableArray.CreateBuilder<SelfRight>();
        void Add(string? where, RbacRule rule, string why) => rights.Add(new SelfRight(where, rule, why));
        // Every mode holds a session Lease while it runs (other runs' sweeps leave its objects alone).
        Add(Runs.SessionLease.Namespace, R("coordination.k8s.io", "leases", "get,list,create,patch,delete"), "the run's session Lease");
        switch (mode)
        {
            case HarnessMode.Deploy:
                Add(null, R("", "namespaces", "get,list,create,patch,delete"), "the run's namespace (applied, removed after)");
                foreach (var (group, resource, where) in AppliedResources(manifests, ns))
                {
                    Add(where, R(group, resource, "get,create,patch,delete"), "applying the operator's manifests (server-side apply) and removing them");
                }
                Add(null, R("apiextensions.k8s.io", "customresourcedefinitions", "get,list,patch,delete"), "waiting for the operator's CRDs, holding and releasing them");
                Add(ns, R("", "pods,events", "get,list"), "waiting for the rollout");
                Add(ns, R("apps", "deployments,statefulsets,daemonsets", "get,list"), "waiting for the rollout");
                Add("default", R("", "services", "get", "kubernetes"), "the API server's address (an annotated NetworkPolicy is rendered for it)");
                Add("default", R("discovery.k8s.io", "endpointslices", "list"), "the API server's endpoints");
                foreach (var rule in GrantedRules(manifests))
                {
                    // RBAC's escalation check: a role can be created only by one who holds what it grants (or may escalate).
                    Add(null, rule, "the operator's own roles: Kubernetes lets only a holder of these rights create roles granting them");
                }
                Probing(ns, Add);
                break;
            case HarnessMode.Find:
                ArgumentException.ThrowIfNullOrEmpty(ns);
                Add(ns, R("apps", "deployments", "get,list"), "finding the operator");
                Add(ns, R("", "pods", "get,list"), "finding its running pod");
                Add(ns, R("", "secrets", "get"), "the type and account of each Secret its pod mounts (another account's token fails serviceaccount-token); data is never kept");
                Probing(ns, Add);
                break;
            case HarnessMode.Verification:
                Add(null, R("", "namespaces", "get,create,delete"), "the canary namespaces");
                Add(null, R("", "pods", "get,list,create,delete"), "the privileged pod (a server-side dry run) and the NetworkPolicy canary pods");
                Add(null, R("", "pods/exec", "get,create"), "the canary client's connections");
                Add(null, R("", "events", "list"), "why a canary pod did not start");
                Add(null, R("networking.k8s.io", "networkpolicies", "create"), "the deny-all canary policy");
                Add(null, R("", "nodes", "list"), "the nodes are ready");
                break;
            case HarnessMode.Payload:
                Add(null, R("", "pods,serviceaccounts,configmaps,services", "list"), "what the operator created, in every namespace");
                Add(null, R("", "secrets", "list"), "what the operator created (Secrets' metadata only: their data is dropped on arrival)");
                Add(null, R("apps", "deployments,statefulsets,daemonsets", "list"), "what the operator created");
                Add(null, R("batch", "jobs,cronjobs", "list"), "what the operator created");
                Add(null, R("rbac.authorization.k8s.io", "roles,rolebindings,clusterroles,clusterrolebindings", "list"), "what the operator granted");
                Add(null, R("networking.k8s.io", "networkpolicies", "list"), "what the operator created");
                foreach (var crd in manifests.Select(d => d.Object).OfType<V1CustomResourceDefinition>())
                {
                    Add(null, R(crd.Spec.Group, crd.Spec.Names.Plural, "list"), $"the operator's custom resources ({crd.Spec.Names.Kind})");
                }
                break;
            case HarnessMode.WebhookTls:
                Add(null, R("admissionregistration.k8s.io", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "get,list"), "the operator's webhooks as the cluster holds them (caBundle injected or not)");
                Add(ns, R("", "services", "get"), "each webhook's Service and port");
                Add(ns, R("discovery.k8s.io", "endpointslices", "list"), "whether something serves each webhook's Service yet");
                Vantage(Add);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
        }
        return rights.ToImmutable();
    }

    // A run's probing: the twin pod, the egress vantage (its own namespace, generated: cluster-wide), the access matrix and the policies in force.
    private static void Probing(string? ns, Action<string?, RbacRule, string> add)
    {
        add(ns, R("", "pods", "get,list,create,delete"), "the twin pod (and the identity pod that learns the operator's ids)");
        add(ns, R("", "pods/exec", "get,create"), "running the probe agent in the twin pod");
        add(ns, R("", "events", "list"), "why a pod did not start");
        add(ns, R("networking.k8s.io", "networkpolicies", "list"), "the NetworkPolicies in force");
        add(null, R("", "nodes", "list"), "the cluster's node addresses (what egress rules let out)");
        add(null, R("networking.k8s.io", "servicecidrs", "list"), "the cluster's Service ranges");
        add(null, R("", "namespaces", "get"), "the operator namespace's PodSecurity label");
        add(null, R("authorization.k8s.io", "subjectaccessreviews", "create"), "the access matrix: what the operator's account may do");
        Vantage(add);
    }

    // The egress vantage: a control pod (and, without a Docker network beside the cluster, a sink) in a namespace of its own.
    private static void Vantage(Action<string?, RbacRule, string> add)
    {
        add(null, R("", "namespaces", "create,delete"), "the control pod's namespace (generated, outside the operator's policies)");
        add(null, R("", "pods", "get,list,create,delete"), "the control pod and the in-cluster sink");
        add(null, R("", "pods/exec", "get,create"), "the controls: proving each egress destination reachable");
        add(null, R("", "secrets", "create"), "the in-cluster sink's TLS key (never in a pod spec)");
    }

    /// <summary>The (group, resource, namespace) of every object the manifests apply. Pure.</summary>
    internal static IEnumerable<(string Group, string Resource, string? Namespace)> AppliedResources(IReadOnlyList<ManifestDocument> manifests, string? ns)
    {
        var crdPlurals = manifests.Select(d => d.Object).OfType<V1CustomResourceDefinition>()
            .ToDictionary(c => (c.Spec.Group, c.Spec.Names.Kind), c => (c.Spec.Names.Plural, Namespaced: c.Spec.Scope == "Namespaced"));
        return manifests.Where(d => d.Kind.Length > 0)
            .Select(d =>
            {
                var group = Deployment.ManifestPlan.SplitApiVersion(d.ApiVersion).Group;
                var (plural, namespaced) = crdPlurals.TryGetValue((group, d.Kind), out var crd) ? crd : (Plural(d.Kind), d.Namespace is not null || !ClusterScoped.Contains(d.Kind));
                // In the run's namespace when it is fixed; else (generated, created by the run) cluster-wide.
                return (group, plural, namespaced && ns is not null ? ns : null);
            })
            .Distinct();
    }

    private static readonly HashSet<string> ClusterScoped = ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration", "PriorityClass", "StorageClass", "PersistentVolume", "APIService", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "IngressClass", "RuntimeClass"];

    /// <summary>A built-in kind's resource name (<c>NetworkPolicy</c> → <c>networkpolicies</c>). Pure.</summary>
    internal static string Plural(string kind)
    {
        var lower = kind.ToLowerInvariant();
        return lower switch
        {
            "endpoints" => "endpoints",
            _ when lower.EndsWith('y') && lower.Length > 1 && !"aeiou".Contains(lower[^2], StringComparison.Ordinal) => lower[..^1] + "ies",
            _ when lower.EndsWith('s') || lower.EndsWith('x') => lower + "es",
            _ => lower + "s",
        };
    }

    // The rules the manifests' Roles and ClusterRoles grant (what the run must hold to create them).
    private static IEnumerable<RbacRule> GrantedRules(IReadOnlyList<ManifestDocument> manifests) =>
        manifests.Select(d => d.Object switch
        {
            V1Role r => r.Rules,
            V1ClusterRole c => c.Rules,
            _ => null,
        }).Where(r => r is not null).SelectMany(r => r!).Select(r => new RbacRule(
            [.. r.Verbs ?? []], [.. r.ApiGroups ?? []], [.. r.Resources ?? []], [.. r.ResourceNames ?? []], [.. r.NonResourceURLs ?? []]))
        .Distinct();

    /// <summary>
    /// Role/ClusterRole manifests granting the rights (one Role per namespace, one ClusterRole for the cluster-wide ones),
    /// each bound to <paramref name="subject"/> (<c>User:NAME</c>, <c>Group:NAME</c> or <c>ServiceAccount:NS/NAME</c>). Pure.
    /// </summary>
    /// <exception cref="ArgumentException">The subject is not one of those forms.</exception>
    public static string RenderRbac(HarnessMode mode, IReadOnlyList<SelfRight> rights, string subject)
    {
        ArgumentNullException.ThrowIfNull(rights);
        var who = Subject(subject);
        var name = $"harness-{Name(mode)}";
        var text = new StringBuilder($"# The rights `harness qualify` needs in mode {Name(mode)} (`harness rights self --mode {Name(mode)}`), bound to {subject}.\n");
        foreach (var group in rights.GroupBy(r => r.Namespace).OrderBy(g => g.Key ?? "", StringComparer.Ordinal))
        {
            var rules = group.Select(r => new V1PolicyRule
            {
                ApiGroups = [.. r.Rule.ApiGroups], Resources = [.. r.Rule.Resources], Verbs = [.. r.Rule.Verbs],
                ResourceNames = r.Rule.ResourceNames.IsEmpty ? null : [.. r.Rule.ResourceNames],
                NonResourceURLs = r.Rule.NonResourceUrls.IsEmpty ? null : [.. r.Rule.NonResourceUrls],
            }).ToList();
            object role = group.Key is null
                ? new V1ClusterRole { ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "ClusterRole", Metadata = new V1ObjectMeta { Name = name }, Rules = rules }
                : new V1Role { ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "Role", Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = group.Key }, Rules = rules };
            object binding = group.Key is null
                ? new V1ClusterRoleBinding
                {
                    ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "ClusterRoleBinding", Metadata = new V1ObjectMeta { Name = name },
                    RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = name }, Subjects = [who],
                }
                : new V1RoleBinding
                {
                    ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "RoleBinding", Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = group.Key },
                    RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = name }, Subjects = [who],
                };
            text.Append("---\n").Append(KubernetesYaml.Serialize(role).TrimEnd('\n')).Append('\n');
            text.Append("---\n").Append(KubernetesYaml.Serialize(binding).TrimEnd('\n')).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// The rights as an <c>OperatorRights</c> object for the ServiceAccount the harness runs as, so they can be locked and
    /// checked like an operator's (<c>harness rights check --rights</c>). Pure.
    /// </summary>
    /// <exception cref="ArgumentException">The subject is not a ServiceAccount.</exception>
    public static string RenderRights(HarnessMode mode, IReadOnlyList<SelfRight> rights, string subject)
    {
        ArgumentNullException.ThrowIfNull(rights);
        var who = Subject(subject);
        if (who.Kind != "ServiceAccount")
        {
            throw new ArgumentException($"an OperatorRights object declares a ServiceAccount's rights; give --subject ServiceAccount:NAMESPACE/NAME (got {subject}), or --format rbac.", nameof(subject));
        }
        static List<string>? Many(ImmutableArray<string> values) => values.IsEmpty ? null : [.. values];
        var body = new Dictionary<string, object>
        {
            ["apiVersion"] = DeclaredRights.ApiVersion,
            ["kind"] = DeclaredRights.Kind,
            ["metadata"] = new Dictionary<string, object> { ["name"] = $"harness-{Name(mode)}" },
            ["spec"] = new Dictionary<string, object>
            {
                ["accounts"] = new List<object>
                {
                    new Dictionary<string, object>
                    {
                        ["serviceAccount"] = new Dictionary<string, object> { ["namespace"] = who.NamespaceProperty, ["name"] = who.Name },
                        ["rules"] = rights.Select(r => new Dictionary<string, object?>
                        {
                            ["namespace"] = r.Namespace, ["apiGroups"] = Many(r.Rule.ApiGroups), ["resources"] = Many(r.Rule.Resources),
                            ["resourceNames"] = Many(r.Rule.ResourceNames), ["verbs"] = Many(r.Rule.Verbs),
                        }.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!)).ToList(),
                    },
                },
            },
        };
        return $"# The rights `harness qualify` needs in mode {Name(mode)} (`harness rights self --mode {Name(mode)} --format rights`).\n" + KubernetesYaml.Serialize(body);
    }

    /// <summary>The mode's name on the command line (<c>webhook-tls</c>).</summary>
    public static string Name(HarnessMode mode) => mode switch
    {
        HarnessMode.WebhookTls => "webhook-tls",
        _ => mode.ToString().ToLowerInvariant(),
    };

    /// <summary>The mode a command-line name stands for; null when none.</summary>
    public static HarnessMode? Parse(string? name) => Enum.GetValues<HarnessMode>().Cast<HarnessMode?>().FirstOrDefault(m => Name(m!.Value) == name);

    private static Rbacv1Subject Subject(string subject)
    {
        var colon = subject.IndexOf(':', StringComparison.Ordinal);
        var (kind, rest) = colon > 0 ? (subject[..colon], subject[(colon + 1)..]) : ("", "");
        return kind switch
        {
            "User" or "Group" when rest.Length > 0 => new Rbacv1Subject { Kind = kind, Name = rest, ApiGroup = "rbac.authorization.k8s.io" },
            "ServiceAccount" when rest.Split('/') is [{ Length: > 0 } ns, { Length: > 0 } name] => new Rbacv1Subject { Kind = kind, Name = name, NamespaceProperty = ns },
            _ => throw new ArgumentException($"the subject must be User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME, got '{subject}'.", nameof(subject)),
        };
    }

    /// <summary>
    /// The first right of <paramref name="rights"/> this credential lacks, asked permission by permission with
    /// SelfSubjectAccessReviews; null when it holds them all. Nothing is created.
    /// </summary>
    public static async Task<(SelfRight Right, string Verb, string Resource)?> FirstMissingAsync(IKubernetes client, IReadOnlyList<SelfRight> rights, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(rights);
        foreach (var right in rights)
        {
            foreach (var verb in right.Rule.Verbs)
            {
                foreach (var group in right.Rule.ApiGroups)
                {
                    foreach (var resource in right.Rule.Resources)
                    {
                        var slash = resource.IndexOf('/', StringComparison.Ordinal);
                        var review = new V1SelfSubjectAccessReview
                        {
                            ApiVersion = "authorization.k8s.io/v1",
                            Kind = "SelfSubjectAccessReview",
                            Spec = new V1SelfSubjectAccessReviewSpec
                            {
                                ResourceAttributes = new V1ResourceAttributes
                                {
                                    Verb = verb, Group = group, NamespaceProperty = right.Namespace,
                                    Resource = slash < 0 ? resource : resource[..slash], Subresource = slash < 0 ? null : resource[(slash + 1)..],
                                    Name = right.Rule.ResourceNames.FirstOrDefault(),
                                },
                            },
                        };
                        var answer = await client.AuthorizationV1.CreateSelfSubjectAccessReviewAsync(review, cancellationToken: ct).ConfigureAwait(false);
                        if (answer.Status?.Allowed != true)
                        {
                            return (right, verb, $"{resource}{(group.Length > 0 ? "." + group : "")}");
                        }
                    }
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Checks, before a run creates anything, that the credential holds every right of the modes; throws naming the mode
    /// and the missing rule, and the command that prints them all.
    /// </summary>
    /// <exception cref="PrerequisiteException">A right is missing.</exception>
    public static async Task RequireAsync(IKubernetes client, IEnumerable<(HarnessMode Mode, ImmutableArray<SelfRight> Rights)> modes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(modes);
        foreach (var (mode, rights) in modes)
        {
            if (await FirstMissingAsync(client, rights, ct).ConfigureAwait(false) is { } missing)
            {
                throw new PrerequisiteException("cluster rights",
                    $"mode {Name(mode)} needs {missing.Verb} on {missing.Resource} ({(missing.Right.Namespace is null ? "cluster-wide" : $"namespace {missing.Right.Namespace}")}) for {missing.Right.Why}, and this credential may not (SelfSubjectAccessReview: denied); nothing was created.",
                    $"`harness rights self --mode {Name(mode)}` prints every rule the mode needs as Role/ClusterRole manifests to grant.");
            }
        }
    }
}
