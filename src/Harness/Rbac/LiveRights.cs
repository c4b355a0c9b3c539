using System.Collections.Immutable;
using Harness.Manifests;
using Harness.Preflight;
using k8s;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>
/// Declared rights against a live cluster (issue #27, item 2): the cluster's own Roles, ClusterRoles and bindings (every
/// binding that reaches the account, not only the operator's), compared with the rights file. Each excess is confirmed
/// with a SubjectAccessReview before it is reported: a right the authorizer denies is no excess. Kubernetes' default
/// bindings to groups every account is in (discovery, self-reviews) are left out: they are no operator's excess.
/// </summary>
public static class LiveRights
{
    /// <summary>Where findings about the cluster's objects point (they have no file).</summary>
    public const string ClusterPath = "cluster";

    /// <summary>Checks the accounts of <paramref name="declared"/> (and <paramref name="moreAccounts"/>) on the cluster.</summary>
    /// <exception cref="k8s.Autorest.HttpOperationException">The credential may not list RBAC objects or create SubjectAccessReviews.</exception>
    public static async Task<ImmutableArray<Finding>> CheckAsync(IKubernetes client, OperatorRights declared, IReadOnlyList<ServiceAccountRef> moreAccounts, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(moreAccounts);
        var model = RbacModel.From(await ClusterRbacAsync(client, ct).ConfigureAwait(false));
        List<ServiceAccountRef> accounts = [.. declared.Accounts.Select(a => a.Account).Concat(moreAccounts).Distinct()];
        var confirmed = new List<DeclaredRights.RightsExcess>();
        foreach (var excess in DeclaredRights.Excesses(declared, model, accounts))
        {
            var allowed = new List<DeclaredRights.Atom>();
            foreach (var atom in excess.Atoms)
            {
                var review = await client.AuthorizationV1.CreateSubjectAccessReviewAsync(Review(excess.Account, excess.Grant.Namespace, atom), cancellationToken: ct).ConfigureAwait(false);
                if (review.Status?.Allowed == true)
                {
                    allowed.Add(atom);
                }
            }
            if (allowed.Count > 0)
            {
                confirmed.Add(excess with { Atoms = [.. allowed] });
            }
        }
        return DeclaredRights.Findings(declared, model, accounts, confirmed, " (allowed: confirmed by a SubjectAccessReview)");
    }

    /// <summary>The review that asks whether the account has one permission, where the grant applies. Pure.</summary>
    internal static V1SubjectAccessReview Review(ServiceAccountRef account, string? ns, DeclaredRights.Atom atom)
    {
        if (atom.Url is { } url)
        {
            var review = AccessReviewMatrix.Review(account, new V1ResourceAttributes());
            review.Spec.ResourceAttributes = null;
            review.Spec.NonResourceAttributes = new V1NonResourceAttributes { Path = url, Verb = atom.Verb };
            return review;
        }
        var slash = atom.Resource!.IndexOf('/', StringComparison.Ordinal);
        return AccessReviewMatrix.Review(account, new V1ResourceAttributes
        {
            Verb = atom.Verb,
            Group = atom.Group,
            Resource = slash < 0 ? atom.Resource : atom.Resource[..slash],
            Subresource = slash < 0 ? null : atom.Resource[(slash + 1)..],
            Name = atom.Name,
            NamespaceProperty = ns,
        });
    }

    /// <summary>
    /// A binding of Kubernetes' own defaults to groups every account is in (<c>system:discovery</c> to
    /// <c>system:authenticated</c>): the same for every account on every cluster, so not the operator's excess. Pure.
    /// </summary>
    internal static bool EveryAccountsBaseline(V1ClusterRoleBinding binding) =>
        binding.Metadata?.Labels is { } labels && labels.TryGetValue("kubernetes.io/bootstrapping", out var value) && value == "rbac-defaults"
        && binding.Subjects is { Count: > 0 } subjects && subjects.All(s => s.Kind == "Group" && s.Name is "system:authenticated" or "system:serviceaccounts" or "system:unauthenticated");

    // The cluster's RBAC objects as documents the RBAC model reads; they point at the cluster, not at a file.
    private static async Task<List<ManifestDocument>> ClusterRbacAsync(IKubernetes client, CancellationToken ct)
    {
        var documents = new List<ManifestDocument>();
        void Add(IKubernetesObject<V1ObjectMeta> o, string kind) =>
            documents.Add(new ManifestDocument(ClusterPath, 0, "rbac.authorization.k8s.io/v1", kind, o.Metadata.Name, o.Metadata.NamespaceProperty, o, ""));
        foreach (var r in (await client.RbacAuthorizationV1.ListClusterRoleAsync(cancellationToken: ct).ConfigureAwait(false)).Items)
        {
            Add(r, "ClusterRole");
        }
        foreach (var b in (await client.RbacAuthorizationV1.ListClusterRoleBindingAsync(cancellationToken: ct).ConfigureAwait(false)).Items.Where(b => !EveryAccountsBaseline(b)))
        {
            Add(b, "ClusterRoleBinding");
        }
        foreach (var r in (await client.RbacAuthorizationV1.ListRoleForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items)
        {
            Add(r, "Role");
        }
        foreach (var b in (await client.RbacAuthorizationV1.ListRoleBindingForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items)
        {
            Add(b, "RoleBinding");
        }
        return documents;
    }
}
