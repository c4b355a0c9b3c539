// PodSecurity: the Pod Security Standards evaluated on a pod spec, per level and version (pure).
using System.Collections.Immutable;
using k8s.Models;

namespace Harness.PodSecurity;

/// <summary>
/// Offline Pod Security admission: evaluates a pod or pod template at a level and policy version with the semantics of
/// Kubernetes' PodSecurity admission. A version selects, per check, the newest revision at or below it; <c>latest</c> and
/// versions past the newest revision resolve to it; restricted is baseline minus the checks restricted ones replace.
/// </summary>
public static class PodSecurityEvaluator
{
    /// <summary>The namespace label the PodSecurity admission enforces (<c>pod-security.kubernetes.io/enforce</c>).</summary>
    public const string EnforceLabel = "pod-security.kubernetes.io/enforce";

    /// <summary>The newest policy version this evaluator has checks for; what <c>latest</c> resolves to.</summary>
    public static PolicyVersion NewestVersion => PodSecurityChecks.Newest;

    /// <summary>Evaluates a pod's (or pod template's) metadata and spec.</summary>
    /// <param name="metadata">Pod metadata; annotations carry the legacy seccomp and AppArmor settings.</param>
    /// <param name="spec">Pod spec.</param>
    /// <param name="level">Level to enforce.</param>
    /// <param name="version">Policy version to enforce.</param>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    public static PodSecurityResult Evaluate(V1ObjectMeta? metadata, V1PodSpec spec, PodSecurityLevel level, PolicyVersion version)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var effective = version.IsLatest || version > NewestVersion ? NewestVersion : version;
        var pod = new PodView(metadata, spec);
        var active = ActiveChecks(level, effective);
        var violations = active
            .Select(a => a.Revision.Evaluate(pod))
            .Where(v => v is not null)
            .Select(v => v!)
            .ToImmutableArray();
        return new PodSecurityResult(level, version, effective, violations);
    }

    /// <summary>The check identifiers in force at a level and version, in evaluation order.</summary>
    public static ImmutableArray<string> CheckIds(PodSecurityLevel level, PolicyVersion version)
    {
        var effective = version.IsLatest || version > NewestVersion ? NewestVersion : version;
        return ActiveChecks(level, effective).Select(a => a.Check.Id).ToImmutableArray();
    }

    private static List<(PodSecurityCheck Check, CheckRevision Revision)> ActiveChecks(PodSecurityLevel level, PolicyVersion effective)
    {
        var active = new List<(PodSecurityCheck Check, CheckRevision Revision)>();
        if (level == PodSecurityLevel.Privileged)
        {
            return active;
        }
        foreach (var check in PodSecurityChecks.All)
        {
            if (check.Level > level)
            {
                continue;
            }
            var revision = check.Revisions.Where(r => r.Minimum <= effective).OrderBy(r => r.Minimum).LastOrDefault();
            if (revision is not null)
            {
                active.Add((check, revision));
            }
        }
        // A restricted check in force replaces the baseline checks it names (seccomp, capabilities, volumes, procMount).
        var replaced = active.SelectMany(a => a.Check.Overrides).ToHashSet(StringComparer.Ordinal);
        active.RemoveAll(a => replaced.Contains(a.Check.Id));
        return active;
    }
}
