using System.Text.RegularExpressions;

namespace Harness.Manifests;

/// <summary>
/// Where inside a manifest document a finding's cause is: the line of a rule of a role, or of a container. Found in the
/// document's own text (block and flow YAML alike); the document's first line when it cannot be told. Pure.
/// </summary>
internal static partial class LineLocator
{
    /// <summary>The file line of the <paramref name="index"/>-th entry of <c>rules:</c> in a Role or ClusterRole.</summary>
    public static int RuleLine(ManifestDocument doc, int index)
    {
        ArgumentNullException.ThrowIfNull(doc);
        var lines = Lines(doc);
        var rules = Array.FindIndex(lines, l => RulesKey().IsMatch(l));
        if (rules < 0)
        {
            return doc.Line;
        }
        if (!string.IsNullOrWhiteSpace(RulesKey().Match(lines[rules]).Groups[2].Value))
        {
            return FileLine(doc, lines, rules); // rules: [ ... ] in flow style: one line
        }
        var seen = -1;
        int? itemIndent = null;
        for (var i = rules + 1; i < lines.Length; i++)
        {
            var text = lines[i];
            var trimmed = text.TrimStart();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }
            var indent = text.Length - trimmed.Length;
            if (trimmed.StartsWith('-'))
            {
                itemIndent ??= indent;
                if (indent == itemIndent && ++seen == index)
                {
                    return FileLine(doc, lines, i);
                }
            }
            else if (itemIndent is { } item && indent < item || itemIndent is null && indent == 0)
            {
                break; // the next key after the list
            }
        }
        return doc.Line;
    }

    /// <summary>The file line of the container named <paramref name="name"/> (its <c>name:</c> entry).</summary>
    public static int ContainerLine(ManifestDocument doc, string name)
    {
        ArgumentNullException.ThrowIfNull(doc);
        ArgumentNullException.ThrowIfNull(name);
        var lines = Lines(doc);
        var containers = Array.FindIndex(lines, l => ContainersKey().IsMatch(l));
        var pattern = new Regex($@"(^|[\s{{,-])name:\s*[""']?{Regex.Escape(name)}[""']?\s*([,}}]|$)", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        for (var i = Math.Max(containers, 0); i < lines.Length; i++)
        {
            if (pattern.IsMatch(lines[i]))
            {
                return FileLine(doc, lines, i);
            }
        }
        return doc.Line;
    }

    /// <summary>The file line of the first line of the document that <paramref name="match"/> accepts; the document's first line when none does.</summary>
    public static int FirstLine(ManifestDocument doc, Func<string, bool> match)
    {
        ArgumentNullException.ThrowIfNull(doc);
        ArgumentNullException.ThrowIfNull(match);
        var lines = Lines(doc);
        var at = Array.FindIndex(lines, l => match(l));
        return at < 0 ? doc.Line : FileLine(doc, lines, at);
    }

    private static string[] Lines(ManifestDocument doc) => (doc.SourceText ?? doc.Text).Replace("\r", "", StringComparison.Ordinal).Split('\n');

    // The document's text may begin with comments; its first content line is the document's line in the file.
    private static int FileLine(ManifestDocument doc, string[] lines, int index)
    {
        var first = Array.FindIndex(lines, l => l.TrimStart().Length > 0 && !l.TrimStart().StartsWith('#') && l.Trim() != "---");
        return doc.Line + index - Math.Max(first, 0);
    }

    [GeneratedRegex(@"^(\s*)rules:\s*(.*)$")]
    private static partial Regex RulesKey();

    [GeneratedRegex(@"^\s*(initContainers|containers):")]
    private static partial Regex ContainersKey();
}
