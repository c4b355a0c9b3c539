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
public sealed record AppliedObject(PlannedObject Object, string Plural, bool Created);

/// <summary>
/// Server-side apply with the harness's field manager, in plan order: CRDs are waited for until Established before
/// any custom resource; resource names come from discovery. Teardown deletes only what the harness created.
/// </summary>
public static class ManifestApplier
{
    /// <summary>The field manager of every apply.</summary>
    public const string FieldManager = "harness";

    /// <summary>Applies the plan.</summary>
    /// <exception cref="ManifestException">A kind the cluster does not serve (names the file and line).</exception>
    /// <exception cref="HttpOperationException">The API server refused an object (the message has its status).</exception>
    public static async Task<ImmutableArray<AppliedObject>> ApplyAsync(IKubernetes client, IReadOnlyList<PlannedObject> plan, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(plan);
        log ??= TextWriter.Null;
        var discovery = new Dictionary<string, V1APIResourceList>(StringComparer.Ordinal);
        var applied = ImmutableArray.CreateBuilder<AppliedObject>();
        foreach (var phase in plan.GroupBy(p => p.Phase).OrderBy(g => g.Key))
        {
            foreach (var obj in phase)
            {
                var plural = await PluralAsync(client, obj, discovery, ct).ConfigureAwait(false);
                var existed = await ExistsAsync(client, obj, plural, ct).ConfigureAwait(false);
                await ApplyOneAsync(client, obj, plural, ct).ConfigureAwait(false);
                applied.Add(new AppliedObject(obj, plural, !existed));
                await log.WriteLineAsync($"applied {obj.Display}{(existed ? "" : " (created)")}").ConfigureAwait(false);
            }
            if (phase.Key == 1)
            {
                foreach (var crd in phase)
                {
                    await WaitEstablishedAsync(client, crd.Name, time, ct).ConfigureAwait(false);
                }
                discovery.Clear(); // the new groups are served now
            }
        }
        return applied.ToImmutable();
    }

    /// <summary>Deletes what <see cref="ApplyAsync"/> created, newest first; the namespace last (it takes the rest with it).</summary>
    public static async Task DeleteCreatedAsync(IKubernetes client, IReadOnlyList<AppliedObject> applied, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(applied);
        log ??= TextWriter.Null;
        foreach (var a in applied.Where(a => a.Created && a.Object.Namespace is null).Reverse())
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                if (a.Object.Kind == "Namespace")
                {
                    await client.CoreV1.DeleteNamespaceAsync(a.Object.Name, propagationPolicy: "Background", cancellationToken: bound.Token).ConfigureAwait(false);
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

    private static async Task ApplyOneAsync(IKubernetes client, PlannedObject obj, string plural, CancellationToken ct)
    {
        var patch = new V1Patch(obj.Json, V1Patch.PatchType.ApplyPatch);
        if (obj.Namespace is null)
        {
            await client.CustomObjects.PatchClusterCustomObjectAsync(patch, obj.Group, obj.Version, plural, obj.Name, fieldManager: FieldManager, force: true, cancellationToken: ct).ConfigureAwait(false);
        }
        else
        {
            await client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, obj.Group, obj.Version, obj.Namespace, plural, obj.Name, fieldManager: FieldManager, force: true, cancellationToken: ct).ConfigureAwait(false);
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
