using System.Collections.Immutable;
using Harness.Rbac;
using Harness.Verdicts;

namespace Harness.Qualification;

/// <summary>What the checklist is built from besides the probes.</summary>
/// <param name="NamespaceEnforce">The namespace's <c>pod-security.kubernetes.io/enforce</c> label; null when unknown.</param>
/// <param name="UnpinnedImages">Images not pinned by digest.</param>
/// <param name="Signatures">Signature verification per image (<c>verified</c>, <c>failed: ...</c>); empty when not checked.</param>
/// <param name="SignatureSkipped">Why signatures were not checked (no cosign, no policy); null when they were.</param>
/// <param name="WebhookPatchers">Who may patch webhook configurations, from the manifests' RBAC (subjects); empty when none.</param>
public sealed record ChecklistInputs(
    string? NamespaceEnforce,
    ImmutableArray<string> UnpinnedImages,
    ImmutableDictionary<string, string> Signatures,
    string? SignatureSkipped,
    ImmutableArray<string> WebhookPatchers)
{
    /// <summary>Whether the policy requires digests (<c>imagePolicy.requireDigest</c>); when not, the pinning item is Skipped, not Passed.</summary>
    public bool RequireDigest { get; init; } = true;

    /// <summary>Items judged only under an approximation (item id → what was approximated): a pass there is <see cref="ChecklistStatus.Approximated"/>.</summary>
    public ImmutableDictionary<string, string> Approximations { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);
}

/// <summary>Maps probe results and access answers onto the hardening checklist. Pure.</summary>
public static class Checklist
{
    private sealed record Item(string Id, string Title, Func<string, bool> Probe, Func<string, bool> Question);

    private static readonly ImmutableArray<Item> ProbeItems =
    [
        new("rootfs-readonly", "Read-only root filesystem, with an explicit writable emptyDir", id => id.StartsWith("fs.", StringComparison.Ordinal), _ => false),
        new("capabilities-dropped", "All capabilities dropped", id => id == "proc.capabilities" || id == "kernel.raw-socket", _ => false),
        new("no-privilege-escalation", "No privilege escalation (kernel and API)",
            id => id == "proc.no-new-privs" || id.StartsWith("kernel.", StringComparison.Ordinal) || id is "api.pod.privileged" or "api.pod.other-namespace",
            q => q is "sar.pods.create.other" or "sar.pods.exec" or "sar.crds.create" or "sar.netpol.create.other" or "sar.namespaces.patch" || q.StartsWith("sar.impersonate", StringComparison.Ordinal) || q.StartsWith("sar.clusterroles", StringComparison.Ordinal)),
        new("seccomp", "A seccomp profile is in force", id => id == "proc.seccomp", _ => false),
        new("non-root", "Runs as a non-root uid and gid", id => id is "proc.non-root" or "kernel.setgid", _ => false),
        new("egress-default-deny", "Egress default-deny; only the API server, DNS and declared webhooks allowed",
            id => id.StartsWith("egress.", StringComparison.Ordinal) || id is "dns.cluster" or "api.self", _ => false),
        new("serviceaccount-least-privilege", "ServiceAccount least privilege: no Secrets, nothing beyond its namespace",
            id => id.StartsWith("api.secrets", StringComparison.Ordinal), q => q.StartsWith("sar.secrets", StringComparison.Ordinal)),
    ];

    /// <summary>The ids of every checklist item, in report order.</summary>
    public static ImmutableArray<string> ItemIds { get; } =
    [
        "namespace-psa", .. ProbeItems.Select(i => i.Id), "images-pinned", "images-signed", "webhook-ca-patch",
    ];

    /// <summary>What a user may waive: checklist item ids and the mission checks' names.</summary>
    public static ImmutableArray<string> Waivable { get; } = [.. ItemIds, .. CheckOutcome.Mission.Select(m => m.ToString())];

    /// <summary>Builds the checklist.</summary>
    public static ImmutableArray<ChecklistItem> Build(IReadOnlyList<ProbeResult> probes, IReadOnlyList<AccessAnswer> access, ChecklistInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(probes);
        ArgumentNullException.ThrowIfNull(access);
        ArgumentNullException.ThrowIfNull(inputs);
        var items = ImmutableArray.CreateBuilder<ChecklistItem>();
        items.Add(inputs.NamespaceEnforce switch
        {
            null => new ChecklistItem("namespace-psa", "Namespace PodSecurity labels enforce restricted", ChecklistStatus.Skipped,
                ["the namespace was not read (docker vehicle without a Namespace manifest)"], [], 0),
            "restricted" => new ChecklistItem("namespace-psa", "Namespace PodSecurity labels enforce restricted", ChecklistStatus.Passed,
                ["pod-security.kubernetes.io/enforce=restricted"], [], 0),
            var level => new ChecklistItem("namespace-psa", "Namespace PodSecurity labels enforce restricted", ChecklistStatus.Failed,
                [$"pod-security.kubernetes.io/enforce={(level.Length == 0 ? "(not set)" : level)}"], [], 0),
        });
        foreach (var item in ProbeItems)
        {
            var results = probes.Where(p => item.Probe(p.Probe.Id)).ToList();
            var answers = access.Where(a => item.Question(a.Question.Id)).ToList();
            var statuses = results.Select(r => r.Status).Concat(answers.Select(a => a.Status)).ToList();
            var status = statuses.Count == 0 ? ChecklistStatus.Skipped
                : statuses.Contains(ProbeStatus.Failed) ? ChecklistStatus.Failed
                : statuses.Contains(ProbeStatus.Inconclusive) ? ChecklistStatus.Inconclusive
                : ChecklistStatus.Passed;
            var evidence = results.Select(r => $"{r.Probe.Id}: {r.Status} ({r.Verdict}) - {r.Explanation}{(r.Evidence.Observed is { } o ? $" [observed: {o}]" : "")}")
                .Concat(answers.Select(a => $"{a.Question.Id}: {a.Status} - {a.Question.Description}: {a.Evidence}"))
                .DefaultIfEmpty("nothing tested this here (it needs a cluster)")
                .ToImmutableArray();
            var controls = results.Where(r => r.Evidence.Control is not null)
                .Select(r => $"{r.Probe.Id}: {r.Evidence.Control!.Proves} ({(r.Evidence.Control.Succeeded ? "held" : "FAILED")})")
                .ToImmutableArray();
            var duration = results.Select(r => r.Evidence.DurationMs).DefaultIfEmpty(0).Max();
            if (status == ChecklistStatus.Passed && inputs.Approximations.TryGetValue(item.Id, out var approximation))
            {
                status = ChecklistStatus.Approximated;
                evidence = [$"approximation, not a proof: {approximation}", .. evidence];
            }
            items.Add(new ChecklistItem(item.Id, item.Title, status, evidence, controls, duration));
        }
        items.Add(!inputs.RequireDigest
            ? new ChecklistItem("images-pinned", "Images pinned by digest", ChecklistStatus.Skipped,
                ["not required here (imagePolicy.requireDigest: false)", .. inputs.UnpinnedImages.Select(i => $"{i} is not pinned by digest")], [], 0)
            : inputs.UnpinnedImages.IsEmpty
            ? new ChecklistItem("images-pinned", "Images pinned by digest", ChecklistStatus.Passed, ["every image is referenced by @sha256 digest"], [], 0)
            : new ChecklistItem("images-pinned", "Images pinned by digest", ChecklistStatus.Failed, [.. inputs.UnpinnedImages.Select(i => $"{i} is not pinned by digest")], [], 0));
        items.Add(inputs.SignatureSkipped is { } why
            ? new ChecklistItem("images-signed", "Image signatures verify (cosign)", ChecklistStatus.Skipped, [why], [], 0)
            : new ChecklistItem("images-signed", "Image signatures verify (cosign)",
                inputs.Signatures.Values.All(v => v == "verified") ? ChecklistStatus.Passed : ChecklistStatus.Failed,
                [.. inputs.Signatures.Select(kv => $"{kv.Key}: {kv.Value}")], [], 0));
        var webhookAnswers = access.Where(a => a.Question.Id.StartsWith("sar.webhooks", StringComparison.Ordinal)).ToList();
        var webhookStatus = webhookAnswers.Any(a => a.Status == ProbeStatus.Failed) || !inputs.WebhookPatchers.IsEmpty ? ChecklistStatus.Failed
            : webhookAnswers.Any(a => a.Status == ProbeStatus.Inconclusive) ? ChecklistStatus.Inconclusive
            : webhookAnswers.Count == 0 ? ChecklistStatus.Skipped
            : ChecklistStatus.Passed;
        items.Add(new ChecklistItem("webhook-ca-patch", "Only the intended controllers may patch webhook CA bundles", webhookStatus,
            [.. webhookAnswers.Select(a => $"{a.Question.Id}: {a.Status} - {a.Evidence}"), .. inputs.WebhookPatchers.Select(p => $"the manifests let {p} patch webhook configurations")],
            [], 0));
        if (webhookStatus == ChecklistStatus.Skipped)
        {
            items[^1] = items[^1] with { Evidence = ["no SubjectAccessReview here (it needs a cluster), and no manifest grants webhook patches"] };
        }
        return items.ToImmutable();
    }
}
