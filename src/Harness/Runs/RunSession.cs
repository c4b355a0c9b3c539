namespace Harness.Runs;

/// <summary>
/// One run of the harness: its id (in the name and labels of everything it creates), the clock its phases are timed
/// by, where progress goes, and its cancellation. The xUnit fixture, the CLI and scenario files each make one and hand
/// it to an <see cref="OperatorRun"/>.
/// </summary>
public sealed class RunSession
{
    /// <summary>Creates a session.</summary>
    /// <param name="log">Progress lines; none when null.</param>
    /// <param name="id">The id; a fresh one when null.</param>
    /// <param name="time">The clock phases are timed by.</param>
    /// <param name="ct">Cancels the whole run.</param>
    public RunSession(TextWriter? log = null, SessionId? id = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        Id = id ?? SessionId.New();
        Log = log ?? TextWriter.Null;
        Time = time ?? TimeProvider.System;
        Clock = new PhaseClock(Time);
        Cancellation = ct;
        Started = Time.GetUtcNow();
    }

    private RunSession(RunSession of, CancellationToken ct)
    {
        Id = of.Id;
        Log = of.Log;
        Time = of.Time;
        Clock = of.Clock;
        Cancellation = ct;
        Started = of.Started;
    }

    /// <summary>The same session (id, log, clock) cancelled by <paramref name="ct"/>: what the stages of a run see, so one failing stops the others.</summary>
    internal RunSession WithCancellation(CancellationToken ct) => new(this, ct);

    /// <summary>The session id.</summary>
    public SessionId Id { get; }

    /// <summary>Progress lines.</summary>
    public TextWriter Log { get; }

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>Phase timings of this run.</summary>
    public PhaseClock Clock { get; }

    /// <summary>Cancels the run.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>When the session began.</summary>
    public DateTimeOffset Started { get; }

    /// <summary>The labels every object of this run carries.</summary>
    public IReadOnlyDictionary<string, string> Labels => new Dictionary<string, string>
    {
        [SessionLabels.Owner] = "harness",
        [SessionLabels.Session] = Id.Value,
    };

    /// <summary>Writes one progress line.</summary>
    public Task LogAsync(string line) => Log.WriteLineAsync(line);
}
