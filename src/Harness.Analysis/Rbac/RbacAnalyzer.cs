// Rbac: what a ServiceAccount may do, from the manifests (pure) and from SubjectAccessReviews (live).
using System.Collections.Immutable;
using Harness.Preflight;

namespace Harness.Rbac;

/// <summary>
/// What a ServiceAccount may do that an operator should not: read Secrets, wildcards, escalate/bind/impersonate, exec into
/// pods, create pods or NetworkPolicies outside its namespace, patch webhook configurations, create CRDs, patch namespaces.
/// </summary>
public static class RbacAnalyzer
{
    /// <summary>Finding: the account may patch webhook configurations (and so their CA bundles).</summary>
    public const string WebhookPatch = "RBAC-WEBHOOKS";

    /// <summary>The findings that break the API quarantine (admission, PodSecurity labels, RBAC elsewhere, CRDs, kube-system).</summary>
    public static readonly ImmutableArray<string> QuarantineFindings = ["RBAC-ADMISSION", "RBAC-NAMESPACES", "RBAC-RBAC-ELSEWHERE", "RBAC-CRDS", "RBAC-CRDS-CHANGE", "RBAC-KUBE-SYSTEM", "RBAC-APISERVICE"];

    /// <summary>Finding: the account may create pods outside its namespace (its payload can land where Pod Security is not enforced).</summary>
    public const string PodsElsewhere = "RBAC-PODS-ELSEWHERE";

    /// <summary>Finding: the account may create pod-owning workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs) outside its namespace.</summary>
    public const string WorkloadsElsewhere = "RBAC-WORKLOADS-ELSEWHERE";

    private sealed record Danger(string Id, string What, string ApiGroup, string Resource, string? Subresource, ImmutableArray<string> Verbs, bool OnlyOutsideOwnNamespace = false, string? OnlyIn = null);

    private static readonly ImmutableArray<Danger> Dangers =
    [
        new("RBAC-SECRETS", "can read Secrets", "", "secrets", null, ["get", "list", "watch"]),
        new("RBAC-ESCALATE", "can escalate roles", "rbac.authorization.k8s.io", "roles", null, ["escalate"]),
        new("RBAC-ESCALATE", "can escalate cluster roles", "rbac.authorization.k8s.io", "clusterroles", null, ["escalate"]),
        new("RBAC-BIND", "can bind roles", "rbac.authorization.k8s.io", "roles", null, ["bind"]),
        new("RBAC-BIND", "can bind cluster roles", "rbac.authorization.k8s.io", "clusterroles", null, ["bind"]),
        new("RBAC-IMPERSONATE", "can impersonate users", "", "users", null, ["impersonate"]),
        new("RBAC-IMPERSONATE", "can impersonate groups", "", "groups", null, ["impersonate"]),
        new("RBAC-IMPERSONATE", "can impersonate service accounts", "", "serviceaccounts", null, ["impersonate"]),
        new("RBAC-POD-EXEC", "can exec into pods", "", "pods", "exec", ["create", "get"]),
        new("RBAC-POD-EXEC", "can attach to pods", "", "pods", "attach", ["create", "get"]),
        new(PodsElsewhere, "can create pods outside its namespace", "", "pods", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WorkloadsElsewhere, "can create Deployments outside its namespace", "apps", "deployments", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WorkloadsElsewhere, "can create StatefulSets outside its namespace", "apps", "statefulsets", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WorkloadsElsewhere, "can create DaemonSets outside its namespace", "apps", "daemonsets", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WorkloadsElsewhere, "can create Jobs outside its namespace", "batch", "jobs", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WorkloadsElsewhere, "can create CronJobs outside its namespace", "batch", "cronjobs", null, ["create"], OnlyOutsideOwnNamespace: true),
        new(WebhookPatch, "can change mutating webhook configurations", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", null, ["patch", "update"]),
        new(WebhookPatch, "can change validating webhook configurations", "admissionregistration.k8s.io", "validatingwebhookconfigurations", null, ["patch", "update"]),
        new("RBAC-CRDS", "can create CustomResourceDefinitions", "apiextensions.k8s.io", "customresourcedefinitions", null, ["create"]),
        new("RBAC-NETPOL-ELSEWHERE", "can create or change NetworkPolicies outside its namespace", "networking.k8s.io", "networkpolicies", null, ["create", "update", "patch", "delete"], OnlyOutsideOwnNamespace: true),
        new("RBAC-NAMESPACES", "can patch namespaces (and so their PodSecurity labels)", "", "namespaces", null, ["patch", "update"]),
        new("RBAC-ADMISSION", "can create or change ValidatingAdmissionPolicies", "admissionregistration.k8s.io", "validatingadmissionpolicies", null, ["create", "update", "patch", "delete"]),
        new("RBAC-ADMISSION", "can create or change ValidatingAdmissionPolicyBindings", "admissionregistration.k8s.io", "validatingadmissionpolicybindings", null, ["create", "update", "patch", "delete"]),
        new("RBAC-ADMISSION", "can create or delete MutatingWebhookConfigurations", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", null, ["create", "delete"]),
        new("RBAC-ADMISSION", "can create or delete ValidatingWebhookConfigurations", "admissionregistration.k8s.io", "validatingwebhookconfigurations", null, ["create", "delete"]),
        new("RBAC-RBAC-ELSEWHERE", "can create or change Roles outside its namespace", "rbac.authorization.k8s.io", "roles", null, ["create", "update", "patch"], OnlyOutsideOwnNamespace: true),
        new("RBAC-RBAC-ELSEWHERE", "can create or change RoleBindings outside its namespace", "rbac.authorization.k8s.io", "rolebindings", null, ["create", "update", "patch"], OnlyOutsideOwnNamespace: true),
        new("RBAC-RBAC-ELSEWHERE", "can create or change ClusterRoles", "rbac.authorization.k8s.io", "clusterroles", null, ["create", "update", "patch"]),
        new("RBAC-RBAC-ELSEWHERE", "can create or change ClusterRoleBindings", "rbac.authorization.k8s.io", "clusterrolebindings", null, ["create", "update", "patch"]),
        new("RBAC-CRDS-CHANGE", "can change or delete CustomResourceDefinitions", "apiextensions.k8s.io", "customresourcedefinitions", null, ["update", "patch", "delete"]),
        new("RBAC-KUBE-SYSTEM", "can read ConfigMaps in kube-system", "", "configmaps", null, ["get", "list", "watch"], OnlyIn: "kube-system"),

        // The privilege-escalation risks of the Kubernetes "RBAC good practices" page, each its own finding.
        new("RBAC-SECRETS-WRITE", "can create, change or delete Secrets (forge TLS keys and tokens, replace other accounts' credentials)", "", "secrets", null, ["create", "update", "patch", "delete"]),
        new("RBAC-TOKEN-REQUEST", "can request tokens for ServiceAccounts (mint a token for any account in reach, and act as it)", "", "serviceaccounts", "token", ["create"]),
        new("RBAC-APISERVICE", "can create or change APIServices (redirect an aggregated API, and the requests and credentials sent to it, to a Service of its own)", "apiregistration.k8s.io", "apiservices", null, ["create", "update", "patch", "delete"]),
        new("RBAC-NODES-PROXY", "can reach the kubelet API through nodes/proxy (exec into any pod on the node, past audit and admission)", "", "nodes", "proxy", ["get", "create"]),
        new("RBAC-CSR-APPROVE", "can approve CertificateSigningRequests (issue client certificates the API server trusts)", "certificates.k8s.io", "certificatesigningrequests", "approval", ["update", "patch"]),
        new("RBAC-CSR-APPROVE", "can approve requests for certificate signers", "certificates.k8s.io", "signers", null, ["approve"]),
        new("RBAC-PERSISTENTVOLUMES", "can create PersistentVolumes (a hostPath volume mounts the node's filesystem into a pod)", "", "persistentvolumes", null, ["create"]),
        new("RBAC-EPHEMERAL-CONTAINERS", "can add ephemeral containers to pods (run code in any pod it reaches, with that pod's account and mounts)", "", "pods", "ephemeralcontainers", ["update", "patch"]),
        new("RBAC-ADMISSION", "can create or change MutatingAdmissionPolicies", "admissionregistration.k8s.io", "mutatingadmissionpolicies", null, ["create", "update", "patch", "delete"]),
        new("RBAC-ADMISSION", "can create or change MutatingAdmissionPolicyBindings", "admissionregistration.k8s.io", "mutatingadmissionpolicybindings", null, ["create", "update", "patch", "delete"]),
    ];

    /// <summary>The findings for one account. Grants limited by resourceNames are warnings that name them; others are errors.</summary>
    public static ImmutableArray<Finding> Analyze(RbacModel model, ServiceAccountRef account)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(account);
        var grants = model.GrantsFor(account);
        var subject = $"ServiceAccount {account}";
        var findings = ImmutableArray.CreateBuilder<Finding>();

        foreach (var grant in grants.Where(g => IsWildcard(g.Rule)))
        {
            findings.Add(Make("RBAC-WILDCARD", FindingSeverity.Error, subject, $"has a wildcard rule \"{grant.Rule}\" {grant.Scope}", grant));
        }

        foreach (var danger in Dangers)
        {
            var matching = grants
                .Where(g => !danger.OnlyOutsideOwnNamespace || g.Namespace != account.Namespace)
                .Where(g => danger.OnlyIn is null || g.Namespace is null || g.Namespace == danger.OnlyIn)
                .Select(g => (Grant: g, Verbs: danger.Verbs.Where(v => AllowsAnyName(g.Rule, v, danger)).ToList()))
                .Where(x => x.Verbs.Count > 0)
                .ToList();
            foreach (var (grant, verbs) in matching)
            {
                var named = !grant.Rule.ResourceNames.IsEmpty;
                var names = named ? $" (only {string.Join(", ", grant.Rule.ResourceNames.Select(n => $"\"{n}\""))})" : "";
                findings.Add(Make(
                    danger.Id,
                    named ? FindingSeverity.Warning : FindingSeverity.Error,
                    subject,
                    $"{Granted(danger, verbs)}{names}: {string.Join("/", verbs)} {grant.Scope}",
                    grant));
            }
        }
        return findings.ToImmutable();
    }

    // "can create or delete X" when only delete is granted says "can delete X": the title names what is granted, no more.
    private static string Granted(Danger danger, IReadOnlyList<string> verbs)
    {
        var all = $"can {string.Join(" or ", danger.Verbs)} ";
        return verbs.Count < danger.Verbs.Length && danger.What.StartsWith(all, StringComparison.Ordinal)
            ? $"can {string.Join(" or ", verbs)} {danger.What[all.Length..]}"
            : danger.What;
    }

    private static bool IsWildcard(RbacRule rule) =>
        rule.Verbs.Contains("*") || rule.Resources.Any(r => r == "*" || r.StartsWith("*/", StringComparison.Ordinal)) || rule.NonResourceUrls.Contains("*");

    // A rule limited to resourceNames still matters: it is matched here and reported as a warning naming them.
    private static bool AllowsAnyName(RbacRule rule, string verb, Danger danger) =>
        rule.Allows(verb, danger.ApiGroup, danger.Resource, danger.Subresource, rule.ResourceNames.IsEmpty ? null : rule.ResourceNames[0]);

    private static Finding Make(string id, FindingSeverity severity, string subject, string message, RbacGrant grant)
    {
        // At the rule that grants it (the binding is named in the message).
        return new Finding(id, severity, subject, $"{message} via {grant.Binding} -> {grant.Role}", grant.RuleLocation.Path, grant.RuleLocation.Line);
    }
}
