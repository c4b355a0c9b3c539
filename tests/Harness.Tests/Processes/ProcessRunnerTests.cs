using Harness.Clusters;
using Harness.Processes;

namespace Harness.Tests.Processes;

public sealed class ProcessRunnerTests
{
    [Fact]
    public async Task RunAsync_CollectsOutputAndExitCode()
    {
        var result = await ProcessRunner.RunAsync("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], TimeSpan.FromSeconds(30), ct: TestContext.Current.CancellationToken);

        result.ExitCode.Should().Be(3);
        result.Stdout.Should().Be("out\n");
        result.Stderr.Should().Be("err\n");
        var act = () => result.EnsureSuccess();
        act.Should().Throw<CommandFailedException>().WithMessage("`sh -c 'echo out; echo err >&2; exit 3'` exited with 3: err");
    }

    [Fact]
    public async Task RunAsync_PassesEnvironment()
    {
        Environment.GetEnvironmentVariable("HOME").Should().NotBeNull("the removal below needs a variable the parent has");
        var result = await ProcessRunner.RunAsync("/bin/sh", ["-c", "printf '%s|%s' \"$HARNESS_X\" \"${HOME-unset}\""], TimeSpan.FromSeconds(30),
            new Dictionary<string, string?> { ["HARNESS_X"] = "y", ["HOME"] = null }, ct: TestContext.Current.CancellationToken);

        result.Stdout.Should().Be("y|unset\n", "a null value removes the variable from the child's environment");
    }

    [Fact]
    public async Task RunAsync_OverTheBound_KillsItAndSaysSo()
    {
        var started = DateTime.UtcNow;

        var act = () => ProcessRunner.RunAsync("/bin/sh", ["-c", "echo begun; sleep 30"], TimeSpan.FromSeconds(1), ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<TimeoutException>()).Which.Message.Should().Contain("did not finish within 1 s").And.Contain("begun");
        (DateTime.UtcNow - started).Should().BeLessThan(TimeSpan.FromSeconds(20), "the process was killed, not waited for");
    }

    [Fact]
    public async Task RunAsync_MissingProgram_IsAPrerequisiteError()
    {
        var act = () => ProcessRunner.RunAsync("/nonexistent/kind", ["version"], TimeSpan.FromSeconds(5), ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Prerequisite.Should().Be("kind");
    }
}
