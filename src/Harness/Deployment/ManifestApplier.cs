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
internal sealed record AppliedObject(PlannedObject Object, string Plural, bool Created);

/// <summary>
/// Server-side apply with the harness's field manager, in plan order: CRDs are waited for until Established before
/// any custom resource; resource names come from discovery. Apply never forces: the harness does not take over fields
/// another manager owns on an object it did not create (a conflict is an error that says so). Objects it creates carry
/// the session label, so a sweep finds them if a run dies. Teardown deletes exactly what the harness created.
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
                var existed = await ExistsAsync(client, obj, plural, ct).ConfigureAwait(false);
                applied.Add(new AppliedObject(obj, plural, !existed));
                await ApplyOneAsync(client, existed || session is null ? obj : WithSessionLabel(obj, session.Value), plural, existed, ct).ConfigureAwait(false);
                await log.WriteLineAsync($"applied {obj.Display}{(existed ? "" : " (created)")}").ConfigureAwait(false);
            }
            if (phase.Key == ApplyPhase.CustomResourceDefinitions)
            {
                foreach (var crd in phase)
                {
                    await WaitEstablishedAsync(client, crd.Name, time, ct).ConfigureAwait(false);
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
        return [.. applied.Where(a => a.Created && (a.Object.Namespace is null || !createdNamespaces.Contains(a.Object.Namespace))).Reverse()];
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
    internal static PlannedObject WithSessionLabel(PlannedObject obj, SessionId session)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(obj.Json)!.AsObject();
        var metadata = json["metadata"] as System.Text.Json.Nodes.JsonObject ?? [];
        json["metadata"] = metadata;
        var labels = metadata["labels"] as System.Text.Json.Nodes.JsonObject ?? [];
        metadata["labels"] = labels;
        labels[SessionLabels.Session] = session.Value;
        labels[SessionLabels.Owner] = "harness";
        return obj with { Json = json.ToJsonString() };
    }

    private static async Task ApplyOneAsync(IKubernetes client, PlannedObject obj, string plural, bool existed, CancellationToken ct)
    {
        var patch = new V1Patch(obj.Json, V1Patch.PatchType.ApplyPatch);
        try
        {
            // Never force: on an object that already exists, a field another manager owns is a conflict, not ours to take.
            if (obj.Namespace is null)
            {
                await client.CustomObjects.PatchClusterCustomObjectAsync(patch, obj.Group, obj.Version, plural, obj.Name, fieldManager: FieldManager, force: false, cancellationToken: ct).ConfigureAwait(false);
            }
            else
            {
                await client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, obj.Group, obj.Version, obj.Namespace, plural, obj.Name, fieldManager: FieldManager, force: false, cancellationToken: ct).ConfigureAwait(false);
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

    private static async Task<bool> ExistsAsync(IKubernetes client, PlannedObject obj, string plural, CancellationToken ct)
    {
        try
        {
            if (obj.Namespace is null)
            {
                await client.CustomObjects.GetClusterCustomObjectAsync(obj.Group, obj.Version, plural, obj.Name, ct).ConfigureAwait(false);
            }
            else
            {
                await client.CustomObjects.GetNamespacedCustomObjectAsync(obj.Group, obj.Version, obj.Namespace, plural, obj.Name, ct).ConfigureAwait(false);
            }
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
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

    private static Task WaitEstablishedAsync(IKubernetes client, string crd, TimeProvider? time, CancellationToken ct) =>
        BoundedWait.UntilAsync(
            $"CRD {crd} to be Established",
            async t => await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd, cancellationToken: t).ConfigureAwait(false),
            c => (c.Status?.Conditions ?? []).Any(x => x.Type == "Established" && x.Status == "True"),
            c => string.Join(", ", (c.Status?.Conditions ?? []).Select(x => $"{x.Type}={x.Status} ({x.Reason}: {x.Message})")),
            TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1), time: time, ct: ct);
}
