using Harness.Runs;
using System.Collections.Immutable;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>
/// Removes what earlier runs left on a cluster when they died before their teardown (a killed CI job, a crash, a lost
/// node): every namespace, pod and cluster-scoped object carrying the <c>io.harness.session</c> label of a dead session.
/// A session is dead when its Lease expired (<see cref="SessionLease"/>: within half a minute of a <c>kill -9</c>), or,
/// for a session that could not hold a lease, when its objects are older than the stale bound. A live session's objects
/// are never touched, so any number of runs share a cluster. A shared CRD loses the holds of dead sessions and is
/// deleted only when no session holds it. Objects the harness did not create never carry the label (it is added only on
/// creation), so nothing else is touched.
/// </summary>
internal static class LeftoverSweep
{
    /// <summary>The harness-labelled objects among <paramref name="objects"/> created more than <paramref name="olderThan"/> before <paramref name="now"/> (no session holds a lease). Pure.</summary>
    public static ImmutableArray<V1ObjectMeta> Stale(IEnumerable<V1ObjectMeta> objects, DateTimeOffset now, TimeSpan olderThan) =>
        Stale(objects, ImmutableDictionary<string, V1Lease>.Empty, now, olderThan);

    /// <summary>The harness-labelled objects among <paramref name="objects"/> whose session is dead (<see cref="SessionLease.Liveness"/>). Pure.</summary>
    public static ImmutableArray<V1ObjectMeta> Stale(IEnumerable<V1ObjectMeta> objects, IReadOnlyDictionary<string, V1Lease> leases, DateTimeOffset now, TimeSpan staleAfter)
    {
        ArgumentNullException.ThrowIfNull(objects);
        return [.. objects.Where(m => m.Labels?.TryGetValue(SessionLabels.Session, out var session) == true
            && SessionLease.Liveness(session, leases, Created(m), now, staleAfter) == SessionLiveness.Dead)];
    }

    /// <summary>
    /// For a shared CRD: the holds of dead sessions (to remove), and whether it is then held by nobody and may go. A CRD
    /// created before holds existed counts its session label as its hold. Pure.
    /// </summary>
    public static (ImmutableArray<string> DeadHolds, bool Orphaned) CrdHolds(V1ObjectMeta crd, IReadOnlyDictionary<string, V1Lease> leases, DateTimeOffset now, TimeSpan staleAfter)
    {
        ArgumentNullException.ThrowIfNull(crd);
        var holds = SessionLabels.Holders(crd.Labels).ToList();
        if (holds.Count == 0 && crd.Labels?.TryGetValue(SessionLabels.Session, out var creator) == true)
        {
            holds.Add(creator);
        }
        var dead = holds.Where(h => SessionLease.Liveness(h, leases, Created(crd), now, staleAfter) == SessionLiveness.Dead).ToImmutableArray();
        return (dead, holds.Count > 0 && dead.Length == holds.Count);
    }

    /// <summary>Deletes the leftovers of dead sessions; returns what it deleted. A list or delete the credentials may not do is logged and skipped.</summary>
    /// <param name="client">The cluster.</param>
    /// <param name="staleAfter">For sessions without a lease: how old their objects must be.</param>
    /// <param name="time">The clock.</param>
    /// <param name="log">One line per deletion.</param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<ImmutableArray<string>> SweepAsync(IKubernetes client, TimeSpan staleAfter, TimeProvider? time = null, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        log ??= TextWriter.Null;
        var now = (time ?? TimeProvider.System).GetUtcNow();
        const string selector = SessionLabels.Session;
        var leases = await SessionLease.ReadAllAsync(client, ct).ConfigureAwait(false);
        var deleted = ImmutableArray.CreateBuilder<string>();
        var failedSessions = new HashSet<string>(StringComparer.Ordinal);

        async Task Each(string kind, Func<Task<IEnumerable<V1ObjectMeta>>> list, Func<V1ObjectMeta, Task> delete)
        {
            IEnumerable<V1ObjectMeta> items;
            try
            {
                items = await list().ConfigureAwait(false);
            }
            catch (HttpOperationException e)
            {
                await log.WriteLineAsync($"sweep: cannot list {kind} ({(int)e.Response.StatusCode}); skipped").ConfigureAwait(false);
                return;
            }
            foreach (var m in Stale(items, leases, now, staleAfter))
            {
                var name = m.NamespaceProperty is { } ns ? $"{kind} {ns}/{m.Name}" : $"{kind} {m.Name}";
                var session = m.Labels[selector];
                try
                {
                    await delete(m).ConfigureAwait(false);
                    deleted.Add(name);
                    await log.WriteLineAsync($"sweep: deleted {name} (session {session} {Why(session, leases)}, created {m.CreationTimestamp:u})").ConfigureAwait(false);
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    // Gone already (its namespace took it, or another sweep).
                }
                catch (HttpOperationException e)
                {
                    failedSessions.Add(session);
                    await log.WriteLineAsync($"sweep: could not delete {name} ({(int)e.Response.StatusCode})").ConfigureAwait(false);
                }
            }
        }

        await Each("Namespace", async () => (await client.CoreV1.ListNamespaceAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.CoreV1.DeleteNamespaceAsync(m.Name, propagationPolicy: "Background", cancellationToken: ct)).ConfigureAwait(false);
        await Each("Pod", async () => (await client.CoreV1.ListPodForAllNamespacesAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.CoreV1.DeleteNamespacedPodAsync(m.Name, m.NamespaceProperty, gracePeriodSeconds: 0, cancellationToken: ct)).ConfigureAwait(false);
        await SweepCrdsAsync(client, leases, now, staleAfter, deleted, failedSessions, log, ct).ConfigureAwait(false);
        await Each("ClusterRoleBinding", async () => (await client.RbacAuthorizationV1.ListClusterRoleBindingAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.RbacAuthorizationV1.DeleteClusterRoleBindingAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("ClusterRole", async () => (await client.RbacAuthorizationV1.ListClusterRoleAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.RbacAuthorizationV1.DeleteClusterRoleAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("ValidatingWebhookConfiguration", async () => (await client.AdmissionregistrationV1.ListValidatingWebhookConfigurationAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.AdmissionregistrationV1.DeleteValidatingWebhookConfigurationAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("MutatingWebhookConfiguration", async () => (await client.AdmissionregistrationV1.ListMutatingWebhookConfigurationAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.AdmissionregistrationV1.DeleteMutatingWebhookConfigurationAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("PriorityClass", async () => (await client.SchedulingV1.ListPriorityClassAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.SchedulingV1.DeletePriorityClassAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);

        // A dead session's lease goes last, once nothing of it failed to go (else the next sweep still knows it is dead).
        foreach (var (session, lease) in leases)
        {
            if (SessionLease.Liveness(session, leases, null, now, staleAfter) == SessionLiveness.Dead && !failedSessions.Contains(session))
            {
                try
                {
                    await client.CoordinationV1.DeleteNamespacedLeaseAsync(lease.Metadata.Name, SessionLease.Namespace, cancellationToken: ct).ConfigureAwait(false);
                    deleted.Add($"Lease {SessionLease.Namespace}/{lease.Metadata.Name}");
                    await log.WriteLineAsync($"sweep: deleted Lease {SessionLease.Namespace}/{lease.Metadata.Name} (session {session} {Why(session, leases)})").ConfigureAwait(false);
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                }
                catch (HttpOperationException e)
                {
                    await log.WriteLineAsync($"sweep: could not delete Lease {lease.Metadata.Name} ({(int)e.Response.StatusCode})").ConfigureAwait(false);
                }
            }
        }
        return deleted.ToImmutable();
    }

    private static async Task SweepCrdsAsync(IKubernetes client, IReadOnlyDictionary<string, V1Lease> leases, DateTimeOffset now, TimeSpan staleAfter,
        ImmutableArray<string>.Builder deleted, HashSet<string> failedSessions, TextWriter log, CancellationToken ct)
    {
        IList<V1CustomResourceDefinition> crds;
        try
        {
            crds = (await client.ApiextensionsV1.ListCustomResourceDefinitionAsync(labelSelector: $"{SessionLabels.Owner}=harness", cancellationToken: ct).ConfigureAwait(false)).Items;
        }
        catch (HttpOperationException e)
        {
            await log.WriteLineAsync($"sweep: cannot list CustomResourceDefinition ({(int)e.Response.StatusCode}); skipped").ConfigureAwait(false);
            return;
        }
        foreach (var crd in crds.Where(c => c.Metadata.DeletionTimestamp is null))
        {
            var (dead, orphaned) = CrdHolds(crd.Metadata, leases, now, staleAfter);
            if (dead.IsEmpty)
            {
                continue;
            }
            try
            {
                if (orphaned)
                {
                    // Only the version read: a run that took a hold since then makes this a conflict, and the CRD stays.
                    await client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync(crd.Metadata.Name,
                        new V1DeleteOptions { Preconditions = new V1Preconditions { ResourceVersion = crd.Metadata.ResourceVersion } }, cancellationToken: ct).ConfigureAwait(false);
                    deleted.Add($"CustomResourceDefinition {crd.Metadata.Name}");
                    await log.WriteLineAsync($"sweep: deleted CustomResourceDefinition {crd.Metadata.Name} (held only by dead sessions {string.Join(", ", dead)})").ConfigureAwait(false);
                }
                else
                {
                    var labels = string.Join(",", dead.Select(d => $"\"{SessionLabels.HoldPrefix}{d}\":null"));
                    await client.ApiextensionsV1.PatchCustomResourceDefinitionAsync(new V1Patch("{\"metadata\":{\"labels\":{" + labels + "}}}", V1Patch.PatchType.MergePatch), crd.Metadata.Name, cancellationToken: ct).ConfigureAwait(false);
                    await log.WriteLineAsync($"sweep: released CustomResourceDefinition {crd.Metadata.Name} from dead sessions {string.Join(", ", dead)}; live runs still hold it").ConfigureAwait(false);
                }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode is System.Net.HttpStatusCode.Conflict or System.Net.HttpStatusCode.NotFound)
            {
                // Taken by a run meanwhile, or gone.
            }
            catch (HttpOperationException e)
            {
                failedSessions.UnionWith(dead);
                await log.WriteLineAsync($"sweep: could not release CustomResourceDefinition {crd.Metadata.Name} ({(int)e.Response.StatusCode})").ConfigureAwait(false);
            }
        }
    }

    private static string Why(string session, IReadOnlyDictionary<string, V1Lease> leases) =>
        leases.TryGetValue(session, out var lease) && SessionLease.Expires(lease) is { } expired ? $"dead: its lease expired {expired:u}" : "dead: no lease, older than the stale bound";

    private static DateTimeOffset? Created(V1ObjectMeta m) =>
        m.CreationTimestamp is { } c ? new DateTimeOffset(DateTime.SpecifyKind(c, DateTimeKind.Utc)) : null;
}
