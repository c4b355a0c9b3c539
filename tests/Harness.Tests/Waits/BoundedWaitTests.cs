using Harness.Waits;
using Microsoft.Extensions.Time.Testing;

namespace Harness.Tests.Waits;

public sealed class BoundedWaitTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    /// <summary>Advances the fake clock one interval at a time until the wait ends (no real sleeping).</summary>
    private static async Task<T> Drive<T>(FakeTimeProvider time, Task<T> wait)
    {
        for (var i = 0; i < 1000 && !wait.IsCompleted; i++)
        {
            await Task.Delay(1, TestContext.Current.CancellationToken);
            time.Advance(Interval);
        }
        return await wait;
    }

    [Fact]
    public async Task UntilAsync_ConditionMetOnThirdLook_ReturnsThatObservation()
    {
        var time = new FakeTimeProvider();
        var looks = 0;

        var wait = BoundedWait.UntilAsync("phase Running", _ => ValueTask.FromResult(++looks >= 3 ? "Running" : "Pending"),
            p => p == "Running", p => p, TimeSpan.FromMinutes(1), Interval, time: time, ct: TestContext.Current.CancellationToken);

        (await Drive(time, wait)).Should().Be("Running");
        looks.Should().Be(3);
    }

    [Fact]
    public async Task UntilAsync_NeverMet_TimesOutWithTheLastObservation()
    {
        var time = new FakeTimeProvider();
        var looks = 0;

        var wait = BoundedWait.UntilAsync("pod np-server Running", _ => ValueTask.FromResult($"Pending (look {++looks}): ImagePullBackOff"),
            p => p.StartsWith("Running", StringComparison.Ordinal), p => p, TimeSpan.FromSeconds(30), Interval, time: time, ct: TestContext.Current.CancellationToken);

        var ex = (await FluentActions.Awaiting(() => Drive(time, wait)).Should().ThrowAsync<WaitTimeoutException>()).Which;
        ex.What.Should().Be("pod np-server Running");
        ex.LastObserved.Should().Contain("ImagePullBackOff");
        ex.Observations.Should().BeInRange(14, 17, "one look every 2 s for 30 s");
        ex.Message.Should().StartWith("timed out after 30 s waiting for pod np-server Running");
    }

    [Fact]
    public async Task UntilAsync_TransientErrors_AreRetriedAndReported()
    {
        var time = new FakeTimeProvider();
        var looks = 0;

        var wait = BoundedWait.UntilAsync<string>("API server", _ => ++looks < 3 ? throw new HttpRequestException("connection refused") : ValueTask.FromResult("ok"),
            p => p == "ok", p => p, TimeSpan.FromMinutes(1), Interval, time: time, ct: TestContext.Current.CancellationToken);

        (await Drive(time, wait)).Should().Be("ok");

        var failing = BoundedWait.UntilAsync<string>("API server", _ => throw new HttpRequestException("connection refused"),
            p => p == "ok", p => p, TimeSpan.FromSeconds(10), Interval, time: time, ct: TestContext.Current.CancellationToken);
        var ex = (await FluentActions.Awaiting(() => Drive(time, failing)).Should().ThrowAsync<WaitTimeoutException>()).Which;
        ex.LastObserved.Should().Be("error: connection refused");
        ex.InnerException.Should().BeOfType<HttpRequestException>();
    }

    [Fact]
    public async Task UntilAsync_NonTransientError_EndsTheWaitAtOnce()
    {
        var looks = 0;

        var act = () => BoundedWait.UntilAsync<string>("x", _ => { looks++; throw new InvalidOperationException("bad request"); },
            _ => true, p => p, TimeSpan.FromMinutes(1), Interval, ct: TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<InvalidOperationException>();
        looks.Should().Be(1);
    }

    [Fact]
    public async Task UntilAsync_Cancelled_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource();
        var time = new FakeTimeProvider();
        var wait = BoundedWait.UntilAsync("x", _ => ValueTask.FromResult(0), v => v == 1, v => "0", TimeSpan.FromMinutes(1), Interval, time: time, ct: cts.Token);

        await cts.CancelAsync();

        await FluentActions.Awaiting(() => wait).Should().ThrowAsync<OperationCanceledException>();
    }
}
