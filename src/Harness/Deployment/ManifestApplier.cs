using Harness.Runs;
using System.Collections.Immutable;
using System.Net;
using Harness.Manifests;
using Harness.Waits;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Deployment;

/// <summary>What was applied, and whether the harness created it (only what it created is deleted).</summary>
/// <param name="Object">The planned object.</param>
/// <param name="Plural">Its resource name, from discovery.</param>
/// <param name="Created">It did not exist before.</param>
/// <param name="HeldBy">For a shared CRD, the session holding it (<see cref="SessionLabels.HoldPrefix"/>): released at teardown, deleted only by the last holder.</param>
internal sealed record AppliedObject(PlannedObject Object, string Plural, bool Created, string? HeldBy = null)
{
    /// <summary>A shared object this run holds.</summary>
    public bool Held => HeldBy is not null;
}

/// <summary>
/// Server-side apply with the harness's field manager, in plan order: CRDs are waited for until Established before
/// any custom resource; resource names come from discovery. Apply never forces: the harness does not take over fields
/// another manager owns on an object it did not create (a conflict is an error that says so). Objects it creates carry
/// the session label, so a sweep finds them if a run dies. Teardown deletes exactly what the harness created.
/// <para>
/// Runs share a cluster. A CRD cannot be renamed, so it is shared: each run applies it with a field manager of its own
/// (<c>harness-{session}</c>, so no run's apply removes another's labels) and a hold label; teardown releases the hold
/// and the last holder deletes it, guarded by its resourceVersion. An object that is terminating (a CRD another run just
/// released) is waited for until it is gone, then created. An object left by a dead session (its Lease expired) is
/// removed and created afresh, never adopted as the user's; one that belongs to a live session is an error naming it.
/// </para>
/// </summary>
internal static class ManifestApplier
{
    /// <summary>The field manager of every apply.</summary>
    public const string FieldManager = "harness";

    /// <summary>Applies the plan.</summary>
    /// <exception cref="ManifestException">A kind the cluster does not serve (names the file and line).</exception>
    /// <exception cref="DeploymentException">An existing object's fields are owned by another manager.</exception>
    /// <exception cref="HttpOperationException">The API server refused an object (the message has its status).</exception>
    public static async Task<ImmutableArray<AppliedObject>> ApplyAsync(IKubernetes client, IReadOnlyList<PlannedObject> plan, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        var applied = new List<AppliedObject>();
        await ApplyAsync(client, plan, applied, null, log, time, ct).ConfigureAwait(false);
        return [.. applied];
    }

    /// <summary>
    /// Applies the plan, recording each object in <paramref name="applied"/> <b>before</b> it is sent, so that a failure
    /// or a cancellation half-way leaves the caller knowing exactly what to remove.
    /// </summary>
    /// <param name="client">The cluster.</param>
    /// <param name="plan">What to apply, in order.</param>
    /// <param name="applied">Receives every object as it is applied (created or not).</param>
    /// <param name="session">Labels every object the harness creates with <c>io.harness.session</c>; null for none.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="time">Clock for the CRD wait.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ManifestException">A kind the cluster does not serve (names the file and line).</exception>
    /// <exception cref="DeploymentException">An existing object's fields are owned by another manager.</exception>
    /// <exception cref="HttpOperationException">The API server refused an object (the message has its status).</exception>
    public static async Task ApplyAsync(IKubernetes client, IReadOnlyList<PlannedObject> plan, ICollection<AppliedObject> applied, SessionId? session, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(applied);
        log ??= TextWriter.Null;
        var discovery = new Dictionary<string, V1APIResourceList>(StringComparer.Ordinal);
        foreach (var phase in plan.GroupBy(p => p.Phase).OrderBy(g => g.Key))
        {
            foreach (var obj in phase)
            {
                var plural = await PluralAsync(client, obj, discovery, ct).ConfigureAwait(false);
                var existing = await ClearLeftoverAsync(client, obj, plural, session, log, time, ct).ConfigureAwait(false);
                var existed = existing is not null;
                var shared = session is not null && obj.Phase == ApplyPhase.CustomResourceDefinitions && (!existed || IsHarnessOwned(existing));
                var mine = existed && session is { } s && SessionOf(existing) == s.Value;
                applied.Add(new AppliedObject(obj, plural, !existed || mine, shared ? session!.Value.Value : null));
                // An object this session created keeps its labels on a re-apply: the field manager that set them must set them again.
                // A shared CRD carries no session label: runs that apply it at once would each own a different value of
                // that one field (a conflict); each holds it under a label key of its own, and the owner value is the same for all.
                var labelled = session is not { } id ? obj : WithLabels(obj, id, created: (!existed || mine) && !shared, hold: shared);
                await ApplyOneAsync(client, labelled, plural, existed, shared ? $"{FieldManager}-{session}" : FieldManager, ct).ConfigureAwait(false);
                await log.WriteLineAsync($"applied {obj.Display}{(existed ? shared ? " (shared, held)" : "" : " (created)")}").ConfigureAwait(false);
            }
            if (phase.Key == ApplyPhase.CustomResourceDefinitions)
            {
                foreach (var crd in phase)
                {
                    await WaitEstablishedAsync(client, crd, applied.Last(a => a.Object == crd), session, log, time, ct).ConfigureAwait(false);
                }
                discovery.Clear(); // the new groups are served now
            }
        }
    }

    /// <summary>
    /// What teardown deletes, in order: everything the harness created, newest first; objects inside a namespace the
    /// harness also created are left to that namespace's deletion (which comes last). Pure.
    /// </summary>
    public static IReadOnlyList<AppliedObject> ToDelete(IReadOnlyList<AppliedObject> applied)
    {
        ArgumentNullException.ThrowIfNull(applied);
        var createdNamespaces = applied.Where(a => a.Created && a.Object.Kind == "Namespace" && a.Object.Group.Length == 0).Select(a => a.Object.Name).ToHashSet(StringComparer.Ordinal);
        return [.. applied.Where(a => (a.Created || a.Held) && (a.Object.Namespace is null || !createdNamespaces.Contains(a.Object.Namespace))).Reverse()];
    }

    /// <summary>Deletes what <see cref="ApplyAsync(IKubernetes, IReadOnlyList{PlannedObject}, ICollection{AppliedObject}, SessionId?, TextWriter?, TimeProvider?, CancellationToken)"/> created (see <see cref="ToDelete"/>); each delete is bounded and never cancelled by the caller, so it also runs on cancellation.</summary>
    public static async Task DeleteCreatedAsync(IKubernetes client, IReadOnlyList<AppliedObject> applied, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(applied);
        log ??= TextWriter.Null;
        foreach (var a in ToDelete(applied))
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                if (a.Held)
                {
                    await log.WriteLineAsync(await ReleaseAsync(client, a, bound.Token).ConfigureAwait(false)).ConfigureAwait(false);
                    continue;
                }
                if (a.Object.Kind == "Namespace" && a.Object.Group.Length == 0)
                {
                    await client.CoreV1.DeleteNamespaceAsync(a.Object.Name, propagationPolicy: "Background", cancellationToken: bound.Token).ConfigureAwait(false);
                }
                else if (a.Object.Namespace is { } ns)
                {
                    await client.CustomObjects.DeleteNamespacedCustomObjectAsync(a.Object.Group, a.Object.Version, ns, a.Plural, a.Object.Name, propagationPolicy: "Background", cancellationToken: bound.Token).ConfigureAwait(false);
                }
                else
                {
                    await client.CustomObjects.DeleteClusterCustomObjectAsync(a.Object.Group, a.Object.Version, a.Plural, a.Object.Name, propagationPolicy: "Background", cancellationToken: bound.Token).ConfigureAwait(false);
                }
                await log.WriteLineAsync($"deleted {a.Object.Display}").ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or OperationCanceledException or HttpRequestException)
            {
                await log.WriteLineAsync($"could not delete {a.Object.Display}: {e.Message}").ConfigureAwait(false);
            }
        }
    }

    /// <summary>The object with the session label added (only for objects the harness creates). Pure.</summary>
    internal static PlannedObject WithSessionLabel(PlannedObject obj, SessionId session) => WithLabels(obj, session, created: true, hold: false);

    /// <summary>The object with the session's labels: owner and session when it creates the object, its hold on a shared one. Pure.</summary>
    internal static PlannedObject WithLabels(PlannedObject obj, SessionId session, bool created, bool hold)
    {
        if (!created && !hold)
        {
            return obj;
        }
        var json = System.Text.Json.Nodes.JsonNode.Parse(obj.Json)!.AsObject();
        var metadata = json["metadata"] as System.Text.Json.Nodes.JsonObject ?? [];
        json["metadata"] = metadata;
        var labels = metadata["labels"] as System.Text.Json.Nodes.JsonObject ?? [];
        metadata["labels"] = labels;
        if (created)
        {
            labels[SessionLabels.Session] = session.Value;
            labels[SessionLabels.Owner] = "harness";
        }
        if (hold)
        {
            labels[SessionLabels.Owner] = "harness";
            labels[SessionLabels.HoldPrefix + session.Value] = "true";
        }
        return obj with { Json = json.ToJsonString() };
    }

    /// <summary>
    /// Releases this run's hold on a shared CRD; deletes it when no run holds it any more, only at the version just
    /// written (a run that took a hold meanwhile makes the delete a conflict, and the CRD stays). Returns the log line.
    /// </summary>
    private static async Task<string> ReleaseAsync(IKubernetes client, AppliedObject a, CancellationToken ct)
    {
        var label = SessionLabels.HoldPrefix + a.HeldBy;
        V1CustomResourceDefinition released;
        try
        {
            released = await client.ApiextensionsV1.PatchCustomResourceDefinitionAsync(new V1Patch("{\"metadata\":{\"labels\":{\"" + label + "\":null}}}", V1Patch.PatchType.MergePatch), a.Object.Name, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return $"released {a.Object.Display} (already gone)";
        }
        var others = SessionLabels.Holders(released.Metadata.Labels).ToList();
        if (others.Count > 0 || !IsHarnessOwned(released.Metadata))
        {
            return others.Count > 0 ? $"released {a.Object.Display}; still held by {string.Join(", ", others.Order(StringComparer.Ordinal))}" : $"released {a.Object.Display}; not the harness's, kept";
        }
        try
        {
            await client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync(a.Object.Name,
                new V1DeleteOptions { Preconditions = new V1Preconditions { ResourceVersion = released.Metadata.ResourceVersion } }, cancellationToken: ct).ConfigureAwait(false);
            return $"deleted {a.Object.Display} (the last run that held it)";
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
        {
            return $"released {a.Object.Display}; another run took it meanwhile, kept";
        }
    }

    private static bool IsHarnessOwned(V1ObjectMeta? metadata) => metadata?.Labels?.TryGetValue(SessionLabels.Owner, out var owner) == true && owner == "harness";

    private static string? SessionOf(V1ObjectMeta? metadata) => metadata?.Labels?.TryGetValue(SessionLabels.Session, out var s) == true ? s : null;

    /// <summary>
    /// The object as it exists before the apply, after clearing what must not be adopted: a terminating object is waited
    /// for until it is gone; a dead session's leftover is deleted (and waited for). Null when it does not exist (any more).
    /// </summary>
    /// <exception cref="DeploymentException">It belongs to another harness run that is still alive.</exception>
    private static async Task<V1ObjectMeta?> ClearLeftoverAsync(IKubernetes client, PlannedObject obj, string plural, SessionId? session, TextWriter log, TimeProvider? time, CancellationToken ct)
    {
        var existing = await ReadMetadataAsync(client, obj, plural, ct).ConfigureAwait(false);
        if (existing is null)
        {
            return null;
        }
        if (existing.DeletionTimestamp is not null)
        {
            await log.WriteLineAsync($"{obj.Display} is being deleted (another run's teardown, or a sweep); waiting for it to go before applying").ConfigureAwait(false);
            await WaitGoneAsync(client, obj, plural, time, ct).ConfigureAwait(false);
            return null;
        }
        if (session is null || obj.Phase == ApplyPhase.CustomResourceDefinitions || SessionOf(existing) is not { } owner || owner == session.Value.Value)
        {
            return existing;
        }
        var created = existing.CreationTimestamp is { } c ? new DateTimeOffset(DateTime.SpecifyKind(c, DateTimeKind.Utc)) : (DateTimeOffset?)null;
        if (await SessionLease.LivenessAsync(client, owner, created, time, LeftoverStaleAfter, ct).ConfigureAwait(false) == SessionLiveness.Live)
        {
            throw new DeploymentException(null,
                $"{obj.Display} ({obj.Source.Location}) belongs to harness session {owner}, which is still running. Runs on one cluster never share an object: " +
                "leave OperatorSpec.Namespace / operator.namespace unset so that each run gets namespaces of its own.");
        }
        await log.WriteLineAsync($"{obj.Display} was left by session {owner}, which is dead; removing it before applying").ConfigureAwait(false);
        await DeleteAsync(client, obj, plural, ct).ConfigureAwait(false);
        await WaitGoneAsync(client, obj, plural, time, ct).ConfigureAwait(false);
        return null;
    }

    /// <summary>For a session without a lease, how old its objects must be before a run treats them as leftovers.</summary>
    internal static TimeSpan LeftoverStaleAfter { get; set; } = TimeSpan.FromHours(6);

    private static async Task<V1ObjectMeta?> ReadMetadataAsync(IKubernetes client, PlannedObject obj, string plural, CancellationToken ct)
    {
        try
        {
            var found = obj.Namespace is null
                ? await client.CustomObjects.GetClusterCustomObjectAsync(obj.Group, obj.Version, plural, obj.Name, ct).ConfigureAwait(false)
                : await client.CustomObjects.GetNamespacedCustomObjectAsync(obj.Group, obj.Version, obj.Namespace, plural, obj.Name, ct).ConfigureAwait(false);
            var json = Kubernetes.CustomObjectText.Of(found);
            using var parsed = System.Text.Json.JsonDocument.Parse(json);
            return parsed.RootElement.TryGetProperty("metadata", out var metadata) ? KubernetesJson.Deserialize<V1ObjectMeta>(metadata.GetRawText()) : new V1ObjectMeta();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static Task DeleteAsync(IKubernetes client, PlannedObject obj, string plural, CancellationToken ct) => obj.Namespace is { } ns
        ? client.CustomObjects.DeleteNamespacedCustomObjectAsync(obj.Group, obj.Version, ns, plural, obj.Name, propagationPolicy: "Background", cancellationToken: ct)
        : client.CustomObjects.DeleteClusterCustomObjectAsync(obj.Group, obj.Version, plural, obj.Name, propagationPolicy: "Background", cancellationToken: ct);

    private static Task WaitGoneAsync(IKubernetes client, PlannedObject obj, string plural, TimeProvider? time, CancellationToken ct) =>
        BoundedWait.UntilAsync(
            $"{obj.Display} to be gone",
            async t => await ReadMetadataAsync(client, obj, plural, t).ConfigureAwait(false),
            m => m is null,
            m => $"still there{(m?.DeletionTimestamp is { } d ? $", terminating since {d:u}" : "")}{(m?.Finalizers is { Count: > 0 } f ? $", finalizers {string.Join(", ", f)}" : "")}",
            TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(500), time: time, ct: ct);

    private static async Task ApplyOneAsync(IKubernetes client, PlannedObject obj, string plural, bool existed, string fieldManager, CancellationToken ct)
    {
        var patch = new V1Patch(obj.Json, V1Patch.PatchType.ApplyPatch);
        try
        {
            // Never force: on an object that already exists, a field another manager owns is a conflict, not ours to take.
            if (obj.Namespace is null)
            {
                await client.CustomObjects.PatchClusterCustomObjectAsync(patch, obj.Group, obj.Version, plural, obj.Name, fieldManager: fieldManager, force: false, cancellationToken: ct).ConfigureAwait(false);
            }
            else
            {
                await client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, obj.Group, obj.Version, obj.Namespace, plural, obj.Name, fieldManager: fieldManager, force: false, cancellationToken: ct).ConfigureAwait(false);
            }
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            var message = Kubernetes.KubernetesExec.Status(e)?.Message ?? e.Response.Content;
            throw new DeploymentException(null,
                $"{obj.Display} ({obj.Source.Location}) {(existed ? "already exists and" : "")} has fields another manager owns: {message}. " +
                "The harness does not take them over. Deploy into a namespace of its own (leave OperatorSpec.Namespace / operator.namespace unset), or align the manifest with the live object.");
        }
    }

    private static async Task<string> PluralAsync(IKubernetes client, PlannedObject obj, Dictionary<string, V1APIResourceList> discovery, CancellationToken ct)
    {
        var key = $"{obj.Group}/{obj.Version}";
        if (!discovery.TryGetValue(key, out var list))
        {
            try
            {
                list = await client.CustomObjects.GetAPIResourcesAsync(obj.Group, obj.Version, ct).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                list = new V1APIResourceList { Resources = [] };
            }
            discovery[key] = list;
        }
        var resource = list.Resources?.FirstOrDefault(r => r.Kind == obj.Kind && !r.Name.Contains('/', StringComparison.Ordinal));
        return resource?.Name ?? throw new ManifestException(obj.Source.Path, obj.Source.Line, 0,
            $"the cluster does not serve kind {obj.Kind} in {(obj.Group.Length == 0 ? "v1" : key)}; install its CRD (or the operator's CRDs) first, or check apiVersion.");
    }

    /// <summary>
    /// Waits until the CRD is Established. If it turns out to be terminating (the last other holder released it between
    /// this run's check and its apply), waits for it to go and applies it again.
    /// </summary>
    private static async Task WaitEstablishedAsync(IKubernetes client, PlannedObject crd, AppliedObject applied, SessionId? session, TextWriter log, TimeProvider? time, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var seen = await BoundedWait.UntilAsync(
                $"CRD {crd.Name} to be Established",
                async t => await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Name, cancellationToken: t).ConfigureAwait(false),
                c => c.Metadata.DeletionTimestamp is not null || (c.Status?.Conditions ?? []).Any(x => x.Type == "Established" && x.Status == "True"),
                c => string.Join(", ", (c.Status?.Conditions ?? []).Select(x => $"{x.Type}={x.Status} ({x.Reason}: {x.Message})")),
                TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1), time: time, ct: ct).ConfigureAwait(false);
            if (seen.Metadata.DeletionTimestamp is null)
            {
                return;
            }
            if (attempt == 2)
            {
                throw new DeploymentException(null, $"CRD {crd.Name} was deleted three times while this run applied it; another process keeps removing it. Stop it, or run on a cluster of your own.");
            }
            await log.WriteLineAsync($"CRD {crd.Name} was released by another run while this one applied it; waiting for it to go, then applying it again").ConfigureAwait(false);
            await WaitGoneAsync(client, crd, applied.Plural, time, ct).ConfigureAwait(false);
            var labelled = session is not { } id ? crd : WithLabels(crd, id, created: !applied.Held, hold: applied.Held);
            await ApplyOneAsync(client, labelled, applied.Plural, false, session is null ? FieldManager : $"{FieldManager}-{session}", ct).ConfigureAwait(false);
        }
    }
}
