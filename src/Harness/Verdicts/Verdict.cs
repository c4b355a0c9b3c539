using Harness.Probes;

namespace Harness.Verdicts;

/// <summary>What an attempt came to.</summary>
public enum VerdictKind
{
    /// <summary>The attempt was stopped, by <see cref="Verdict.Mechanism"/>.</summary>
    Denied,

    /// <summary>The attempt succeeded.</summary>
    Allowed,

    /// <summary>The observation proves nothing either way; <see cref="Verdict.Reason"/> says why.</summary>
    Inconclusive,
}

/// <summary>A probe's verdict: <c>Denied(mechanism)</c>, <c>Allowed</c> or <c>Inconclusive(reason)</c>.</summary>
public readonly record struct Verdict(VerdictKind Kind, Mechanism? Mechanism, string? Reason)
{
    /// <summary>Denied by <paramref name="mechanism"/>.</summary>
    public static Verdict Denied(Mechanism mechanism) => new(VerdictKind.Denied, mechanism, null);

    /// <summary>The attempt succeeded.</summary>
    public static Verdict Allowed() => new(VerdictKind.Allowed, null, null);

    /// <summary>Nothing can be concluded, because of <paramref name="reason"/>.</summary>
    public static Verdict Inconclusive(string reason) => new(VerdictKind.Inconclusive, null, reason);

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        VerdictKind.Denied => $"Denied({Mechanism})",
        VerdictKind.Allowed => "Allowed",
        _ => $"Inconclusive({Reason})",
    };
}

/// <summary>Whether a probe's expectation held.</summary>
public enum ProbeStatus
{
    /// <summary>Observed matched expected, by an accepted mechanism, and the control succeeded.</summary>
    Passed,

    /// <summary>The protection is absent: a denied-expected attempt succeeded, or an allowed-expected one was denied.</summary>
    Failed,

    /// <summary>The verdict cannot be trusted either way (control failed, unexpected mechanism, agent error).</summary>
    Inconclusive,
}

/// <summary>The evidence behind a verdict, already redacted.</summary>
/// <param name="Attempt">What was attempted and what came back.</param>
/// <param name="Errno">Symbolic errno, when a system call failed.</param>
/// <param name="HttpStatus">HTTP status, for HTTP and API probes.</param>
/// <param name="StatusReason">V1Status reason from the API server.</param>
/// <param name="Data">Structured observations (capability masks, euid, addresses, stage).</param>
/// <param name="DurationMs">Time the attempt took.</param>
/// <param name="Control">What the control did and whether it proved its point; null when the observation is its own control.</param>
public sealed record Evidence(
    string Attempt,
    string? Errno,
    int? HttpStatus,
    string? StatusReason,
    IReadOnlyDictionary<string, string> Data,
    long DurationMs,
    ControlEvidence? Control)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>What the attempt observed, as the agent reported it: the probe process itself, or the target process (pid, name) and how.</summary>
    public string? Observed => Data.TryGetValue(Protocol.DataKeys.Observed, out var o) ? o : null;
}

/// <summary>The control's part of the evidence.</summary>
/// <param name="Proves">What a success demonstrates.</param>
/// <param name="Succeeded">Whether it did.</param>
/// <param name="Detail">What it observed.</param>
/// <param name="Vantage">Where it ran.</param>
public sealed record ControlEvidence(string Proves, bool Succeeded, string Detail, Vantage Vantage);

/// <summary>One probe's outcome: the verdict, whether the expectation held, why, and the evidence.</summary>
/// <param name="Probe">The probe.</param>
/// <param name="Verdict">What the attempt came to.</param>
/// <param name="Status">Whether the expectation held.</param>
/// <param name="Explanation">One sentence a report reader can act on.</param>
/// <param name="Evidence">The redacted evidence.</param>
public sealed record ProbeResult(ProbeDefinition Probe, Verdict Verdict, ProbeStatus Status, string Explanation, Evidence Evidence);
