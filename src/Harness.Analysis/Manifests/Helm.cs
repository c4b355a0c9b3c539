namespace Harness.Manifests;

/// <summary>How a chart is rendered: release name, namespace, values files and <c>--set</c> values, as <c>helm template</c> takes them.</summary>
public sealed record HelmOptions
{
    /// <summary>Release <c>harness</c>, the chart's default values.</summary>
    public static HelmOptions Default { get; } = new();

    /// <summary>The release name (default <c>harness</c>).</summary>
    public string ReleaseName { get; init; } = "harness";

    /// <summary>The release namespace; none by default.</summary>
    public string? Namespace { get; init; }

    /// <summary>Values files, in order (<c>--values</c>).</summary>
    public System.Collections.Immutable.ImmutableArray<string> ValuesFiles { get; init; } = [];

    /// <summary><c>--set</c> values (<c>key=value</c>).</summary>
    public System.Collections.Immutable.ImmutableArray<string> Set { get; init; } = [];

    /// <summary>The helm program; by default <c>HARNESS_HELM</c>, then <c>helm</c> on PATH.</summary>
    public string? Program { get; init; }
}

/// <summary>
/// A Helm chart as input: a folder holding <c>Chart.yaml</c> is rendered with <c>helm template</c> (<see cref="HelmOptions"/>:
/// release <c>harness</c> and the chart's default values unless given) and each rendered object is placed at its template (from Helm's
/// <c>Source</c> comments), at the line of its <c>kind:</c> there. No helm: one error naming it and what to do.
/// The helm binary is <c>helm</c> on PATH, or <c>HARNESS_HELM</c>.
/// </summary>
public static partial class Helm
{
    /// <summary>The arguments of <c>helm template</c> for a chart. Pure.</summary>
    public static IReadOnlyList<string> Arguments(string chart, HelmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // --include-crds: `helm install` creates the chart's crds/ first; without them its custom resources name unknown kinds.
        var args = new List<string> { "template", options.ReleaseName, chart, "--include-crds" };
        if (options.Namespace is { } ns)
        {
            args.AddRange(["--namespace", ns]);
        }
        foreach (var values in options.ValuesFiles)
        {
            args.AddRange(["--values", values]);
        }
        foreach (var set in options.Set)
        {
            args.AddRange(["--set", set]);
        }
        return args;
    }

    /// <summary>The variable that names the helm binary (default: <c>helm</c> on PATH).</summary>
    public const string Variable = "HARNESS_HELM";

    /// <summary>Whether <paramref name="folder"/> is a chart.</summary>
    public static bool IsChart(string folder) => File.Exists(Path.Combine(folder, "Chart.yaml"));

    /// <summary>Renders the chart in <paramref name="folder"/>.</summary>
    /// <exception cref="ManifestException">helm is missing, or the chart does not render; the message says what to do.</exception>
    public static IReadOnlyList<ManifestDocument> Render(string folder) => Render(folder, HelmOptions.Default, []);

    /// <summary>Renders the chart in <paramref name="folder"/> with <paramref name="options"/>; what the user should know goes to <paramref name="notes"/>.</summary>
    /// <exception cref="ManifestException">helm is missing, or the chart does not render; the message says what to do.</exception>
    public static IReadOnlyList<ManifestDocument> Render(string folder, HelmOptions options, ICollection<string> notes)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(notes);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var chart = Path.GetFullPath(folder);
        var chartFile = Path.Combine(chart, "Chart.yaml");
        var given = options.Program ?? (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null);
        var helm = given ?? RenderTool.Find("helm");
        if (given is not null && !File.Exists(given))
        {
            throw new ManifestException(chartFile, 0, 0, $"is a Helm chart, and the helm given to render it ({(options.Program is null ? Variable + "=" : "")}{given}) does not exist: point {(options.Program is null ? Variable : "it")} at the helm binary, or render the chart yourself (`helm template NAME DIR > rendered.yaml`) and give that file.");
        }
        if (helm is null || !File.Exists(helm))
        {
            throw new ManifestException(chartFile, 0, 0, "is a Helm chart, and helm is not on PATH to render it: install helm (https://helm.sh/docs/intro/install/), set HARNESS_HELM to it, or render the chart yourself (`helm template NAME DIR > rendered.yaml`) and give that file.");
        }
        // helm template has no cluster: `lookup` answers nothing, and the templates that use it render their fallback.
        // Only a call in a template action counts (a CRD's prose may say "lookup").
        var lookups = Directory.EnumerateFiles(chart, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetRelativePath(chart, f).Split(Path.DirectorySeparatorChar).Contains("templates"))
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".tpl", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".txt", StringComparison.Ordinal))
            .Where(f => LookupCall().IsMatch(File.ReadAllText(f))).ToList();
        if (lookups.Count > 0)
        {
            notes.Add($"{chartFile}: {string.Join(", ", lookups.Select(l => Path.GetRelativePath(chart, l)))} call lookup, which answers nothing without a cluster: rendered with empty lookups");
        }
        var rendered = RenderTool.Run(helm, Arguments(chart, options), chartFile, "`helm template` could not render the chart");
        var lines = rendered.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        var templates = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var seen = new Dictionary<(string, string), int>();
        return [.. ManifestLoader.LoadText(rendered, chartFile).Select(d => Place(d, lines, chart, templates, seen)).Select(d => d with { Path = RenderTool.AsGiven(folder, d.Path) })];
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\{\{-?[^}]*\blookup\b")]
    private static partial System.Text.RegularExpressions.Regex LookupCall();

    /// <summary>
    /// The document at its template: the nearest <c># Source: CHART/templates/x.yaml</c> above it, at the <c>kind:</c> line
    /// of its kind that its place among that template's rendered documents of the kind gives (the second ClusterRole a
    /// template renders is at its second <c>kind: ClusterRole</c>; a loop that renders more than the template spells out
    /// stays at the last); <paramref name="templates"/> holds the templates read so far, <paramref name="seen"/> how many
    /// documents of each template and kind were placed before this one.
    /// </summary>
    internal static ManifestDocument Place(ManifestDocument doc, string[] rendered, string chart, Dictionary<string, string[]> templates, Dictionary<(string, string), int>? seen = null)
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
            // A template that renders several objects is read once.
            if (!templates.TryGetValue(path, out var template))
            {
                templates[path] = template = File.ReadAllLines(path);
            }
            var kinds = template.Select((l, i) => (Line: l, Index: i)).Where(x => KindLine(x.Line, doc.Kind)).Select(x => x.Index).ToList();
            var ordinal = 0;
            if (seen is not null)
            {
                seen.TryGetValue((path, doc.Kind), out ordinal);
                seen[(path, doc.Kind)] = ordinal + 1;
            }
            line = kinds.Count == 0 ? 1 : kinds[Math.Min(ordinal, kinds.Count - 1)] + 1;
        }
        return doc with { Path = path, Line = line, SourceText = "" };
    }

    // `kind: ClusterRole`, not `kind: ClusterRoleBinding`.
    private static bool KindLine(string line, string kind)
    {
        var text = line.TrimStart();
        return text.StartsWith($"kind: {kind}", StringComparison.Ordinal) && (text.Length == kind.Length + 6 || !char.IsLetterOrDigit(text[kind.Length + 6]));
    }
}
