// Waits: bounded polling whose timeout message says what was seen.
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Harness.Waits;

/// <summary>A wait that ran out of time; carries what it was waiting for and the last thing it saw.</summary>
public sealed class WaitTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public WaitTimeoutException(string what, TimeSpan timeout, int observations, string lastObserved, Exception? inner = null)
        : base($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what} ({observations} observations); last seen: {lastObserved}", inner)
    {
        What = what;
        Timeout = timeout;
        Observations = observations;
        LastObserved = lastObserved;
    }

    /// <summary>What was awaited.</summary>
    public string What { get; }

    /// <summary>The bound.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>How many times the condition was observed.</summary>
    public int Observations { get; }

    /// <summary>The last observation, described (pod phases, container states, events...).</summary>
    public string LastObserved { get; }
}

/// <summary>
/// Polls until an observation satisfies a condition, with a bound on the total time, a fixed interval, time from a
/// <see cref="TimeProvider"/> (tests advance it instead of sleeping), and transient errors retried. On timeout it
/// throws <see cref="WaitTimeoutException"/> with the last observation.
/// </summary>
internal static class BoundedWait
{
    /// <summary>Waits until <paramref name="done"/> holds for what <paramref name="observe"/> returns.</summary>
    /// <param name="what">What is awaited, for the message (<c>pod harness-np-server Running</c>).</param>
    /// <param name="observe">Reads the current state.</param>
    /// <param name="done">Whether the state is the awaited one.</param>
    /// <param name="describe">Describes a state for the timeout message.</param>
    /// <param name="timeout">Bound on the whole wait.</param>
    /// <param name="interval">Time between observations.</param>
    /// <param name="transient">Errors worth another observation (default: I/O and HTTP errors); others end the wait.</param>
    /// <param name="time">Clock; the system clock by default.</param>
    /// <param name="ct">Cancellation.</param>
    /// <returns>The first observation that satisfied the condition.</returns>
    /// <exception cref="WaitTimeoutException">The bound passed first.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled.</exception>
    public static async Task<T> UntilAsync<T>(
        string what,
        Func<CancellationToken, ValueTask<T>> observe,
        Func<T, bool> done,
        Func<T, string> describe,
        TimeSpan timeout,
        TimeSpan interval,
        Func<Exception, bool>? transient = null,
        TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(observe);
        ArgumentNullException.ThrowIfNull(done);
        ArgumentNullException.ThrowIfNull(describe);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        transient ??= static e => e is IOException or HttpRequestException;
        var observations = 0;
        var last = "nothing yet";
        Exception? lastError = null;

        var pipeline = new ResiliencePipelineBuilder<T> { TimeProvider = time ?? TimeProvider.System }
            .AddTimeout(new TimeoutStrategyOptions { Timeout = timeout })
            .AddRetry(new RetryStrategyOptions<T>
            {
                MaxRetryAttempts = int.MaxValue,
                Delay = interval,
                BackoffType = DelayBackoffType.Constant,
                UseJitter = false,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: OperationCanceledException } => false,
                    { Exception: { } e } => transient(e),
                    { Result: var r } => !done(r!),
                }),
            })
            .Build();

        try
        {
            return await pipeline.ExecuteAsync(
                async token =>
                {
                    observations++;
                    try
                    {
                        var value = await observe(token).ConfigureAwait(false);
                        last = describe(value);
                        lastError = null;
                        return value;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        last = $"error: {e.Message}";
                        lastError = e;
                        throw;
                    }
                },
                ct).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException e)
        {
            throw new WaitTimeoutException(what, timeout, observations, last, lastError ?? e);
        }
    }
}
