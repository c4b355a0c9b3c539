using System.Collections.Immutable;
using Harness.Rbac;
using Harness.Verdicts;

namespace Harness.Qualification;

/// <summary>How a checklist item came out.</summary>
public enum ChecklistStatus
{
    /// <summary>Proven by an accepted mechanism with a working control.</summary>
    Passed,

    /// <summary>The protection is absent.</summary>
    Failed,

    /// <summary>Not proven either way: an unexpected mechanism, a failed control, or nothing tested it.</summary>
    Inconclusive,

    /// <summary>Not applicable here, with the reason (cosign not installed, no cluster for this item).</summary>
    Skipped,
}

/// <summary>One line of the hardening checklist, with what decided it.</summary>
/// <param name="Id">Stable id (<c>rootfs-readonly</c>).</param>
/// <param name="Title">The checklist wording.</param>
/// <param name="Status">The outcome.</param>
/// <param name="Evidence">What was observed, one line per probe or question (redacted).</param>
/// <param name="Controls">The positive controls that made the evidence trustworthy.</param>
/// <param name="DurationMs">Time spent on it (the longest of its probes).</param>
public sealed record ChecklistItem(string Id, string Title, ChecklistStatus Status, ImmutableArray<string> Evidence, ImmutableArray<string> Controls, long DurationMs)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);
}

/// <summary>Where and how a qualification ran.</summary>
/// <param name="Operator">The operator (<c>Deployment ns/name</c>).</param>
/// <param name="Cluster">The cluster or <c>docker (local approximation)</c>.</param>
/// <param name="Vehicle">The vehicle.</param>
/// <param name="HarnessVersion">The harness version.</param>
public sealed record QualificationContext(string Operator, string Cluster, string Vehicle, string HarnessVersion);

/// <summary>A qualification: the checklist, the mission's four checks, every probe and access answer, and notes.</summary>
public sealed record QualificationReport(
    QualificationContext Context,
    DateTimeOffset Started,
    TimeSpan Duration,
    ImmutableArray<ChecklistItem> Checklist,
    ImmutableArray<CheckOutcome> Mission,
    ImmutableArray<ProbeResult> Probes,
    ImmutableArray<AccessAnswer> Access,
    ImmutableArray<string> Notes)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>How long each phase of the run took (cluster, deploy, sink, vehicle, probes, access matrix, teardown).</summary>
    public ImmutableArray<Runs.PhaseTiming> Timings { get; init; } = [];

    /// <summary>0 when every item passed (or was skipped with a reason), 1 when one failed, 2 when one is inconclusive and none failed.</summary>
    public int ExitCode =>
        Checklist.Any(i => i.Status == ChecklistStatus.Failed) || Mission.Any(m => m.Status == ProbeStatus.Failed) ? 1
        : Checklist.Any(i => i.Status == ChecklistStatus.Inconclusive) || Mission.Any(m => m.Status == ProbeStatus.Inconclusive) ? 2
        : 0;

    /// <summary>The one-line verdict.</summary>
    public string Verdict => ExitCode switch
    {
        0 => "QUALIFIED: every check passed",
        1 => $"NOT QUALIFIED: {string.Join(", ", Checklist.Where(i => i.Status == ChecklistStatus.Failed).Select(i => i.Id))} failed",
        _ => $"INCONCLUSIVE: {string.Join(", ", Checklist.Where(i => i.Status == ChecklistStatus.Inconclusive).Select(i => i.Id).Concat(Mission.Where(m => m.Status == ProbeStatus.Inconclusive).Select(m => m.Check.ToString())).Distinct())} could not be proven",
    };
}
