using Harness.Manifests;
using k8s;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>The operator under test, resolved: where it runs, which container, as which ServiceAccount, with which pod spec.</summary>
/// <param name="Namespace">Its namespace.</param>
/// <param name="Workload">The workload (<c>Deployment/widget-operator</c>) or pod it was found from.</param>
/// <param name="Container">The container the probes stand in for.</param>
/// <param name="ServiceAccount">The ServiceAccount its pods run as.</param>
/// <param name="PodMetadata">The pod template's metadata (labels select NetworkPolicies; annotations carry legacy settings).</param>
/// <param name="PodSpec">The pod spec.</param>
/// <param name="PodName">A running pod of it, when one was found (the ephemeral and direct vehicles need it).</param>
public sealed record OperatorTarget(string Namespace, WorkloadRef Workload, string Container, string ServiceAccount, V1ObjectMeta PodMetadata, V1PodSpec PodSpec, string? PodName = null);

/// <summary>A target that cannot be resolved: names what was looked for and what exists.</summary>
public sealed class TargetNotFoundException(string message) : Exception(message);

/// <summary>Resolves the operator under test from a workload or a pod. Pure.</summary>
public static class TargetDiscovery
{
    private const string DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container";

    /// <summary>From a Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet or Pod.</summary>
    /// <exception cref="TargetNotFoundException">Not a workload, or the container cannot be chosen.</exception>
    public static OperatorTarget FromWorkload(IKubernetesObject<V1ObjectMeta> workload, string? container = null, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(workload);
        if (!PodTemplates.TryGet(workload, out var metadata, out var spec))
        {
            throw new TargetNotFoundException($"{workload.Kind} {workload.Metadata?.Name} has no pod template; give a Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod.");
        }
        metadata ??= new V1ObjectMeta();
        var ns = workload.Metadata?.NamespaceProperty ?? defaultNamespace;
        var podName = workload is V1Pod ? workload.Metadata?.Name : null;
        return new OperatorTarget(
            ns,
            new WorkloadRef(workload.Kind ?? workload.GetType().Name[2..], workload.Metadata?.Name ?? ""),
            ChooseContainer(spec, metadata, container, $"{workload.Kind} {ns}/{workload.Metadata?.Name}"),
            string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName,
            metadata,
            spec,
            podName);
    }

    /// <summary>
    /// Finds a running operator on a cluster, by Deployment name or by label selector (release qualification against
    /// an operator the harness did not deploy). Picks a Running, ready pod.
    /// </summary>
    /// <exception cref="TargetNotFoundException">No such Deployment, or no running pod matches; says what exists.</exception>
    public static async Task<OperatorTarget> FindAsync(IKubernetes client, string ns, string? deployment, string? labelSelector, string? container = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        V1ObjectMeta? templateMetadata = null;
        WorkloadRef? workload = null;
        if (deployment is not null)
        {
            V1Deployment found;
            try
            {
                found = await client.AppsV1.ReadNamespacedDeploymentAsync(deployment, ns, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                var names = (await client.AppsV1.ListNamespacedDeploymentAsync(ns, cancellationToken: ct).ConfigureAwait(false)).Items.Select(d => d.Metadata.Name);
                throw new TargetNotFoundException($"no Deployment \"{deployment}\" in namespace {ns}; it has {string.Join(", ", names.DefaultIfEmpty("none"))}.");
            }
            labelSelector = Labels.Selector(found.Spec.Selector);
            templateMetadata = found.Spec.Template.Metadata;
            workload = new WorkloadRef("Deployment", deployment);
        }
        // A twin pod of any run carries the operator's labels: the harness's own pods are never the operator.
        var pods = Harness.Kubernetes.Pods.NotHarness((await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: labelSelector, cancellationToken: ct).ConfigureAwait(false)).Items);
        var pod = pods.FirstOrDefault(Harness.Kubernetes.Pods.IsServing)
            ?? throw new TargetNotFoundException($"no running, ready pod in {ns} matches \"{labelSelector}\" ({pods.Count} pods: {string.Join(", ", pods.Select(p => $"{p.Metadata.Name} {p.Status?.Phase}"))}).");
        var target = FromWorkload(pod, container ?? ChooseContainer(pod.Spec, templateMetadata ?? pod.Metadata, null, (workload ?? new WorkloadRef("Pod", pod.Metadata.Name)).ToString()), ns);
        return target with { Workload = workload ?? target.Workload, PodMetadata = templateMetadata ?? pod.Metadata };
    }

    /// <summary>The container to probe: the one named, else the default-container annotation, else the only one.</summary>
    /// <exception cref="TargetNotFoundException">The name does not exist, or there are several and none is named.</exception>
    public static string ChooseContainer(V1PodSpec spec, V1ObjectMeta? metadata, string? requested, string where)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = (spec.Containers ?? []).Select(c => c.Name).ToList();
        if (requested is not null)
        {
            return names.Contains(requested)
                ? requested
                : throw new TargetNotFoundException($"{where} has no container \"{requested}\"; its containers are {string.Join(", ", names.Select(n => $"\"{n}\""))}.");
        }
        if (metadata?.Annotations is { } a && a.TryGetValue(DefaultContainerAnnotation, out var annotated) && names.Contains(annotated))
        {
            return annotated;
        }
        return names.Count switch
        {
            1 => names[0],
            0 => throw new TargetNotFoundException($"{where} has no containers."),
            _ => throw new TargetNotFoundException($"{where} has containers {string.Join(", ", names.Select(n => $"\"{n}\""))}; name the one to probe (ContainerName)."),
        };
    }
}
