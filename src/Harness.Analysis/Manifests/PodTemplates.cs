using System.Diagnostics.CodeAnalysis;
using k8s;
using k8s.Models;

namespace Harness.Manifests;

/// <summary>Finds the pod (or pod template) inside a workload: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, PodTemplate.</summary>
public static class PodTemplates
{
    /// <summary>The pod metadata and spec the workload creates pods from.</summary>
    /// <returns>False when the object is not a workload (or has no template).</returns>
    public static bool TryGet(IKubernetesObject<V1ObjectMeta>? obj, out V1ObjectMeta? metadata, [NotNullWhen(true)] out V1PodSpec? spec)
    {
        (metadata, spec) = obj switch
        {
            V1Pod p => (p.Metadata, p.Spec),
            V1Deployment d => (d.Spec?.Template?.Metadata, d.Spec?.Template?.Spec),
            V1StatefulSet s => (s.Spec?.Template?.Metadata, s.Spec?.Template?.Spec),
            V1DaemonSet ds => (ds.Spec?.Template?.Metadata, ds.Spec?.Template?.Spec),
            V1ReplicaSet rs => (rs.Spec?.Template?.Metadata, rs.Spec?.Template?.Spec),
            V1ReplicationController rc => (rc.Spec?.Template?.Metadata, rc.Spec?.Template?.Spec),
            V1Job j => (j.Spec?.Template?.Metadata, j.Spec?.Template?.Spec),
            V1CronJob cj => (cj.Spec?.JobTemplate?.Spec?.Template?.Metadata, cj.Spec?.JobTemplate?.Spec?.Template?.Spec),
            V1PodTemplate pt => (pt.Template?.Metadata, pt.Template?.Spec),
            _ => (null, null),
        };
        return spec is not null;
    }
}
