namespace Harness.Manifests;

/// <summary>
/// A kustomize tree as input (a kubebuilder or operator-sdk <c>config/default</c>): rendered with <c>kubectl kustomize</c>
/// (or <c>kustomize build</c>) through a temporary overlay that turns on <c>buildMetadata: [originAnnotations]</c>, so each
/// rendered object says which source file it came from; findings then point at that file and the object's line in it,
/// and the annotation is removed before anything is analysed or applied. Remote bases are refused: nothing here fetches.
/// </summary>
public static class Kustomize
{
    /// <summary>The file names that make a folder a kustomization.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

    private const string Origin = "config.kubernetes.io/origin";

    /// <summary>Whether <paramref name="folder"/> is a kustomization (it holds one of <see cref="FileNames"/>).</summary>
    public static bool IsKustomization(string folder) => FileNames.Any(f => File.Exists(Path.Combine(folder, f)));

    /// <summary>Renders the kustomization in <paramref name="folder"/>, each object located in its source file.</summary>
    /// <exception cref="ManifestException">kubectl (or kustomize) is missing, the kustomization names a remote base, or rendering fails; the message says what to do.</exception>
    public static IReadOnlyList<ManifestDocument> Render(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var root = Path.GetFullPath(folder);
        var kustomization = FileNames.Select(f => Path.Combine(root, f)).First(File.Exists);
        if (RemoteBase(File.ReadAllText(kustomization)) is { } remote)
        {
            throw new ManifestException(kustomization, 0, 0, $"names the remote base {remote}; the harness does not fetch: vendor it into the repository (e.g. `git subtree` or a copy) and refer to the local folder.");
        }
        var overlay = Directory.CreateTempSubdirectory("harness-kustomize-");
        try
        {
            File.WriteAllText(Path.Combine(overlay.FullName, "kustomization.yaml"),
                $"resources:\n- {Path.GetRelativePath(overlay.FullName, root).Replace('\\', '/')}\nbuildMetadata: [originAnnotations]\n");
            var rendered = Run(overlay.FullName, kustomization);
            // Each rendered document is bound once, its origin annotation taken out first; each source file is read once.
            var sources = new Dictionary<string, List<ManifestDocument>>(StringComparer.Ordinal);
            return
            [
                .. ManifestLoader.SplitDocuments(rendered, kustomization)
                    .SelectMany(part => Locate(part.Text, overlay.FullName, kustomization, sources))
                    .Select(d => d with { Path = RenderTool.AsGiven(folder, d.Path) }),
            ];
        }
        finally
        {
            overlay.Delete(recursive: true);
        }
    }

    /// <summary>The first remote resource a kustomization names (a URL, or <c>github.com/...</c>); null when none. Pure.</summary>
    internal static string? RemoteBase(string kustomizationText) =>
        kustomizationText.Split('\n').Select(l => l.Trim().TrimStart('-').Trim().Trim('"', '\'')).FirstOrDefault(l =>
            l.StartsWith("https://", StringComparison.Ordinal) || l.StartsWith("http://", StringComparison.Ordinal)
            || l.StartsWith("git::", StringComparison.Ordinal) || l.StartsWith("github.com/", StringComparison.Ordinal) || l.StartsWith("ssh://", StringComparison.Ordinal));

    /// <summary>The rendered document placed at its source file and line (from the origin annotation), the annotation removed.</summary>
    private static IEnumerable<ManifestDocument> Locate(string rendered, string overlay, string kustomization, Dictionary<string, List<ManifestDocument>> sources)
    {
        var originText = (string?)YamlJson.FromText(rendered)?["metadata"]?["annotations"]?[Origin] ?? OriginFromText(rendered);
        var source = originText?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("path:", StringComparison.Ordinal))?["path:".Length..].Trim();
        foreach (var doc in ManifestLoader.LoadText(RemoveOrigin(rendered), kustomization))
        {
            if (source is null)
            {
                yield return doc with { Path = kustomization, Line = 1 };
                continue;
            }
            var path = Path.GetFullPath(Path.Combine(overlay, source));
            if (!sources.TryGetValue(path, out var candidates))
            {
                try
                {
                    candidates = File.Exists(path) ? [.. ManifestLoader.LoadText(File.ReadAllText(path), path)] : [];
                }
                catch (ManifestException)
                {
                    candidates = []; // a source kustomize can read and we cannot (a patch fragment): the file is still the right place
                }
                sources[path] = candidates;
            }
            // The object's own document in its source file: same kind, and a name the prefixes and suffixes were added to.
            var sameKind = candidates.Where(c => c.Kind == doc.Kind).ToList();
            var match = sameKind.FirstOrDefault(c => c.Name.Length > 0 && doc.Name.Contains(c.Name, StringComparison.Ordinal)) ?? sameKind.FirstOrDefault();
            yield return doc with { Path = path, Line = match?.Line ?? 1, SourceText = match?.Text ?? "" };
        }
    }

    private static string? OriginFromText(string text)
    {
        var at = text.IndexOf(Origin + ":", StringComparison.Ordinal);
        return at < 0 ? null : string.Join('\n', text[at..].Split('\n').Skip(1).TakeWhile(l => l.StartsWith("      ", StringComparison.Ordinal)));
    }

    // The annotation is the harness's: it is not applied to the cluster, and an annotations map left empty is dropped.
    private static string RemoveOrigin(string text)
    {
        var lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n').ToList();
        var at = lines.FindIndex(l => l.TrimStart().StartsWith(Origin + ":", StringComparison.Ordinal));
        if (at < 0)
        {
            return text;
        }
        var indent = lines[at].Length - lines[at].TrimStart().Length;
        var end = at + 1;
        while (end < lines.Count && (lines[end].Length - lines[end].TrimStart().Length > indent || lines[end].Trim().Length == 0) && end < lines.Count - 1)
        {
            end++;
        }
        lines.RemoveRange(at, end - at);
        var header = at - 1;
        if (header >= 0 && lines[header].Trim() == "annotations:" && (header + 1 >= lines.Count || lines[header + 1].Length - lines[header + 1].TrimStart().Length <= lines[header].Length - lines[header].TrimStart().Length))
        {
            lines.RemoveAt(header);
        }
        return string.Join('\n', lines);
    }

    private static string Run(string overlay, string kustomization)
    {
        var (file, args) = RenderTool.Find("kustomize") is not null ? ("kustomize", new[] { "build", overlay }) : ("kubectl", new[] { "kustomize", overlay });
        if (RenderTool.Find(file) is null)
        {
            throw new ManifestException(kustomization, 0, 0, "is a kustomization, and neither kubectl nor kustomize is on PATH to render it: install kubectl (it has kustomize built in), or render it yourself (`kubectl kustomize DIR > rendered.yaml`) and give that file.");
        }
        return RenderTool.Run(file, args, kustomization, $"`{file} {string.Join(' ', args.Take(args.Length - 1))}` could not render it");
    }
}
