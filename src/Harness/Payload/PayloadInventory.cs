// Payload: the live inventory of what the operator created for its custom resources, judged by the pure PayloadAnalyzer.
using System.Collections.Immutable;
using System.Text.Json;
using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;
using Harness.Runs;
using Harness.Verdicts;
using k8s;
using k8s.Models;

namespace Harness.Payload;

/// <summary>What the operator created for its custom resources, and the verdict on that payload.</summary>
/// <param name="Status">
/// Passed: the operator acted on its custom resources (the control) and nothing it created breaks the rules; Failed: a
/// finding; Inconclusive: it created nothing within the wait, or the inventory could not be taken.
/// </param>
/// <param name="Created">What it created or changed, and why each counts as its own.</param>
/// <param name="Findings">What is wrong with it (errors fail; warnings are evidence).</param>
/// <param name="Evidence">One line per fact: the custom resources, the managers, the control, where the payload lives.</param>
public sealed record PayloadReport(ProbeStatus Status, ImmutableArray<CreatedObject> Created, ImmutableArray<Finding> Findings, ImmutableArray<string> Evidence) : ILiveCheckReport
{
    /// <summary>False when there was nothing to inventory (no CustomResourceDefinition or no custom resource): the item is untested, not failed.</summary>
    public bool Tested { get; init; } = true;

    /// <inheritdoc/>
    public ImmutableArray<string> Controls { get; init; } = [];

    /// <inheritdoc/>
    public override string ToString() => $"{Status}: {Created.Length} objects, {Findings.Count(f => f.Severity == FindingSeverity.Error)} errors";

    /// <summary>An inventory that did not happen, and why.</summary>
    public static PayloadReport Untested(string why) => new(ProbeStatus.Inconclusive, [], [], [why]) { Tested = false };
}

/// <summary>
/// Takes the payload inventory on a live cluster: finds the instances of the operator's CustomResourceDefinitions, waits
/// until the operator has created something for them and that stops changing (every object at the same resourceVersion
/// for <see cref="QuietPeriod"/>, bounded by the wait), lists the kinds a payload is made of in
/// every namespace, selects the operator's objects (owner references, field managers) and judges them.
/// </summary>
internal static class PayloadInventory
{
    // The kinds a payload is made of. Secrets are listed for their metadata only: their data is dropped on arrival.
    private static readonly ImmutableArray<(string ApiVersion, string Kind, Func<IKubernetes, CancellationToken, Task<IEnumerable<IKubernetesObject<V1ObjectMeta>>>> List)> Kinds =
    [
        ("v1", "Pod", async (c, ct) => (await c.CoreV1.ListPodForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("v1", "ServiceAccount", async (c, ct) => (await c.CoreV1.ListServiceAccountForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("v1", "ConfigMap", async (c, ct) => (await c.CoreV1.ListConfigMapForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("v1", "Secret", async (c, ct) => (await c.CoreV1.ListSecretForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items.Select(s => (IKubernetesObject<V1ObjectMeta>)new V1Secret { Metadata = s.Metadata, Type = s.Type })),
        ("v1", "Service", async (c, ct) => (await c.CoreV1.ListServiceForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("apps/v1", "Deployment", async (c, ct) => (await c.AppsV1.ListDeploymentForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("apps/v1", "StatefulSet", async (c, ct) => (await c.AppsV1.ListStatefulSetForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("apps/v1", "DaemonSet", async (c, ct) => (await c.AppsV1.ListDaemonSetForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("batch/v1", "Job", async (c, ct) => (await c.BatchV1.ListJobForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("batch/v1", "CronJob", async (c, ct) => (await c.BatchV1.ListCronJobForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("rbac.authorization.k8s.io/v1", "Role", async (c, ct) => (await c.RbacAuthorizationV1.ListRoleForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", async (c, ct) => (await c.RbacAuthorizationV1.ListRoleBindingForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", async (c, ct) => (await c.RbacAuthorizationV1.ListClusterRoleAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", async (c, ct) => (await c.RbacAuthorizationV1.ListClusterRoleBindingAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
        ("networking.k8s.io/v1", "NetworkPolicy", async (c, ct) => (await c.NetworkingV1.ListNetworkPolicyForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false)).Items),
    ];

    /// <summary>How long what the operator made must stay unchanged (each object at the same resourceVersion) to count as settled.</summary>
    internal static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(1);

    /// <summary>How often the inventory is taken while it settles.</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>What the operator made, each object with its resourceVersion: any change to any of them changes it. Pure.</summary>
    internal static string Fingerprint(IEnumerable<CreatedObject> created) =>
        string.Join("\n", created.Select(c => $"{c.Display}@{c.Document.Object?.Metadata?.ResourceVersion}").Order(StringComparer.Ordinal));

    /// <summary>Takes the inventory for <paramref name="op"/>.</summary>
    public static async Task<PayloadReport> TakeAsync(IKubernetes client, OperatorUnderTest op, TimeSpan wait, ImmutableArray<string> fieldManagers, RunSession session)
    {
        var crds = op.Manifests.Select(d => d.Object).OfType<V1CustomResourceDefinition>().ToList();
        if (crds.Count == 0)
        {
            return PayloadReport.Untested("the manifests declare no CustomResourceDefinition: nothing tells what the operator reconciles (give its manifests, CRDs included)");
        }
        var ct = session.Cancellation;
        var deadline = session.Time.GetUtcNow() + wait;
        ImmutableArray<CreatedObject> previous = [];
        ImmutableArray<(string Uid, string Display)> owners = [];
        var polls = 0;
        string? seen = null;
        var unchangedSince = session.Time.GetUtcNow();
        while (true)
        {
            polls++;
            var instances = await CustomResourcesAsync(client, crds, ct).ConfigureAwait(false);
            owners = Ours(instances, op.Manifests, crds);
            // Other runs on the cluster share the CRD, and their operators the field manager: what their instances own is theirs.
            var identity = new OperatorIdentity([.. owners.Select(o => o.Uid)], [.. fieldManagers]) { ForeignOwnerUids = [.. instances.Select(i => i.Uid).Except(owners.Select(o => o.Uid))] };
            var created = owners.IsEmpty ? [] : PayloadAnalyzer.Select(await ObjectsAsync(client, ct).ConfigureAwait(false), identity);
            previous = created;
            var now = session.Time.GetUtcNow();
            // Settled when what the operator made, to the resourceVersion of each object, stayed the same for a quiet period.
            if (Fingerprint(created) is var print && print != seen)
            {
                (seen, unchangedSince) = (print, now);
            }
            else if (!created.IsEmpty && now - unchangedSince >= QuietPeriod)
            {
                break;
            }
            if (now >= deadline)
            {
                break;
            }
            await Task.Delay(PollInterval, session.Time, ct).ConfigureAwait(false);
        }

        var kinds = string.Join(", ", crds.Select(c => $"{c.Spec.Names.Kind}.{c.Spec.Group}"));
        if (owners.IsEmpty)
        {
            return PayloadReport.Untested($"no custom resource of {kinds} exists on the cluster: add one to the manifests so the operator has something to reconcile");
        }
        var account = new ServiceAccountRef(op.Target.Namespace, op.Target.ServiceAccount);
        var findings = PayloadAnalyzer.Analyze(previous, account);
        var errors = findings.Count(f => f.Severity == FindingSeverity.Error);
        var status = previous.IsEmpty ? ProbeStatus.Inconclusive : errors > 0 ? ProbeStatus.Failed : ProbeStatus.Passed;
        var evidence = ImmutableArray.CreateBuilder<string>();
        evidence.Add($"custom resources: {string.Join(", ", owners.Select(o => o.Display))}");
        var control = previous.IsEmpty
            ? $"control FAILED: the operator created nothing owned by them within {wait.TotalSeconds:0} s ({polls} inventories); it may not have reconciled, or sets no owner references (give its field managers)"
            : $"control held: the operator acted on them ({previous.Length} objects after {polls} inventories)";
        evidence.Add(control);
        evidence.AddRange(previous.Select(c => $"{(c.Document.Namespace == op.Target.Namespace ? "operator namespace" : c.Document.Namespace is null ? "cluster-scoped" : "payload namespace")}: {c}"));
        evidence.AddRange(findings.Select(f => $"{f.Severity.ToString().ToLowerInvariant()} {f.Id}: {f.Subject} {f.Message}"));
        return new PayloadReport(status, previous, findings, evidence.ToImmutable()) { Controls = [control] };
    }

    /// <summary>Every instance of the CRDs on the cluster (all namespaces, served version).</summary>
    private static async Task<ImmutableArray<(string Uid, string Display)>> CustomResourcesAsync(IKubernetes client, IReadOnlyList<V1CustomResourceDefinition> crds, CancellationToken ct)
    {
        var found = ImmutableArray.CreateBuilder<(string, string)>();
        foreach (var crd in crds)
        {
            var version = crd.Spec.Versions?.FirstOrDefault(v => v.Storage)?.Name ?? crd.Spec.Versions?.FirstOrDefault()?.Name ?? "v1";
            object list;
            try
            {
                list = await client.CustomObjects.ListClusterCustomObjectAsync(crd.Spec.Group, version, crd.Spec.Names.Plural, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                continue; // the CRD is not installed (a Find run whose manifests were only read)
            }
            found.AddRange(CustomResourceItems(list, crd.Spec.Names.Kind));
        }
        return found.ToImmutable();
    }

    /// <summary>
    /// When the manifests hold custom resources of these CRDs (the run applied them), only those: other runs on the
    /// cluster share the CRD, and their custom resources and payload are theirs. Otherwise (an operator found on the
    /// cluster) every instance. Pure.
    /// </summary>
    internal static ImmutableArray<(string Uid, string Display)> Ours(ImmutableArray<(string Uid, string Display)> found, IReadOnlyList<ManifestDocument> manifests, IReadOnlyList<V1CustomResourceDefinition> crds)
    {
        var kinds = crds.Select(c => (c.Spec.Group, c.Spec.Names.Kind)).ToHashSet();
        var declared = manifests.Where(d => kinds.Contains((Deployment.ManifestPlan.SplitApiVersion(d.ApiVersion).Group, d.Kind))).ToList();
        // A declared object without a namespace (manifests not yet placed) matches its name in any namespace.
        bool Declared(string display) => declared.Any(d => display == $"{d.Kind}/{d.Namespace}/{d.Name}" || display == $"{d.Kind}/{d.Name}"
            || (d.Namespace is null && display.StartsWith(d.Kind + "/", StringComparison.Ordinal) && display.EndsWith("/" + d.Name, StringComparison.Ordinal)));
        return declared.Count == 0 ? found : [.. found.Where(f => Declared(f.Display))];
    }

    /// <summary>The uid and <c>Kind/name</c> of each item of a custom-object list (as the client returns it). Pure.</summary>
    internal static IEnumerable<(string Uid, string Display)> CustomResourceItems(object list, string kind)
    {
        var element = list is JsonElement e ? e : JsonSerializer.SerializeToElement(list);
        if (!element.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
        {
            yield break;
        }
        foreach (var item in items.EnumerateArray())
        {
            if (item.TryGetProperty("metadata", out var metadata) && metadata.TryGetProperty("uid", out var uid) && uid.GetString() is { Length: > 0 } u)
            {
                var name = metadata.TryGetProperty("name", out var n) ? n.GetString() : "";
                var ns = metadata.TryGetProperty("namespace", out var s) ? s.GetString() : null;
                yield return (u, $"{kind}/{(ns is null ? "" : ns + "/")}{name}");
            }
        }
    }

    /// <summary>
    /// The payload kinds in every namespace, as documents the analyzers read; not the harness's own helpers (the twin pod,
    /// the sink, the control pod, the verification canaries: each labelled with its harness role), which exist while the
    /// inventory is taken, beside the probes, and may be written by the same client library, so field manager, as the operator.
    /// </summary>
    private static async Task<IReadOnlyList<ManifestDocument>> ObjectsAsync(IKubernetes client, CancellationToken ct)
    {
        var documents = new List<ManifestDocument>();
        foreach (var (apiVersion, kind, list) in Kinds)
        {
            foreach (var item in await list(client, ct).ConfigureAwait(false))
            {
                if (item.Metadata?.Labels?.ContainsKey(SessionLabels.Role) != true)
                {
                    documents.Add(Document(apiVersion, kind, item));
                }
            }
        }
        return documents;
    }

    /// <summary>A listed object as a document (list items carry no apiVersion and kind: they are set from the list). Pure.</summary>
    internal static ManifestDocument Document(string apiVersion, string kind, IKubernetesObject<V1ObjectMeta> item)
    {
        item.ApiVersion = apiVersion;
        item.Kind = kind;
        var ns = item.Metadata?.NamespaceProperty;
        var name = item.Metadata?.Name ?? "";
        return new ManifestDocument($"cluster {kind} {(ns is null ? "" : ns + "/")}{name}", 1, apiVersion, kind, name, ns, item, "");
    }
}
