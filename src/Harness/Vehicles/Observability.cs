using System.Collections.Immutable;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>
/// Which probes a vehicle cannot ground in the operator, and why. A vehicle that runs the probe image in place of the
/// operator's image (twin pod, docker) has the operator's security context but not its image: where the operator's uid
/// comes only from its image's USER, the probe process runs as the probe image's uid instead, and every verdict that
/// depends on the uid would be about the probe, not the operator. Those verdicts become Inconclusive with the reason.
/// Pure.
/// </summary>
internal static class Observability
{
    /// <summary>Probe ids (or id prefixes ending in a dot) whose verdict depends on the process's uid.</summary>
    public static ImmutableArray<string> UidDependent { get; } = ["proc.non-root", "kernel."];

    /// <summary>
    /// The probes a vehicle running <paramref name="container"/> of <paramref name="pod"/> with another image cannot judge,
    /// with the reason; empty when the spec fixes the uid (runAsUser) or guarantees a non-root one (runAsNonRoot), or the
    /// image's uid is known (<paramref name="imageUser"/>).
    /// </summary>
    public static ImmutableDictionary<string, string> WithAnotherImage(V1PodSpec pod, string? container, long? imageUser)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var c = container is null ? pod.Containers?.FirstOrDefault() : pod.Containers?.FirstOrDefault(x => x.Name == container);
        var uid = c?.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser ?? imageUser;
        var nonRoot = c?.SecurityContext?.RunAsNonRoot ?? pod.SecurityContext?.RunAsNonRoot;
        if (uid is not null || nonRoot == true)
        {
            return ImmutableDictionary<string, string>.Empty;
        }
        const string reason = "the operator's uid comes from its image (USER), which this vehicle does not run: the probe process has the probe image's uid, " +
            "so this verdict would be about the probe. Set runAsUser (or runAsNonRoot: true) in the pod spec, or give the image's uid (TwinPodOptions.ImageUser)";
        return UidDependent.ToImmutableDictionary(p => p, _ => reason, StringComparer.Ordinal);
    }

    /// <summary>The reason <paramref name="probeId"/> cannot be judged through a vehicle with these limits, or null.</summary>
    public static string? Reason(IReadOnlyDictionary<string, string> unobservable, string probeId)
    {
        ArgumentNullException.ThrowIfNull(unobservable);
        ArgumentNullException.ThrowIfNull(probeId);
        foreach (var (key, reason) in unobservable)
        {
            if (key == probeId || (key.EndsWith('.') && probeId.StartsWith(key, StringComparison.Ordinal)))
            {
                return reason;
            }
        }
        return null;
    }
}
