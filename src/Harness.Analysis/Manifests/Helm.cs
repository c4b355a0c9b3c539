using System.Diagnostics;

namespace Harness.Manifests;

/// <summary>
/// A Helm chart as input: a folder holding <c>Chart.yaml</c> is rendered with <c>helm template</c> (release
/// <c>harness</c>, the chart's default values) and each rendered object is placed at its template (from Helm's
/// <c>Source</c> comments), at the line of its <c>kind:</c> there. No helm: one error naming it and what to do.
/// The helm binary is <c>helm</c> on PATH, or <c>HARNESS_HELM</c>.
/// </summary>
public static class Helm
{
    /// <summary>The variable that names the helm binary (default: <c>helm</c> on PATH).</summary>
    public const string Variable = "HARNESS_HELM";

    /// <summary>Whether <paramref name="folder"/> is a chart.</summary>
    public static bool IsChart(string folder) => File.Exists(Path.Combine(folder, "Chart.yaml"));

    /// <summary>Renders the chart in <paramref name="folder"/>.</summary>
    /// <exception cref="ManifestException">helm is missing, or the chart does not render; the message says what to do.</exception>
    public static IReadOnlyList<ManifestDocument> Render(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var chart = Path.GetFullPath(folder);
        var chartFile = Path.Combine(chart, "Chart.yaml");
        var helm = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given ? given
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "helm")).FirstOrDefault(File.Exists);
        if (helm is null || !File.Exists(helm))
        {
            throw new ManifestException(chartFile, 0, 0, "is a Helm chart, and helm is not on PATH to render it: install helm (https://helm.sh/docs/intro/install/), set HARNESS_HELM to it, or render the chart yourself (`helm template NAME DIR > rendered.yaml`) and give that file.");
        }
        var start = new ProcessStartInfo(helm) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "template", "harness", chart })
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var rendered = stdout.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
        {
            var reason = stderr.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0) ?? $"exit {process.ExitCode}";
            throw new ManifestException(chartFile, 0, 0, $"`helm template` could not render the chart: {reason}");
        }
        var lines = rendered.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        return [.. ManifestLoader.LoadText(rendered, chartFile).Select(d => Place(d, lines, chart))];
    }

    /// <summary>The document at its template: the nearest <c># Source: CHART/templates/x.yaml</c> above it. Pure.</summary>
    internal static ManifestDocument Place(ManifestDocument doc, string[] rendered, string chart)
    {
        var source = rendered.Take(Math.Max(doc.Line - 1, 0)).Reverse().FirstOrDefault(l => l.StartsWith("# Source: ", StringComparison.Ordinal));
        if (source is null)
        {
            return doc;
        }
        var relative = source["# Source: ".Length..].Trim();
        var slash = relative.IndexOf('/', StringComparison.Ordinal);
        var path = Path.Combine(chart, slash < 0 ? relative : relative[(slash + 1)..]);
        var line = 1;
        if (File.Exists(path))
        {
            var template = File.ReadAllLines(path);
            var kind = Array.FindIndex(template, l => l.TrimStart().StartsWith($"kind: {doc.Kind}", StringComparison.Ordinal));
            line = kind < 0 ? 1 : kind + 1;
        }
        return doc with { Path = path, Line = line, SourceText = "" };
    }
}
