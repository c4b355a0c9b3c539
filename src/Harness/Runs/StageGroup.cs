namespace Harness.Runs;

/// <summary>
/// The stages of one run that go on at the same time. Each is watched: the first to fail stops the others (through the
/// run's own cancellation), and is the failure the run reports, not the cancellations it caused. Before teardown every
/// stage is settled, so nothing is removed while a stage still creates things.
/// </summary>
internal sealed class StageGroup
{
    private readonly RunSession outer;
    private readonly CancellationTokenSource stop;
    private readonly List<Task> started = [];
    private Exception? first;

    /// <summary>Groups the stages of a run of <paramref name="session"/>; <paramref name="stop"/> is linked to its cancellation.</summary>
    public StageGroup(RunSession session, CancellationTokenSource stop)
    {
        outer = session;
        this.stop = stop;
        Session = session.WithCancellation(stop.Token);
    }

    /// <summary>The run's session as its stages see it: cancelled when a stage fails, too.</summary>
    public RunSession Session { get; }

    /// <summary>Watches <paramref name="task"/>, and returns it.</summary>
    public T Watch<T>(T task)
        where T : Task
    {
        lock (started)
        {
            started.Add(task);
        }
        _ = task.ContinueWith(
            t =>
            {
                if (t.Exception?.InnerException is { } e && e is not OperationCanceledException)
                {
                    // Recorded before the others are cancelled: whoever sees their cancellation finds this.
                    Interlocked.CompareExchange(ref first, e, null);
                    try
                    {
                        stop.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The run is over.
                    }
                }
            },
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return task;
    }

    /// <summary>
    /// Stops and settles every stage after the run saw <paramref name="seen"/>, and returns the failure to report: the
    /// first stage's own failure when what the run saw is only the cancellation it caused.
    /// </summary>
    public async Task<Exception> StopAsync(Exception seen)
    {
        await stop.CancelAsync().ConfigureAwait(false);
        Task[] all;
        lock (started)
        {
            all = [.. started];
        }
        await Task.WhenAll(all).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        var cause = Volatile.Read(ref first) ?? all.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException);
        return seen is OperationCanceledException && !outer.Cancellation.IsCancellationRequested && cause is not null ? cause : seen;
    }

    /// <summary>
    /// Tears down what a stage started, once it is done: nothing when it failed (a stage cleans up its own half-start).
    /// Disposing twice does nothing the second time.
    /// </summary>
    public static IAsyncDisposable DisposeWhenDone<T>(Task<T> stage, Func<T, IAsyncDisposable?> started) => new Pending<T>(stage, started);

    private sealed class Pending<T>(Task<T> stage, Func<T, IAsyncDisposable?> started) : IAsyncDisposable
    {
        private int disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0)
            {
                return;
            }
            T value;
            try
            {
                value = await stage.ConfigureAwait(false);
            }
            catch (Exception)
            {
                return; // it started nothing that outlived its failure
            }
            if (started(value) is { } resource)
            {
                await resource.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
