using k8s.Models;

namespace Harness.PodSecurity;

/// <summary>A container, init container or ephemeral container, with the fields Pod Security reads.</summary>
internal sealed record ContainerView(
    string Name,
    V1SecurityContext? SecurityContext,
    IList<V1ContainerPort>? Ports,
    V1Probe? LivenessProbe,
    V1Probe? ReadinessProbe,
    V1Probe? StartupProbe,
    V1Lifecycle? Lifecycle);

/// <summary>A pod's metadata and spec as the checks see them; containers in Kubernetes' visiting order.</summary>
internal sealed class PodView
{
    public PodView(V1ObjectMeta? metadata, V1PodSpec spec)
    {
        Annotations = metadata?.Annotations is { } a ? new Dictionary<string, string>(a, StringComparer.Ordinal) : [];
        Spec = spec;
        var containers = new List<ContainerView>();
        foreach (var c in spec.InitContainers ?? [])
        {
            containers.Add(new(c.Name ?? "", c.SecurityContext, c.Ports, c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle));
        }
        foreach (var c in spec.Containers ?? [])
        {
            containers.Add(new(c.Name ?? "", c.SecurityContext, c.Ports, c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle));
        }
        foreach (var c in spec.EphemeralContainers ?? [])
        {
            containers.Add(new(c.Name ?? "", c.SecurityContext, c.Ports, c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle));
        }
        Containers = containers;
    }

    public IReadOnlyDictionary<string, string> Annotations { get; }

    public V1PodSpec Spec { get; }

    public V1PodSecurityContext? PodSecurityContext => Spec.SecurityContext;

    public IReadOnlyList<ContainerView> Containers { get; }

    /// <summary>The pod declares Windows as its OS (exempts some restricted checks from v1.25).</summary>
    public bool IsWindows => string.Equals(Spec.Os?.Name, "windows", StringComparison.Ordinal);

    /// <summary>The pod runs in a user namespace (<c>hostUsers: false</c>), which relaxes some checks from v1.35.</summary>
    public bool InUserNamespace => Spec.HostUsers == false;
}
