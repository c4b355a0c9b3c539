using System.Diagnostics;
using Harness.Manifests;

namespace Harness.Cli;

/// <summary>
/// The native harness reads the later half of a large manifest file in a second copy of itself
/// (<see cref="ManifestLoader.SecondReader"/>): <c>harness __read-documents FILE OFFSET COUNT</c> prints one line per
/// document of the COUNT from byte OFFSET. Anything that goes wrong with it (it cannot start, fails, or answers short) leaves those documents to this
/// process, which reads them as it would have.
/// </summary>
internal static class SecondReader
{
    /// <summary>The hidden command the second process runs.</summary>
    internal const string Command = "__read-documents";

    /// <summary>How long the second process may take beyond this one's half before this one reads its documents itself.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>Sets the loader's second reader when a second process can help: the native harness on more than one core.</summary>
    internal static void Install()
    {
        if (!Native.Live && Environment.ProcessorCount > 1 && Environment.ProcessPath is { } self && Environment.GetEnvironmentVariable("HARNESS_ONE_READER") != "1")
        {
            ManifestLoader.SecondReader = (file, from, count) => Start(self, file, from, count);
        }
    }

    /// <summary>The second process's side: the documents' lines on stdout. Exit 0, or 2 on bad arguments.</summary>
    internal static int Run(string[] args, TextWriter stdout)
    {
        if (args.Length != 4 || !long.TryParse(args[2], out var offset) || !int.TryParse(args[3], out var count))
        {
            return 2;
        }
        foreach (var line in ManifestLoader.ReadForSecondProcess(args[1], offset, count))
        {
            stdout.Write(line);
            stdout.Write('\n');
        }
        stdout.Flush();
        return 0;
    }

    private static Func<IReadOnlyList<string>?> Start(string self, string file, long offset, int count)
    {
        Process process;
        try
        {
            var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in (string[])[Command, Path.GetFullPath(file), offset.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                start.ArgumentList.Add(arg);
            }
            process = Process.Start(start)!;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return () => null;
        }
        var output = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return () =>
        {
            using (process)
            {
                if (!output.Wait(Patience) || !process.WaitForExit(Patience) || process.ExitCode != 0)
                {
                    try
                    {
                        process.Kill();
                    }
                    catch (InvalidOperationException)
                    {
                        // already gone
                    }
                    return null;
                }
                var text = output.Result;
                return text.Length == 0 ? [] : text.TrimEnd('\n').Split('\n');
            }
        };
    }
}
