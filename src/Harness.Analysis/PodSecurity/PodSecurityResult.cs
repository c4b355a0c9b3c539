using System.Collections.Immutable;

namespace Harness.PodSecurity;

/// <summary>One failed check, worded as the API server words it: <c>reason (detail)</c>.</summary>
/// <param name="CheckId">The check's identifier in Kubernetes (<c>allowPrivilegeEscalation</c>, <c>restrictedVolumes</c>, ...).</param>
/// <param name="Reason">Short reason (<c>allowPrivilegeEscalation != false</c>).</param>
/// <param name="Detail">What must change (<c>container "app" must set securityContext.allowPrivilegeEscalation=false</c>).</param>
public sealed record PodSecurityViolation(string CheckId, string Reason, string Detail)
{
    /// <inheritdoc/>
    public override string ToString() => string.IsNullOrEmpty(Detail) ? Reason : $"{Reason} ({Detail})";
}

/// <summary>The outcome of evaluating one pod or pod template at a level and version.</summary>
/// <param name="Level">The level evaluated.</param>
/// <param name="Version">The version as requested (what the namespace label would say).</param>
/// <param name="EffectiveVersion">The check revision used: <c>latest</c> and versions newer than the newest check resolve to it.</param>
/// <param name="Violations">Failed checks; empty when allowed.</param>
public sealed record PodSecurityResult(
    PodSecurityLevel Level,
    PolicyVersion Version,
    PolicyVersion EffectiveVersion,
    ImmutableArray<PodSecurityViolation> Violations)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>Whether admission would allow the pod.</summary>
    public bool Allowed => Violations.IsDefaultOrEmpty;

    /// <summary>The API server's sentence: <c>violates PodSecurity "restricted:latest": reason (detail), ...</c>; empty when allowed.</summary>
    public string Message => Allowed
        ? string.Empty
        : $"violates PodSecurity \"{Level.ToString().ToLowerInvariant()}:{Version}\": {string.Join(", ", Violations)}";
}
