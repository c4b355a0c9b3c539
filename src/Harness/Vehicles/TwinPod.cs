using Harness.Runs;
using Harness.Images;
using System.Collections.Immutable;
using k8s;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>Options for the twin pod.</summary>
internal sealed record TwinPodOptions
{
    /// <summary>The probe image as the cluster pulls it.</summary>
    public required string ProbeImage { get; init; }

    /// <summary>Session id (name suffix and label).</summary>
    public required SessionId Session { get; init; }

    /// <summary>The operator's identity (learned from its image, or given): the twin runs with exactly these ids; null when unknown.</summary>
    public ContainerIdentity? Identity { get; init; }
}

/// <summary>
/// The default vehicle's pod: a clone of the operator's pod template with every image swapped for the probe image.
/// Same ServiceAccount, securityContext, volumes, labels (so the same NetworkPolicies select it) and annotations; no
/// owner references and no <c>pod-template-hash</c>, so no ReplicaSet adopts it; probes, lifecycle hooks and the
/// operator's commands removed. Pure.
/// </summary>
internal static class TwinPod
{
    /// <summary>What the twin cannot reproduce; shown in every report it produces.</summary>
    public static ImmutableArray<string> Notes { get; } =
    [
        "twin pod: the operator's pod spec with the probe image in place of its images; the operator's own binary does not run, and the image's filesystem is the probe image's",
        "twin pod: it carries the operator's labels, so Services selecting them may route to it while it exists",
        "twin pod: required pod anti-affinity is dropped so the twin can schedule beside the operator",
    ];

    /// <summary>The name of the twin's scratch volume.</summary>
    public const string ScratchVolume = "harness-scratch";

    /// <summary>
    /// Whether a twin of <paramref name="target"/> could keep the operator's own pod from being scheduled: the pod
    /// template requires anti-affinity to pods carrying its own labels, which the twin keeps. Such a twin starts only after
    /// the rollout (it then goes anywhere: the twin drops the requirement). Pure.
    /// </summary>
    public static bool CouldRepelTheOperator(OperatorTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var labels = target.PodMetadata?.Labels;
        return (target.PodSpec.Affinity?.PodAntiAffinity?.RequiredDuringSchedulingIgnoredDuringExecution ?? [])
            .Any(term => Manifests.Labels.Matches(term.LabelSelector, labels));
    }

    /// <summary>Builds the twin of <paramref name="target"/>.</summary>
    public static V1Pod Build(OperatorTarget target, TwinPodOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var spec = Clone(target.PodSpec);
        spec.NodeName = null;
        spec.EphemeralContainers = null;
        spec.RestartPolicy = "Never";
        spec.TerminationGracePeriodSeconds = 1;
        if (spec.Affinity?.PodAntiAffinity is { } anti)
        {
            anti.RequiredDuringSchedulingIgnoredDuringExecution = null;
        }
        foreach (var init in spec.InitContainers ?? [])
        {
            // Init containers (and native sidecars) keep their security context and mounts but do nothing.
            Swap(init, options, init.RestartPolicy == "Always" ? ["idle"] : ["version"]);
        }
        foreach (var container in spec.Containers ?? [])
        {
            Swap(container, options, ["idle"]);
        }
        options.Identity?.ApplyTo(spec, target.Container);
        // The harness's own scratch directory: the filesystem probes' control writes there, whatever the operator mounts.
        spec.Volumes = [.. spec.Volumes ?? [], new V1Volume { Name = ScratchVolume, EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory", SizeLimit = new ResourceQuantity("1Mi") } }];
        var probed = spec.Containers!.Single(c => c.Name == target.Container);
        probed.VolumeMounts = [.. probed.VolumeMounts ?? [], new V1VolumeMount { Name = ScratchVolume, MountPath = ProbeImageLayout.Scratch }];

        var labels = new Dictionary<string, string>(target.PodMetadata.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        labels.Remove("pod-template-hash");
        labels.Remove("controller-revision-hash");
        labels[SessionLabels.Role] = "twin";
        labels[SessionLabels.Session] = options.Session.Value;
        var baseName = target.Workload.Name;
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = Truncate($"{baseName}-harness-twin-{options.Session}", 63),
                NamespaceProperty = target.Namespace,
                Labels = labels,
                Annotations = target.PodMetadata.Annotations is { } a ? new Dictionary<string, string>(a) : null,
            },
            Spec = spec,
        };
    }

    private static void Swap(V1Container container, TwinPodOptions options, string[] agentArgs)
    {
        container.Image = options.ProbeImage;
        container.ImagePullPolicy = "IfNotPresent";
        container.Command = [ProbeImageLayout.Agent, .. agentArgs];
        container.Args = null;
        container.LivenessProbe = null;
        container.ReadinessProbe = null;
        container.StartupProbe = null;
        container.Lifecycle = null;
        container.WorkingDir = null;
    }

    /// <summary>A deep copy of a pod spec (JSON round trip: the builders never touch the caller's objects).</summary>
    public static V1PodSpec Clone(V1PodSpec spec) => KubernetesJson.Deserialize<V1PodSpec>(KubernetesJson.Serialize(spec));

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max].TrimEnd('-');
}
