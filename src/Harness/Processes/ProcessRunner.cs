// Processes: running external commands (kind, kubectl, cosign) with bounds and captured output.
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Harness.Clusters;

namespace Harness.Processes;

/// <summary>What a finished command printed and returned.</summary>
/// <param name="CommandLine">The command as run (for messages).</param>
/// <param name="ExitCode">Exit code.</param>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error.</param>
internal sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Throws <see cref="CommandFailedException"/> unless the exit code is 0.</summary>
    public ProcessResult EnsureSuccess() => ExitCode == 0 ? this : throw new CommandFailedException(this);
}

/// <summary>A command the harness runs (kind, kubectl, cosign) exited non-zero; carries its command line, exit code and output.</summary>
public sealed class CommandFailedException : Exception
{
    internal CommandFailedException(ProcessResult result)
        : base($"`{result.CommandLine}` exited with {result.ExitCode}: {Tail(result.Stderr.Length > 0 ? result.Stderr : result.Stdout)}")
    {
        CommandLine = result.CommandLine;
        ExitCode = result.ExitCode;
        Stdout = result.Stdout;
        Stderr = result.Stderr;
    }

    /// <summary>The command line, as run.</summary>
    public string CommandLine { get; }

    /// <summary>Its exit code.</summary>
    public int ExitCode { get; }

    /// <summary>What it wrote to stdout.</summary>
    public string Stdout { get; }

    /// <summary>What it wrote to stderr.</summary>
    public string Stderr { get; }

    private static string Tail(string text)
    {
        var lines = text.Trim().Split('\n');
        return string.Join("\n", lines.TakeLast(15));
    }
}

/// <summary>Runs an external command (kind, kubectl, helm) with a bound, killing its process tree on timeout or cancellation.</summary>
internal static class ProcessRunner
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/> and collects its output.</summary>
    /// <exception cref="PrerequisiteException">The program cannot be started (not installed, not executable).</exception>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/>; it was killed.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; it was killed.</exception>
    public static async Task<ProcessResult> RunAsync(
        string file,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(file);
        ArgumentNullException.ThrowIfNull(arguments);
        var commandLine = string.Join(" ", new[] { Path.GetFileName(file) }.Concat(arguments.Select(Quote)));
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>())
        {
            // null removes the variable from the child's environment.
            if (v is null)
            {
                info.Environment.Remove(k);
            }
            else
            {
                info.Environment[k] = v;
            }
        }
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new PrerequisiteException(Path.GetFileName(file), $"cannot be started ({e.Message}).", $"Install {Path.GetFileName(file)} and put it on PATH.", e);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException($"`{commandLine}` did not finish within {timeout.TotalSeconds:0} s and was stopped. Last output: {stderr}{stdout}".TrimEnd());
        }
        process.WaitForExit(); // flush the asynchronous readers
        return new ProcessResult(commandLine, process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static string Quote(string a) => a.Length == 0 || a.Any(char.IsWhiteSpace) ? $"'{a}'" : a;
}
