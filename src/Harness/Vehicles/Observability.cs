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

    /// <summary>Probe ids (or prefixes) whose verdict depends on the process's gid: setgid(0) is a no-op success for gid 0.</summary>
    public static ImmutableArray<string> GidDependent { get; } = ["kernel.setgid"];

    /// <summary>
    /// The probes a vehicle that runs another image cannot judge, with the reason: none when the operator's identity was
    /// learned (or given); otherwise those that depend on a uid the pod spec does not set (<c>runAsUser</c>) or a gid it
    /// does not set (<c>runAsGroup</c>), since the probe image's own would decide them.
    /// </summary>
    /// <param name="pod">The operator's pod spec.</param>
    /// <param name="container">The operator's container.</param>
    /// <param name="identity">The operator's identity, learned or given; null when unknown.</param>
    /// <param name="whyUnknown">Why it is unknown (what was tried).</param>
    public static ImmutableDictionary<string, string> WithAnotherImage(V1PodSpec pod, string? container, ContainerIdentity? identity, string? whyUnknown)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (identity is not null)
        {
            return ImmutableDictionary<string, string>.Empty;
        }
        var c = container is null ? pod.Containers?.FirstOrDefault() : pod.Containers?.FirstOrDefault(x => x.Name == container);
        var uidSet = (c?.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser) is not null;
        var gidSet = (c?.SecurityContext?.RunAsGroup ?? pod.SecurityContext?.RunAsGroup) is not null;
        string Reason(string what) => $"the operator's {what} comes from its image and could not be learned" + (whyUnknown is null ? "" : $" ({whyUnknown})") +
            ": this vehicle runs the probe image, whose own ids would decide this verdict. Give them (imageUser in a scenario, OperatorProbeOptions.ImageUser/ImageGroup) " +
            "or set them in the pod spec (runAsUser, runAsGroup)";
        var result = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (!uidSet)
        {
            foreach (var p in UidDependent)
            {
                result[p] = Reason("uid");
            }
        }
        if (!gidSet)
        {
            foreach (var p in GidDependent)
            {
                result[p] = Reason("gid");
            }
        }
        return result.ToImmutable();
    }

    /// <summary>
    /// Checks that the probe process ran with <paramref name="expected"/> (its <c>/proc/self/status</c> in the report):
    /// when it did, the identity-dependent results say whose ids they ran with and where those came from; when it did
    /// not, they become Inconclusive (the verdict would be about the probe). Pure.
    /// </summary>
    public static IReadOnlyList<Verdicts.ProbeResult> VerifyIdentity(IReadOnlyList<Verdicts.ProbeResult> results, Protocol.AgentReport? report, ContainerIdentity? expected)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (expected is null || report?.Results.FirstOrDefault(r => r.Kind == Protocol.StepKinds.ProcessStatus && r.Data is not null && r.Data.ContainsKey("Uid")) is not { } status)
        {
            return results;
        }
        var data = status.Data!;
        static long First(string? ids) => long.TryParse((ids ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : -1;
        var (uid, gid, groups) = (First(data.GetValueOrDefault("Uid")), First(data.GetValueOrDefault("Gid")), data.GetValueOrDefault("Groups") ?? "");
        var dependent = UidDependent.ToImmutableDictionary(p => p, _ => "", StringComparer.Ordinal);
        if (expected.Matches(uid, gid, groups))
        {
            return [.. results.Select(r => Reason(dependent, r.Probe.Id) is null ? r
                : r with { Evidence = r.Evidence with { Data = new Dictionary<string, string>(r.Evidence.Data) { [Protocol.DataKeys.Observed] = $"{r.Evidence.Observed ?? "the probe process"}, with the operator's ids: {expected}" } } })];
        }
        var why = $"the vehicle ran as uid {uid}, gid {gid}, groups [{string.Join(",", groups.Split(' ', StringSplitOptions.RemoveEmptyEntries))}], not with the operator's ids ({expected}): this verdict would be about the probe";
        return [.. results.Select(r => Reason(dependent, r.Probe.Id) is null ? r
            : r with { Verdict = Verdicts.Verdict.Inconclusive(why), Status = Verdicts.ProbeStatus.Inconclusive, Explanation = $"{r.Probe.Title}: {why} (the agent saw {r.Verdict})" })];
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
