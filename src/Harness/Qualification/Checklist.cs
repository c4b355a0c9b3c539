using System.Collections.Immutable;
using Harness.Probes;
using Harness.Rbac;
using Harness.Verdicts;

namespace Harness.Qualification;

/// <summary>What the checklist is built from besides the probes.</summary>
/// <param name="NamespaceEnforce">The namespace's <c>pod-security.kubernetes.io/enforce</c> label; null when unknown.</param>
/// <param name="UnpinnedImages">Images not pinned by digest.</param>
/// <param name="Signatures">Signature verification per image (<c>verified</c>, <c>failed: ...</c>); empty when not checked.</param>
/// <param name="SignatureSkipped">Why signatures were not checked (no cosign, no policy); null when they were.</param>
public sealed record ChecklistInputs(
    string? NamespaceEnforce,
    ImmutableArray<string> UnpinnedImages,
    ImmutableDictionary<string, string> Signatures,
    string? SignatureSkipped)
{
    /// <summary>Whether the policy requires digests (<c>imagePolicy.requireDigest</c>); when not, the pinning item is Skipped, not Passed.</summary>
    public bool RequireDigest { get; init; } = true;

    /// <summary>
    /// What the manifests already show against an item, cluster or not (who may patch webhook CA bundles, grants that
    /// break the API quarantine, legacy or foreign token Secrets): each finding fails its item and is part of its evidence.
    /// </summary>
    public ImmutableDictionary<HardeningItem, ImmutableArray<string>> ManifestFindings { get; init; } = ImmutableDictionary<HardeningItem, ImmutableArray<string>>.Empty;

    /// <summary>What the cluster showed against an item besides the probes (a mounted token Secret of another account): each fails its item.</summary>
    public ImmutableDictionary<HardeningItem, ImmutableArray<string>> ClusterFindings { get; init; } = ImmutableDictionary<HardeningItem, ImmutableArray<string>>.Empty;

    /// <summary>The payload inventory (what the operator created for its custom resources); null when none was taken (no cluster).</summary>
    public Payload.PayloadReport? Payload { get; init; }

    /// <summary>What the NetworkPolicies in force let the operator reach outside the cluster; null when not analysed (then egress cannot pass).</summary>
    public NetworkPolicies.EgressReach? EgressPolicy { get; init; }

    /// <summary>The webhook TLS check from the cluster vantage; null when none ran (no cluster).</summary>
    public Webhooks.WebhookTlsReport? WebhookTls { get; init; }

    /// <summary>The operator's account against its declared rights on the cluster; null when none ran (no cluster).</summary>
    public DeclaredRightsReport? DeclaredRights { get; init; }

    /// <summary>Items judged only under an approximation (item id → what was approximated): a pass there is <see cref="ChecklistStatus.Approximated"/>.</summary>
    public ImmutableDictionary<string, string> Approximations { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);
}

/// <summary>Maps probe results and access answers onto the hardening checklist. Pure.</summary>
public static class Checklist
{
    // The items judged from probes and access answers; which probe counts where is declared with the probe (ProbeDefinition.Items).
    private static readonly ImmutableArray<HardeningItem> ProbeItems =
    [
        HardeningItem.RootFilesystemReadOnly, HardeningItem.CapabilitiesDropped, HardeningItem.NoPrivilegeEscalation, HardeningItem.Seccomp,
        HardeningItem.NonRoot, HardeningItem.EgressDefaultDeny, HardeningItem.ServiceAccountLeastPrivilege, HardeningItem.ServiceAccountToken,
    ];

    /// <summary>The ids of every checklist item, in report order.</summary>
    public static ImmutableArray<string> ItemIds { get; } = [.. HardeningItems.All.Select(i => i.Id())];

    /// <summary>What a user may waive: checklist item ids and the mission checks' names.</summary>
    public static ImmutableArray<string> Waivable { get; } = [.. ItemIds, .. CheckOutcome.Mission.Select(m => m.ToString())];

    /// <summary>Builds the checklist.</summary>
    public static ImmutableArray<ChecklistItem> Build(IReadOnlyList<ProbeResult> probes, IReadOnlyList<AccessAnswer> access, ChecklistInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(probes);
        ArgumentNullException.ThrowIfNull(access);
        ArgumentNullException.ThrowIfNull(inputs);
        var items = ImmutableArray.CreateBuilder<ChecklistItem>();
        var namespaceItem = inputs.NamespaceEnforce switch
        {
            null => new ChecklistItem(HardeningItem.NamespacePodSecurity.Id(), HardeningItem.NamespacePodSecurity.Title(), ChecklistStatus.Skipped,
                ["the namespace was not read (docker vehicle without a Namespace manifest)"], [], 0),
            "restricted" => new ChecklistItem(HardeningItem.NamespacePodSecurity.Id(), HardeningItem.NamespacePodSecurity.Title(), ChecklistStatus.Passed,
                ["pod-security.kubernetes.io/enforce=restricted"], [], 0),
            var level => new ChecklistItem(HardeningItem.NamespacePodSecurity.Id(), HardeningItem.NamespacePodSecurity.Title(), ChecklistStatus.Failed,
                [$"pod-security.kubernetes.io/enforce={(level.Length == 0 ? "(not set)" : level)}"], [], 0),
        };
        // The namespace enforces restricted and the operator's own pods do not meet it (PodSecurity refused them): failed.
        items.Add(inputs.ClusterFindings.TryGetValue(HardeningItem.NamespacePodSecurity, out var refused) && !refused.IsEmpty
            ? namespaceItem with { Status = ChecklistStatus.Failed, Evidence = [.. namespaceItem.Evidence, .. refused.Select(f => $"on the cluster: {f}")] }
            : namespaceItem);
        foreach (var item in ProbeItems)
        {
            var all = probes.Where(p => p.Probe.Items.Contains(item)).ToList();
            // Something the operator must still be allowed (cluster DNS) that the cluster does not provide even to the
            // harness's own unpoliced pod: untestable here, said so, and no reason to doubt the item.
            var unprovided = all.Where(NotProvidedByTheCluster).ToList();
            var results = all.Except(unprovided).ToList();
            var answers = access.Where(a => a.Question.Items.Contains(item)).ToList();
            var statuses = results.Select(r => r.Status).Concat(answers.Select(a => a.Status)).ToList();
            var status = statuses.Count == 0 ? ChecklistStatus.Skipped
                : statuses.Contains(ProbeStatus.Failed) ? ChecklistStatus.Failed
                : statuses.Contains(ProbeStatus.Inconclusive) ? ChecklistStatus.Inconclusive
                : ChecklistStatus.Passed;
            var evidence = results.Select(r => $"{r.Probe.Id}: {r.Status} ({r.Verdict}) - {r.Explanation}{(r.Evidence.Observed is { } o ? $" [observed: {o}]" : "")}")
                .Concat(answers.Select(a => $"{a.Question.Id}: {a.Status} - {a.Question.Description}: {a.Evidence}"))
                .DefaultIfEmpty("nothing tested this here (it needs a cluster)")
                .Concat(unprovided.Select(r => $"{r.Probe.Id}: not tested - {r.Probe.Title}: the cluster does not provide it ({r.Evidence.Control!.Proves}: failed), so the operator's policies cannot be judged on it here"))
                .ToImmutableArray();
            var controls = results.Where(r => r.Evidence.Control is not null)
                .Select(r => $"{r.Probe.Id}: {r.Evidence.Control!.Proves} ({(r.Evidence.Control.Succeeded ? "held" : "FAILED")})")
                .ToImmutableArray();
            var duration = results.Select(r => r.Evidence.DurationMs).DefaultIfEmpty(0).Max();
            if (ManifestFindings(inputs, item).AddRange(inputs.ClusterFindings.TryGetValue(item, out var seen) ? seen.Select(f => $"on the cluster: {f}") : []) is { IsEmpty: false } found)
            {
                status = ChecklistStatus.Failed;
                evidence = [.. evidence.Where(_ => statuses.Count > 0), .. found];
            }
            if (item == HardeningItem.EgressDefaultDeny && statuses.Count > 0)
            {
                (status, evidence) = WithEgressPolicy(status, evidence, inputs.EgressPolicy);
            }
            if (status == ChecklistStatus.Passed && inputs.Approximations.TryGetValue(item.Id(), out var approximation))
            {
                status = ChecklistStatus.Approximated;
                evidence = [$"approximation, not a proof: {approximation}", .. evidence];
            }
            items.Add(new ChecklistItem(item.Id(), item.Title(), status, evidence, controls, duration));
        }
        items.Add(!inputs.RequireDigest
            ? new ChecklistItem(HardeningItem.ImagesPinned.Id(), HardeningItem.ImagesPinned.Title(), ChecklistStatus.Skipped,
                ["not required here (imagePolicy.requireDigest: false)", .. inputs.UnpinnedImages.Select(i => $"{i} is not pinned by digest")], [], 0)
            : inputs.UnpinnedImages.IsEmpty
            ? new ChecklistItem(HardeningItem.ImagesPinned.Id(), HardeningItem.ImagesPinned.Title(), ChecklistStatus.Passed, ["every image is referenced by @sha256 digest"], [], 0)
            : new ChecklistItem(HardeningItem.ImagesPinned.Id(), HardeningItem.ImagesPinned.Title(), ChecklistStatus.Failed, [.. inputs.UnpinnedImages.Select(i => $"{i} is not pinned by digest")], [], 0));
        items.Add(inputs.SignatureSkipped is { } why
            ? new ChecklistItem(HardeningItem.ImagesSigned.Id(), HardeningItem.ImagesSigned.Title(), ChecklistStatus.Skipped, [why], [], 0)
            : new ChecklistItem(HardeningItem.ImagesSigned.Id(), HardeningItem.ImagesSigned.Title(),
                inputs.Signatures.Values.All(v => v == "verified") ? ChecklistStatus.Passed : ChecklistStatus.Failed,
                [.. inputs.Signatures.Select(kv => $"{kv.Key}: {kv.Value}")], [], 0));
        items.Add(FromAccess(HardeningItem.WebhookCaPatch, access, ManifestFindings(inputs, HardeningItem.WebhookCaPatch), "no manifest grants webhook patches"));
        items.Add(FromAccess(HardeningItem.ApiQuarantine, access, ManifestFindings(inputs, HardeningItem.ApiQuarantine), "no manifest grant breaks it"));
        items.Add(FromLiveCheck(HardeningItem.PayloadSeparation, inputs.Payload,
            ManifestFindings(inputs, HardeningItem.PayloadSeparation),
            "no payload inventory here (it needs a cluster and a custom resource)", "and no manifest grant lets the operator create workloads outside its namespace"));
        items.Add(FromLiveCheck(HardeningItem.WebhookTls, inputs.WebhookTls,
            ManifestFindings(inputs, HardeningItem.WebhookTls),
            "no TLS check here (it needs a cluster)", "and the manifests show no webhook without a Service, a port or a CA bundle"));
        var rights = FromLiveCheck(HardeningItem.RightsDeclared, inputs.DeclaredRights, [],
            "no declared-rights check here (it needs a cluster: `harness rights check --rights FILE DIR` checks the manifests)", "no rights file was given");
        items.Add(rights.Status == ChecklistStatus.Passed && inputs.Approximations.TryGetValue(rights.Id, out var offline)
            ? rights with { Status = ChecklistStatus.Approximated, Evidence = [$"approximation, not a proof: {offline}", .. rights.Evidence] }
            : rights);
        return items.ToImmutable();
    }

    /// <summary>An allowed-expected probe whose control, from outside the operator's policies, failed too: the cluster lacks the service.</summary>
    private static bool NotProvidedByTheCluster(ProbeResult result) =>
        !result.Probe.Expectation.ExpectDenied && result.Status == ProbeStatus.Inconclusive && result.Evidence.Control is { Succeeded: false, Vantage: Vantage.Outside };

    /// <summary>
    /// The egress item from the probes and the policies in force: a rule opening the outside fails it, an undetermined
    /// analysis (or none) keeps a pass from standing; the probes alone prove only their own destinations blocked.
    /// </summary>
    private static (ChecklistStatus, ImmutableArray<string>) WithEgressPolicy(ChecklistStatus status, ImmutableArray<string> evidence, NetworkPolicies.EgressReach? reach)
    {
        var (becomes, lines, _) = Runs.EgressPolicyVerdict.Judge(status == ChecklistStatus.Passed, status == ChecklistStatus.Failed, reach);
        return (becomes switch
        {
            ProbeStatus.Failed => ChecklistStatus.Failed,
            ProbeStatus.Inconclusive => ChecklistStatus.Inconclusive,
            _ => status,
        }, [.. evidence, .. lines]);
    }

    /// <summary>
    /// An item judged by a live check of its own (the payload inventory, webhook TLS), failed also by what the manifests
    /// already show; Skipped when the check did not run or had nothing to judge, and nothing in the manifests fails it.
    /// Controls are the check's evidence lines that report one.
    /// </summary>
    private static ChecklistItem FromLiveCheck(HardeningItem item, ILiveCheckReport? live, ImmutableArray<string> manifestFindings, string whenNotRun, string whenNoFinding)
    {
        var status = !manifestFindings.IsEmpty || live?.Status == ProbeStatus.Failed ? ChecklistStatus.Failed
            : live is not { Tested: true } ? ChecklistStatus.Skipped
            : live.Status == ProbeStatus.Passed ? ChecklistStatus.Passed
            : ChecklistStatus.Inconclusive;
        ImmutableArray<string> evidence = live is not null ? [.. live.Evidence, .. manifestFindings] : [whenNotRun, .. manifestFindings.DefaultIfEmpty(whenNoFinding)];
        ImmutableArray<string> controls = live is { Tested: true } ? live.Controls : [];
        return new ChecklistItem(item.Id(), item.Title(), status, evidence, controls, 0);
    }

    /// <summary>The manifests' findings against <paramref name="item"/>, as evidence lines.</summary>
    private static ImmutableArray<string> ManifestFindings(ChecklistInputs inputs, HardeningItem item) =>
        inputs.ManifestFindings.TryGetValue(item, out var found) ? [.. found.Select(f => $"the manifests: {f}")] : [];

    /// <summary>
    /// An item judged by SubjectAccessReviews and, where the manifests already tell, by their RBAC: a grant in the
    /// manifests fails it even without a cluster; with neither answers nor grants it is Skipped (untested).
    /// </summary>
    private static ChecklistItem FromAccess(HardeningItem item, IReadOnlyList<AccessAnswer> access, ImmutableArray<string> manifestGrants, string whenNoGrant)
    {
        var answers = access.Where(a => a.Question.Items.Contains(item)).ToList();
        var status = answers.Any(a => a.Status == ProbeStatus.Failed) || !manifestGrants.IsEmpty ? ChecklistStatus.Failed
            : answers.Any(a => a.Status == ProbeStatus.Inconclusive) ? ChecklistStatus.Inconclusive
            : answers.Count == 0 ? ChecklistStatus.Skipped
            : ChecklistStatus.Passed;
        ImmutableArray<string> evidence = status == ChecklistStatus.Skipped
            ? [$"no SubjectAccessReview here (it needs a cluster), and {whenNoGrant}"]
            : [.. answers.Select(a => $"{a.Question.Id}: {a.Status} - {a.Question.Description}: {a.Evidence}"), .. manifestGrants];
        return new ChecklistItem(item.Id(), item.Title(), status, evidence, [], 0);
    }
}
