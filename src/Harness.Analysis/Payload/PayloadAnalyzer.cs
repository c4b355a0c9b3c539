// Payload: what an operator created on the cluster (by owner references and field managers), and whether that payload is hardened too. Pure.
using System.Collections.Immutable;
using Harness.Manifests;
using Harness.PodSecurity;
using Harness.Preflight;
using Harness.Rbac;
using k8s.Models;

namespace Harness.Payload;

/// <summary>How to recognise what the operator wrote.</summary>
/// <param name="OwnerUids">The uids of the operator's custom resources: an object they own was created for them.</param>
/// <param name="FieldManagers">Field managers known to be the operator's (configured); more are learned from what its custom resources own.</param>
public sealed record OperatorIdentity(ImmutableHashSet<string> OwnerUids, ImmutableHashSet<string> FieldManagers)
{
    /// <summary>
    /// Managers that are never the operator's: the harness itself (which applied the manifests), the control plane's
    /// controllers and kubelet, and kubectl. Objects they alone wrote are not the operator's payload.
    /// </summary>
    public static ImmutableHashSet<string> SystemManagers { get; } =
        ["harness", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-apiserver", "kubectl", "kubectl-client-side-apply", "kubectl-create", "kubectl-edit", "kubectl-patch", "kubectl-label", "kubectl-annotate"];

    /// <summary>
    /// The uids of other instances of the operator's custom resources (another run's, on a shared cluster): what they own
    /// is theirs, even when the same field manager wrote it.
    /// </summary>
    public ImmutableHashSet<string> ForeignOwnerUids { get; init; } = [];

    /// <inheritdoc/>
    public override string ToString() => $"owners {string.Join(", ", OwnerUids.Order(StringComparer.Ordinal))}; managers {string.Join(", ", FieldManagers.Order(StringComparer.Ordinal))}";
}

/// <summary>An object the operator created or changed, and how that is known.</summary>
/// <param name="Document">The object as read from the API server (Secret data stripped).</param>
/// <param name="Reason">Why it counts as the operator's: <c>owned by Greeting/hello</c>, <c>written by field manager greeter-operator</c>.</param>
public sealed record CreatedObject(ManifestDocument Document, string Reason)
{
    /// <summary><c>Kind namespace/name</c>, or <c>Kind name</c> for a cluster-scoped object.</summary>
    public string Display => Document.Namespace is { } ns ? $"{Document.Kind} {ns}/{Document.Name}" : $"{Document.Kind} {Document.Name}";

    /// <inheritdoc/>
    public override string ToString() => $"{Display} ({Reason})";
}

/// <summary>
/// Operator and payload separation: selects what the operator created among the objects on a cluster, and judges that
/// payload as the operator itself is judged. A hardened operator that creates a privileged payload is not hardened. Pure.
/// </summary>
public static class PayloadAnalyzer
{
    /// <summary>Finding: a workload the operator created violates the Pod Security level (restricted by default).</summary>
    public const string PodSecurityFinding = "PAYLOAD-POD-SECURITY";

    /// <summary>Finding: a workload the operator created runs as the operator's own ServiceAccount (and so with its privileges).</summary>
    public const string OperatorAccount = "PAYLOAD-OPERATOR-ACCOUNT";

    /// <summary>Finding: RBAC the operator created grants something an operator's account should not have.</summary>
    public const string Rbac = "PAYLOAD-RBAC";

    /// <summary>Finding (warning): a workload the operator created runs in the operator's own namespace.</summary>
    public const string SharedNamespace = "PAYLOAD-SHARED-NAMESPACE";

    /// <summary>
    /// The objects the operator created or changed: those owned by one of its custom resources, and those carrying a
    /// managed-fields entry of one of its field managers (configured, or learned from the owned objects). Objects only
    /// the harness, the control plane or kubectl wrote are not selected; nor are the custom resources themselves (the
    /// operator writes their status). Pure.
    /// </summary>
    /// <param name="objects">Everything listed from the cluster.</param>
    /// <param name="identity">The operator's custom resources and known field managers.</param>
    public static ImmutableArray<CreatedObject> Select(IReadOnlyList<ManifestDocument> objects, OperatorIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(objects);
        ArgumentNullException.ThrowIfNull(identity);
        // Each object's owning custom resource, looked up once; the custom resources themselves are not payload.
        var candidates = objects
            .Where(o => !identity.OwnerUids.Contains(o.Object?.Metadata?.Uid ?? "") && !identity.ForeignOwnerUids.Contains(o.Object?.Metadata?.Uid ?? ""))
            .Where(o => !OwnedOnlyByOthers(o, identity))
            .Select(o => (Object: o, Owner: o.Object?.Metadata?.OwnerReferences?.FirstOrDefault(r => identity.OwnerUids.Contains(r.Uid ?? ""))))
            .ToList();
        var managers = identity.FieldManagers
            .Union(candidates.Where(x => x.Owner is not null).SelectMany(x => Writers(x.Object)))
            .Except(OperatorIdentity.SystemManagers);
        var created = ImmutableArray.CreateBuilder<CreatedObject>();
        foreach (var (o, owner) in candidates)
        {
            var manager = Writers(o).FirstOrDefault(managers.Contains);
            if (owner is not null || manager is not null)
            {
                var reasons = new[] { owner is null ? null : $"owned by {owner.Kind}/{owner.Name}", manager is null ? null : $"written by field manager {manager}" };
                created.Add(new CreatedObject(o, string.Join(", ", reasons.Where(r => r is not null))));
            }
        }
        return [.. created.OrderBy(c => c.Document.Namespace ?? "", StringComparer.Ordinal).ThenBy(c => c.Document.Kind, StringComparer.Ordinal).ThenBy(c => c.Document.Name, StringComparer.Ordinal)];
    }

    // Owned by another instance of the operator's custom resources and by none of ours: that instance's payload.
    private static bool OwnedOnlyByOthers(ManifestDocument o, OperatorIdentity identity)
    {
        var owners = o.Object?.Metadata?.OwnerReferences ?? [];
        return owners.Any(r => identity.ForeignOwnerUids.Contains(r.Uid ?? "")) && !owners.Any(r => identity.OwnerUids.Contains(r.Uid ?? ""));
    }

    /// <summary>
    /// Judges the payload: every workload against the Pod Security <paramref name="level"/> (at the newest policy,
    /// whatever its namespace enforces: a namespace that lets it in does not make it hardened), workloads running as the
    /// operator's own account, and the RBAC it created (the account analyzer, for each ServiceAccount its bindings name).
    /// </summary>
    public static ImmutableArray<Finding> Analyze(IReadOnlyList<CreatedObject> created, ServiceAccountRef operatorAccount, PodSecurityLevel level = PodSecurityLevel.Restricted)
    {
        ArgumentNullException.ThrowIfNull(created);
        ArgumentNullException.ThrowIfNull(operatorAccount);
        var findings = ImmutableArray.CreateBuilder<Finding>();
        foreach (var c in created)
        {
            var doc = c.Document;
            if (!PodTemplates.TryGet(doc.Object, out var metadata, out var spec))
            {
                continue;
            }
            var ns = doc.Namespace ?? "default";
            var psa = PodSecurityEvaluator.Evaluate(metadata, spec, level, PolicyVersion.Latest);
            if (!psa.Allowed)
            {
                findings.Add(new Finding(PodSecurityFinding, FindingSeverity.Error, c.Display,
                    $"created by the operator ({c.Reason}) violates PodSecurity \"{level.ToString().ToLowerInvariant()}\": {string.Join("; ", psa.Violations)}", doc.Path, doc.Line));
            }
            var account = string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName;
            if (ns == operatorAccount.Namespace && account == operatorAccount.Name)
            {
                findings.Add(new Finding(OperatorAccount, FindingSeverity.Error, c.Display,
                    $"created by the operator ({c.Reason}) runs as the operator's own ServiceAccount {operatorAccount}: the payload holds every permission the operator has; give it an account of its own", doc.Path, doc.Line));
            }
            if (ns == operatorAccount.Namespace)
            {
                findings.Add(new Finding(SharedNamespace, FindingSeverity.Warning, c.Display,
                    $"created by the operator ({c.Reason}) runs in the operator's own namespace {ns}; a payload namespace of its own keeps the operator's Secrets and NetworkPolicy apart from it", doc.Path, doc.Line));
            }
        }

        var rbacDocuments = created.Select(c => c.Document).Where(d => d.Object is V1Role or V1ClusterRole or V1RoleBinding or V1ClusterRoleBinding).ToList();
        if (rbacDocuments.Count > 0)
        {
            var model = RbacModel.From(rbacDocuments);
            var subjects = rbacDocuments.Select(d => d.Object).SelectMany(o => o switch
            {
                V1RoleBinding rb => (rb.Subjects ?? []).Select(s => (Subject: s, Default: rb.Metadata?.NamespaceProperty)),
                V1ClusterRoleBinding crb => (crb.Subjects ?? []).Select(s => (Subject: s, Default: (string?)null)),
                _ => [],
            }).Where(s => s.Subject.Kind == "ServiceAccount")
              .Select(s => new ServiceAccountRef(s.Subject.NamespaceProperty ?? s.Default ?? "default", s.Subject.Name))
              .Distinct();
            foreach (var subject in subjects)
            {
                findings.AddRange(RbacAnalyzer.Analyze(model, subject)
                    .Where(f => f.Severity == FindingSeverity.Error)
                    .Select(f => f with { Id = Rbac, Message = $"through RBAC the operator created: {f.Message} ({f.Id})" }));
            }
            foreach (var doc in rbacDocuments)
            {
                var roleRef = doc.Object switch { V1RoleBinding rb => rb.RoleRef, V1ClusterRoleBinding crb => crb.RoleRef, _ => null };
                if (roleRef is { Kind: "ClusterRole" } && BuiltInPowerRoles.Contains(roleRef.Name))
                {
                    findings.Add(new Finding(Rbac, FindingSeverity.Error, $"{doc.Kind} {(doc.Namespace is { } n ? $"{n}/" : "")}{doc.Name}",
                        $"created by the operator binds the built-in ClusterRole {roleRef.Name}", doc.Path, doc.Line));
                }
            }
        }
        return findings.ToImmutable();
    }

    // Built-in ClusterRoles that grant broad write access (user-facing roles and the superuser role).
    private static readonly ImmutableHashSet<string> BuiltInPowerRoles = ["cluster-admin", "admin", "edit"];

    /// <summary>The field managers that wrote an object (not its status subresource: status is the reconciler's report, not a change of the object).</summary>
    private static IEnumerable<string> Writers(ManifestDocument document) =>
        (document.Object?.Metadata?.ManagedFields ?? [])
            .Where(m => !string.IsNullOrEmpty(m.Manager) && string.IsNullOrEmpty(m.Subresource))
            .Select(m => m.Manager);
}
