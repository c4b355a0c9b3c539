using System.Collections.Immutable;
using Harness.Manifests;
using Harness.Preflight;
using k8s;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>The <c>rights-declared</c> verdict of a run (<see cref="LiveRights.JudgeAsync"/>).</summary>
/// <param name="Status">Passed: no excess on the cluster, control held; Failed: an excess the authorizer allows; Inconclusive: the control failed.</param>
/// <param name="Evidence">The account, each finding, the control.</param>
public sealed record DeclaredRightsReport(ProbeStatus Status, ImmutableArray<string> Evidence) : ILiveCheckReport
{
    /// <summary>False when no rights file was given: the item is untested, not failed.</summary>
    public bool Tested { get; init; } = true;

    /// <inheritdoc/>
    public ImmutableArray<string> Controls { get; init; } = [];

    /// <summary>The excess and unused rights found.</summary>
    public ImmutableArray<Finding> Findings { get; init; } = [];

    /// <summary>No rights file was given.</summary>
    public static DeclaredRightsReport Untested { get; } = new(ProbeStatus.Inconclusive,
        ["no rights file was given (`harness rights lock DIR > rights.yaml`, then scenario rights: or qualify --rights)"]) { Tested = false };

    /// <inheritdoc/>
    public override string ToString() => $"{Status}: {string.Join("; ", Evidence)}";
}

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
        return await CheckAsync(client, declared, moreAccounts, RbacModel.From(await ClusterRbacAsync(client, ct).ConfigureAwait(false)), ct).ConfigureAwait(false);
    }

    private static async Task<ImmutableArray<Finding>> CheckAsync(IKubernetes client, OperatorRights declared, IReadOnlyList<ServiceAccountRef> moreAccounts, RbacModel model, CancellationToken ct)
    {
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

    /// <summary>
    /// The <c>rights-declared</c> check of a run: the operator's account on the cluster (every binding that reaches it)
    /// against the declaration. Passed when no excess is confirmed and the control held: a declared, granted permission
    /// was allowed by a SubjectAccessReview (else an authorizer that allows nothing would hide every excess: Inconclusive).
    /// </summary>
    /// <param name="client">The cluster.</param>
    /// <param name="declared">The declaration, in the cluster's namespaces (its manifests' namespaces read as the run's).</param>
    /// <param name="account">The operator's account.</param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<DeclaredRightsReport> JudgeAsync(IKubernetes client, OperatorRights declared, ServiceAccountRef account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(account);
        var model = RbacModel.From(await ClusterRbacAsync(client, ct).ConfigureAwait(false));
        var findings = await CheckAsync(client, declared, [account], model, ct).ConfigureAwait(false);
        var evidence = ImmutableArray.CreateBuilder<string>();
        var file = Path.GetFileName(declared.Path);
        string control;
        var status = ProbeStatus.Passed;
        if (DeclaredRights.DeclaredAndGranted(declared, model, account) is { } known)
        {
            var review = await client.AuthorizationV1.CreateSubjectAccessReviewAsync(Review(account, known.Namespace, known.Atom), cancellationToken: ct).ConfigureAwait(false);
            var what = known.Atom.Url ?? $"{known.Atom.Verb} {known.Atom.Resource}{(string.IsNullOrEmpty(known.Atom.Group) ? "" : "." + known.Atom.Group)} in {known.Namespace ?? "the cluster"}";
            control = review.Status?.Allowed == true
                ? $"control held: a declared, granted right ({(known.Atom.Url is null ? what : $"{known.Atom.Verb} {what}")}) was allowed by a SubjectAccessReview"
                : $"control FAILED: a declared, granted right ({what}) was not allowed by a SubjectAccessReview ({review.Status?.Reason ?? "no reason"}); the authorizer's answers cannot confirm or clear an excess";
            if (review.Status?.Allowed != true)
            {
                status = ProbeStatus.Inconclusive;
            }
        }
        else
        {
            control = $"control FAILED: nothing {file} declares for {account} is granted on the cluster, so no review can show the authorizer answers";
            status = ProbeStatus.Inconclusive;
        }
        var excess = findings.Where(f => f.Id == "RIGHTS-EXCESS").ToList();
        if (excess.Count > 0)
        {
            status = ProbeStatus.Failed; // a confirmed excess is a failure whatever the control: the authorizer allowed it
        }
        evidence.Add(excess.Count == 0
            ? $"ServiceAccount {account}: no right on the cluster beyond {file}"
            : $"ServiceAccount {account}: {excess.Count} rights on the cluster beyond {file}");
        evidence.AddRange(findings.Select(f => $"{f.Id}: {f.Subject} {f.Message}"));
        evidence.Add(control);
        return new DeclaredRightsReport(status, evidence.ToImmutable()) { Controls = [control], Findings = findings };
    }

    /// <summary>
    /// Reads the <c>OperatorRights</c> object <paramref name="name"/> from the cluster (what <c>harness rights install</c>
    /// put there), as a rights file.
    /// </summary>
    /// <exception cref="ManifestException">No such object (the message says to install it), or not a rights object.</exception>
    public static async Task<OperatorRights> ReadObjectAsync(IKubernetes client, string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        object found;
        try
        {
            found = await client.CustomObjects.GetClusterCustomObjectAsync(RightsInstall.Group, RightsInstall.Version, RightsInstall.Plural, name, ct).ConfigureAwait(false);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw new ManifestException($"{ClusterPath} OperatorRights/{name}", 1, 1,
                $"no OperatorRights \"{name}\" on the cluster (or its CRD is missing): apply the output of `harness rights install --rights FILE` first.");
        }
        // JSON is YAML: the object parses as the file it came from.
        var json = Kubernetes.CustomObjectText.Of(found);
        return DeclaredRights.Parse(json, $"{ClusterPath} OperatorRights/{name}");
    }

    /// <summary>
    /// The status the in-cluster check writes: a <c>Compliant</c> condition (False on any excess), the excess and unused
    /// rights as lines, their counts and <c>lastChecked</c>. The condition's transition time moves only when its status
    /// changes (<paramref name="previous"/> is the status before). Pure.
    /// </summary>
    internal static System.Text.Json.Nodes.JsonObject Status(IReadOnlyList<Finding> findings, DateTimeOffset now, System.Text.Json.Nodes.JsonNode? previous)
    {
        var excess = findings.Where(f => f.Id == "RIGHTS-EXCESS").Select(f => $"{f.Subject} {f.Message}").ToList();
        var unused = findings.Where(f => f.Id == "RIGHTS-UNUSED").Select(f => $"{f.Subject} {f.Message}").ToList();
        var compliant = excess.Count == 0 ? "True" : "False";
        var stamp = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var before = (previous?["conditions"] as System.Text.Json.Nodes.JsonArray)?.FirstOrDefault(c => (string?)c?["type"] == "Compliant");
        var since = before is not null && (string?)before["status"] == compliant && (string?)before["lastTransitionTime"] is { } t ? t : stamp;
        return new System.Text.Json.Nodes.JsonObject
        {
            ["conditions"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
            {
                ["type"] = "Compliant",
                ["status"] = compliant,
                ["reason"] = excess.Count == 0 ? "NoExcess" : "ExcessRights",
                ["message"] = excess.Count == 0
                    ? $"no right granted beyond the declaration ({unused.Count} declared rights unused)"
                    : $"{excess.Count} rights granted and not declared; the first: {excess[0]}",
                ["lastTransitionTime"] = since,
            }),
            ["excess"] = new System.Text.Json.Nodes.JsonArray([.. excess.Select(e => (System.Text.Json.Nodes.JsonNode)e)]),
            ["unused"] = new System.Text.Json.Nodes.JsonArray([.. unused.Select(e => (System.Text.Json.Nodes.JsonNode)e)]),
            ["excessCount"] = excess.Count,
            ["unusedCount"] = unused.Count,
            ["lastChecked"] = stamp,
        };
    }

    /// <summary>Writes the check's result into the object's status (the status subresource, a merge patch).</summary>
    /// <exception cref="k8s.Autorest.HttpOperationException">The credential may not update <c>operatorrights/status</c>.</exception>
    public static async Task WriteStatusAsync(IKubernetes client, string name, IReadOnlyList<Finding> findings, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(findings);
        var current = await client.CustomObjects.GetClusterCustomObjectAsync(RightsInstall.Group, RightsInstall.Version, RightsInstall.Plural, name, ct).ConfigureAwait(false);
        var previous = System.Text.Json.Nodes.JsonNode.Parse(Kubernetes.CustomObjectText.Of(current))?["status"];
        var patch = new System.Text.Json.Nodes.JsonObject { ["status"] = Status(findings, (time ?? TimeProvider.System).GetUtcNow(), previous) };
        await client.CustomObjects.PatchClusterCustomObjectStatusAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
            RightsInstall.Group, RightsInstall.Version, RightsInstall.Plural, name, cancellationToken: ct).ConfigureAwait(false);
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
