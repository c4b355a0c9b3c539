using Harness.Runs;
using System.Collections.Immutable;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>
/// Removes what earlier runs left on a cluster when they died before their teardown (a killed CI job, a lost node):
/// every namespace, pod and cluster-scoped object carrying the <c>io.harness.session</c> label and older than a bound.
/// Objects the harness did not create never carry the label (it is added only on creation), so nothing else is touched.
/// </summary>
internal static class LeftoverSweep
{
    /// <summary>The harness-labelled objects among <paramref name="objects"/> created more than <paramref name="olderThan"/> before <paramref name="now"/>. Pure.</summary>
    public static ImmutableArray<V1ObjectMeta> Stale(IEnumerable<V1ObjectMeta> objects, DateTimeOffset now, TimeSpan olderThan)
    {
        ArgumentNullException.ThrowIfNull(objects);
        return [.. objects.Where(m => m.CreationTimestamp is { } created && now - new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) > olderThan
            && m.Labels?.ContainsKey(SessionLabels.Session) == true)];
    }

    /// <summary>Deletes the harness's leftovers older than <paramref name="olderThan"/>; returns what it deleted. A list or delete the credentials may not do is logged and skipped.</summary>
    public static async Task<ImmutableArray<string>> SweepAsync(IKubernetes client, TimeSpan olderThan, TimeProvider? time = null, TextWriter? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        log ??= TextWriter.Null;
        var now = (time ?? TimeProvider.System).GetUtcNow();
        const string selector = SessionLabels.Session;
        var deleted = ImmutableArray.CreateBuilder<string>();

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
            foreach (var m in Stale(items, now, olderThan))
            {
                var name = m.NamespaceProperty is { } ns ? $"{kind} {ns}/{m.Name}" : $"{kind} {m.Name}";
                try
                {
                    await delete(m).ConfigureAwait(false);
                    deleted.Add(name);
                    await log.WriteLineAsync($"sweep: deleted {name} (session {m.Labels[selector]}, created {m.CreationTimestamp:u})").ConfigureAwait(false);
                }
                catch (HttpOperationException e)
                {
                    await log.WriteLineAsync($"sweep: could not delete {name} ({(int)e.Response.StatusCode})").ConfigureAwait(false);
                }
            }
        }

        await Each("Namespace", async () => (await client.CoreV1.ListNamespaceAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.CoreV1.DeleteNamespaceAsync(m.Name, propagationPolicy: "Background", cancellationToken: ct)).ConfigureAwait(false);
        await Each("Pod", async () => (await client.CoreV1.ListPodForAllNamespacesAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.CoreV1.DeleteNamespacedPodAsync(m.Name, m.NamespaceProperty, gracePeriodSeconds: 0, cancellationToken: ct)).ConfigureAwait(false);
        await Each("CustomResourceDefinition", async () => (await client.ApiextensionsV1.ListCustomResourceDefinitionAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("ClusterRoleBinding", async () => (await client.RbacAuthorizationV1.ListClusterRoleBindingAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.RbacAuthorizationV1.DeleteClusterRoleBindingAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("ClusterRole", async () => (await client.RbacAuthorizationV1.ListClusterRoleAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.RbacAuthorizationV1.DeleteClusterRoleAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("ValidatingWebhookConfiguration", async () => (await client.AdmissionregistrationV1.ListValidatingWebhookConfigurationAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.AdmissionregistrationV1.DeleteValidatingWebhookConfigurationAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        await Each("MutatingWebhookConfiguration", async () => (await client.AdmissionregistrationV1.ListMutatingWebhookConfigurationAsync(labelSelector: selector, cancellationToken: ct).ConfigureAwait(false)).Items.Select(i => i.Metadata),
            m => client.AdmissionregistrationV1.DeleteMutatingWebhookConfigurationAsync(m.Name, cancellationToken: ct)).ConfigureAwait(false);
        return deleted.ToImmutable();
    }
}
