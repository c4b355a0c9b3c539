using System.Collections.Immutable;
using Harness.Probes;
using Harness.Rbac;

namespace Harness.Verdicts;

/// <summary>The verdict on one hardening check, from every probe and access question that bears on it.</summary>
/// <param name="Check">The check.</param>
/// <param name="Status">Failed if any part failed; else Inconclusive if any part was, or if nothing tested it; else Passed.</param>
/// <param name="Evidence">One line per part: id, status, explanation.</param>
public sealed record CheckOutcome(HardeningCheck Check, ProbeStatus Status, ImmutableArray<string> Evidence)
{
    /// <summary>The four checks of the mission, in the order reports show them.</summary>
    public static ImmutableArray<HardeningCheck> Mission { get; } =
        [HardeningCheck.EgressDenied, HardeningCheck.RootFilesystemReadOnly, HardeningCheck.PrivilegeEscalationDenied, HardeningCheck.SecretsNotReadable];

    /// <summary>False when no probe or question bore on it (e.g. the Secrets check without an API server): its Inconclusive status means "untested".</summary>
    public bool Tested { get; init; } = true;

    /// <summary><c>EgressDenied: Failed</c> and one indented line per piece of evidence.</summary>
    public override string ToString() => $"{Check}: {Status}" + string.Concat(Evidence.Select(e => "\n  " + e));

    /// <summary>Combines probe results and access answers for one check. Pure.</summary>
    public static CheckOutcome Of(HardeningCheck check, IEnumerable<ProbeResult> results, IEnumerable<AccessAnswer>? access = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        var parts = results.Where(r => r.Probe.Check == check)
            .Select(r => (r.Status, Line: $"{r.Probe.Id}: {r.Status} - {r.Explanation}{(r.Evidence.Observed is { } o ? $" [observed: {o}]" : "")}"))
            .Concat((access ?? []).Where(a => a.Question.Check == check).Select(a => (a.Status, Line: $"{a.Question.Id}: {a.Status} - {a.Question.Description}: {a.Evidence}")))
            .ToList();
        var status = parts.Count == 0 ? ProbeStatus.Inconclusive
            : parts.Any(p => p.Status == ProbeStatus.Failed) ? ProbeStatus.Failed
            : parts.Any(p => p.Status == ProbeStatus.Inconclusive) ? ProbeStatus.Inconclusive
            : ProbeStatus.Passed;
        var evidence = parts.Count == 0 ? ["no probe for this check ran"] : parts.Select(p => p.Line).ToImmutableArray();
        return new CheckOutcome(check, status, evidence) { Tested = parts.Count > 0 };
    }
}

/// <summary>A check judged by a live step of its own (the payload inventory, webhook TLS) rather than by probes.</summary>
public interface ILiveCheckReport
{
    /// <summary>Passed, Failed or Inconclusive, as the check judged it.</summary>
    ProbeStatus Status { get; }

    /// <summary>False when there was nothing to judge: the check is untested, not failed.</summary>
    bool Tested { get; }

    /// <summary>One line per fact, control lines included.</summary>
    ImmutableArray<string> Evidence { get; }

    /// <summary>What the check's positive controls showed, one line each: reported as controls because they are controls, whatever their wording.</summary>
    ImmutableArray<string> Controls { get; }
}
