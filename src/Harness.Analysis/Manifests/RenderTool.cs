using System.Diagnostics;

namespace Harness.Manifests;

/// <summary>The external renderers of shipped inputs (kubectl kustomize, kustomize, helm): found on PATH and run to their output.</summary>
internal static class RenderTool
{
    /// <summary>The full path of <paramref name="name"/> on PATH; null when it is not there.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(d => d.Length > 0).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>A rendered object's source file in the form the user gave the input: relative when <paramref name="given"/> was. Pure but for the working directory.</summary>
    public static string AsGiven(string given, string fullPath) =>
        Path.IsPathRooted(given) ? fullPath : Path.GetRelativePath(Environment.CurrentDirectory, fullPath);

    /// <summary>Runs <paramref name="file"/> and returns what it printed.</summary>
    /// <param name="file">The program.</param>
    /// <param name="args">Its arguments.</param>
    /// <param name="input">The input file that errors name.</param>
    /// <param name="failed">The start of the error when it exits non-zero; its last line of stderr follows.</param>
    /// <exception cref="ManifestException">It exited non-zero.</exception>
    public static string Run(string file, IEnumerable<string> args, string input, string failed)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var output = stdout.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
        {
            var reason = stderr.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0) ?? $"exit {process.ExitCode}";
            throw new ManifestException(input, 0, 0, $"{failed}: {reason}");
        }
        return output;
    }
}
