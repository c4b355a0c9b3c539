using System.Diagnostics;
using System.Text.RegularExpressions;
using Harness.Tests.Docker;

namespace Harness.Tests.Qualification;

/// <summary>
/// Issue #23, item 4, on the real program: <c>harness qualify</c> (docker vehicle, real containers) stopped by SIGINT
/// and by SIGTERM half-way through stops, removes its containers and networks, prints one line and exits 130 / 143.
/// </summary>
public sealed partial class StopSignalTests(DockerFixture docker)
{
    [Theory]
    [InlineData("INT", 130, 1000)]
    [InlineData("TERM", 143, 1000)]
    // At once: the signal lands while containers and networks are being created (a create cancelled in flight once
    // completed in the daemon after the teardown had looked, and leaked).
    [InlineData("INT", 130, 0)]
    [InlineData("TERM", 143, 150)]
    public async Task Qualify_StoppedBySignal_TearsDownAndExitsWithTheShellsCode(string signal, int expected, int afterMs)
    {
        var ct = TestContext.Current.CancellationToken;
        docker.Require();
        var output = Directory.CreateTempSubdirectory("harness-stop-");
        // A background job of a non-interactive shell starts with SIGINT ignored, and a child inherits that (so does .NET,
        // which then keeps it ignored): the child is started with its default disposition restored (issue #38 item 5).
        var start = new ProcessStartInfo(InheritsIgnoredSigint() ? "env" : "dotnet");
        if (start.FileName == "env")
        {
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add("dotnet");
        }
        using var process = Process.Start(new ProcessStartInfo(start.FileName, start.ArgumentList)
        {
            ArgumentList =
            {
                CliPath(), "qualify", "--vehicle", "docker", "--deployment", "greeter-operator",
                "--manifests", $"{RepoPaths.File("fixtures/sample-operator/shared")},{RepoPaths.File("fixtures/sample-operator/hardened")}", "--output", output.FullName,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["CI"] = "true", ["DOCKER_API_VERSION"] = "1.41", ["TESTCONTAINERS_RYUK_DISABLED"] = "true" },
        })!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        string? session = null;
        var seen = new List<string>();
        // Wait until the run has containers up (the vehicle is starting or probing), then stop it.
        while (await process.StandardOutput.ReadLineAsync(ct) is { } line)
        {
            seen.Add(line);
            session ??= SessionLine().Match(line) is { Success: true } m ? m.Groups[1].Value : null;
            if (line.Contains("operator: ", StringComparison.Ordinal))
            {
                break;
            }
        }
        session.Should().NotBeNull(string.Join("\n", seen));
        await Task.Delay(afterMs, ct);
        var stopped = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", $"-{signal} {process.Id}"))
        {
            await kill.WaitForExitAsync(ct);
        }
        var rest = process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var took = stopped.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"SIG{signal}: exited {process.ExitCode} after {took.TotalSeconds:0.0} s\n{await stderr}");

        process.ExitCode.Should().Be(expected);
        var errors = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        errors.Should().ContainSingle().Which.Should().Be($"harness: stopped by SIG{signal}; the run tore down what it had created");
        (await stderr).Should().NotContain("Unhandled exception").And.NotContain("   at ");
        took.Should().BeLessThan(TimeSpan.FromSeconds(30), "it stops, it does not finish the run");
        (await rest).Should().NotContain("reports:", "a stopped run writes no report");
        (await DockerAsync($"ps -a -q --filter label=io.harness.session={session}")).Should().BeEmpty("its containers are gone");
        (await DockerAsync($"network ls -q --filter label=io.harness.session={session}")).Should().BeEmpty("its networks are gone");
        output.Delete(recursive: true);
    }

    /// <summary>Whether this process was started with SIGINT ignored (<c>SigIgn</c> in /proc/self/status has bit 1 set).</summary>
    private static bool InheritsIgnoredSigint()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }

    /// <summary>The program as built in its own output folder (same configuration as the tests), with its own dependencies.</summary>
    private static string CliPath()
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/{Configuration}/net10.0/
        var path = RepoPaths.File($"src/Harness.Cli/bin/{configuration}/net10.0/Harness.Cli.dll");
        File.Exists(path).Should().BeTrue($"the CLI is built with the tests ({path})");
        return path;
    }

    private static async Task<string> DockerAsync(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("docker", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text.Trim();
    }

    [GeneratedRegex(@"^session ([a-z0-9-]+) ")]
    private static partial Regex SessionLine();
}
