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

    /// <summary>Not tested here, with the reason (cosign not installed, no cluster for this item, not required by the policy).</summary>
    Skipped,

    /// <summary>
    /// It held under an approximation that is not a proof (the docker vehicle's NetworkPolicy, read from the manifests
    /// instead of enforced by a CNI). Counts as untested: it cannot qualify a release.
    /// </summary>
    Approximated,
}

/// <summary>The outcome of a qualification, and its exit code.</summary>
public enum QualificationOutcome
{
    /// <summary>Every item was tested and passed (waived items aside, and named). Exit 0.</summary>
    Qualified = 0,

    /// <summary>An item or mission check failed: the protection is absent. Exit 1.</summary>
    Failed = 1,

    /// <summary>An item could not be proven either way (and none failed). Exit 2, as for an infrastructure error.</summary>
    Inconclusive = 2,

    /// <summary>Nothing failed or was inconclusive, but items were not tested (or only approximated) and not waived. Exit 3.</summary>
    Untested = 3,
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

/// <summary>One mutant of <c>harness prove</c> in the reports.</summary>
/// <param name="Mutant">Its id (<c>rootfs-writable</c>).</param>
/// <param name="Control">The control it removed.</param>
/// <param name="Item">The checklist item that must catch it.</param>
/// <param name="Outcome"><c>Caught</c>, <c>Survived</c> or <c>Unproven</c>.</param>
/// <param name="Evidence">The item's status and the line that shows it.</param>
public sealed record ProofLine(string Mutant, string Control, string Item, string Outcome, string Evidence);

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

    /// <summary>Checklist item ids and mission check names the user waived (<c>--waive</c>, scenario <c>waive:</c>); shown in every report.</summary>
    public ImmutableArray<string> Waived { get; init; } = [];

    /// <summary>Why this run is a local approximation and not a cluster verdict (the docker vehicle); null for a cluster run.</summary>
    public string? Approximation { get; init; }

    /// <summary>The kill matrix, when this is the original of <c>harness prove</c>: one line per mutant; empty otherwise.</summary>
    public ImmutableArray<ProofLine> Proof { get; init; } = [];

    /// <summary>Whether <paramref name="id"/> is waived (a failure is never waived).</summary>
    public bool IsWaived(string id) => Waived.Contains(id, StringComparer.Ordinal);

    private IEnumerable<(string Id, string State)> States() =>
        Mission.Select(m => (m.Check.ToString(), !m.Tested ? "untested" : m.Status.ToString()))
            .Concat(Checklist.Select(i => (i.Id, i.Status switch
            {
                ChecklistStatus.Skipped or ChecklistStatus.Approximated => "untested",
                var other => other.ToString(),
            })));

    /// <summary>Failed if anything failed; else Inconclusive if anything not waived is; else Untested if anything not waived was not tested (or only approximated); else Qualified.</summary>
    public QualificationOutcome Outcome
    {
        get
        {
            var states = States().ToList();
            return states.Any(x => x.State == nameof(ProbeStatus.Failed)) ? QualificationOutcome.Failed
                : states.Any(x => x.State == nameof(ProbeStatus.Inconclusive) && !IsWaived(x.Id)) ? QualificationOutcome.Inconclusive
                : states.Any(x => x.State == "untested" && !IsWaived(x.Id)) ? QualificationOutcome.Untested
                : QualificationOutcome.Qualified;
        }
    }

    /// <summary>0 qualified, 1 failed, 2 inconclusive, 3 untested items (see <see cref="QualificationOutcome"/>).</summary>
    public int ExitCode => (int)Outcome;

    /// <summary>The one-line verdict; it never says more than was proven.</summary>
    public string Verdict
    {
        get
        {
            var states = States().ToList();
            string Ids(Func<(string Id, string State), bool> which) => string.Join(", ", states.Where(which).Select(x => x.Id).Distinct());
            var waived = states.Where(x => x.State != nameof(ProbeStatus.Passed) && IsWaived(x.Id)).Select(x => x.Id).Distinct().ToList();
            var text = Outcome switch
            {
                QualificationOutcome.Qualified => waived.Count == 0
                    ? "QUALIFIED: every item was tested and passed"
                    : $"QUALIFIED WITH WAIVERS: every other item was tested and passed; waived: {string.Join(", ", waived)}",
                QualificationOutcome.Failed => $"NOT QUALIFIED: {Ids(x => x.State == nameof(ProbeStatus.Failed))} failed"
                    + (Ids(x => x.State == nameof(ProbeStatus.Inconclusive) && !IsWaived(x.Id)) is { Length: > 0 } unproven ? $"; {unproven} could not be proven" : ""),
                QualificationOutcome.Inconclusive => $"INCONCLUSIVE: {Ids(x => x.State == nameof(ProbeStatus.Inconclusive) && !IsWaived(x.Id))} could not be proven",
                _ => $"NOT QUALIFIED: {states.Count(x => x.State == "untested" && !IsWaived(x.Id))} items untested ({Ids(x => x.State == "untested" && !IsWaived(x.Id))})",
            };
            return Approximation is null ? text : $"LOCAL APPROXIMATION ({Approximation}), not a cluster verdict: {text}";
        }
    }

    /// <summary>The status word for a checklist item, as every report prints it.</summary>
    public string StatusText(ChecklistItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var word = item.Status switch
        {
            ChecklistStatus.Passed => "PASS",
            ChecklistStatus.Failed => "FAIL",
            ChecklistStatus.Inconclusive => "INCONCLUSIVE",
            ChecklistStatus.Approximated => "APPROXIMATED",
            _ => "SKIPPED",
        };
        return item.Status is not (ChecklistStatus.Passed or ChecklistStatus.Failed) && IsWaived(item.Id) ? word + " (WAIVED)" : word;
    }

    /// <summary>The status word for a mission check.</summary>
    public string StatusText(CheckOutcome check)
    {
        ArgumentNullException.ThrowIfNull(check);
        var word = !check.Tested ? "UNTESTED" : check.Status switch
        {
            ProbeStatus.Passed => "PASS",
            ProbeStatus.Failed => "FAIL",
            _ => "INCONCLUSIVE",
        };
        return check.Status is not (ProbeStatus.Passed or ProbeStatus.Failed) && IsWaived(check.Check.ToString()) ? word + " (WAIVED)" : word;
    }
}
