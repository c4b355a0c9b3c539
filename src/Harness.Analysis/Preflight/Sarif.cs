using System.Text;
using System.Text.Json;

namespace Harness.Preflight;

/// <summary>
/// Pre-flight as SARIF 2.1.0, for GitHub code scanning and other SARIF viewers: one rule per check id, one result per
/// finding at its file and line (the manifest document's first line, column 1). Paths under
/// the root given to <see cref="Render"/> are written relative to it with the <c>%SRCROOT%</c> base, as code scanning expects.
/// Written with System.Text.Json: the SARIF SDK package cannot be restored from the registry here (a dependency of it
/// is not served), and the subset pre-flight needs is small and covered by tests.
/// </summary>
public static class Sarif
{
    /// <summary>The SARIF version written.</summary>
    public const string Version = "2.1.0";

    /// <summary>The schema the document names.</summary>
    public const string Schema = "https://json.schemastore.org/sarif-2.1.0.json";

    /// <summary>Renders <paramref name="report"/>; <paramref name="toolVersion"/> is the harness version.</summary>
    public static string Render(PreflightReport report, string toolVersion, string? root = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        root = Path.GetFullPath(root ?? Directory.GetCurrentDirectory());
        var findings = report.Findings;
        var rules = findings.Select(f => f.Id).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("$schema", Schema);
            w.WriteString("version", Version);
            w.WriteStartArray("runs");
            w.WriteStartObject();
            w.WriteStartObject("tool");
            w.WriteStartObject("driver");
            w.WriteString("name", "harness preflight");
            w.WriteString("version", toolVersion);
            w.WriteString("informationUri", "https://github.com/operator-harness/operator-harness");
            w.WriteStartArray("rules");
            foreach (var id in rules)
            {
                var first = findings.First(f => f.Id == id);
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteStartObject("shortDescription");
                w.WriteString("text", RuleText(id));
                w.WriteEndObject();
                w.WriteStartObject("defaultConfiguration");
                w.WriteString("level", Level(first.Severity));
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("originalUriBaseIds");
            w.WriteStartObject("%SRCROOT%");
            w.WriteString("uri", new Uri(root.EndsWith('/') ? root : root + "/").AbsoluteUri);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartArray("results");
            foreach (var f in findings)
            {
                w.WriteStartObject();
                w.WriteString("ruleId", f.Id);
                w.WriteNumber("ruleIndex", rules.IndexOf(f.Id));
                w.WriteString("level", Level(f.Severity));
                w.WriteStartObject("message");
                w.WriteString("text", $"{f.Subject}: {f.Message}");
                w.WriteEndObject();
                w.WriteStartArray("locations");
                w.WriteStartObject();
                w.WriteStartObject("physicalLocation");
                w.WriteStartObject("artifactLocation");
                var (uri, relative) = ArtifactUri(f.Path, root);
                w.WriteString("uri", uri);
                if (relative)
                {
                    w.WriteString("uriBaseId", "%SRCROOT%");
                }
                w.WriteEndObject();
                w.WriteStartObject("region");
                w.WriteNumber("startLine", Math.Max(1, f.Line));
                w.WriteNumber("startColumn", 1);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteStartObject("partialFingerprints");
                w.WriteString("harnessFinding/v1", Fingerprint(f));
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    private static string Level(FindingSeverity severity) => severity switch
    {
        FindingSeverity.Error => "error",
        FindingSeverity.Warning => "warning",
        _ => "note",
    };

    private static string RuleText(string id) => id switch
    {
        "PSA" => "The pod does not meet the Pod Security level",
        _ when id.StartsWith("RBAC-", StringComparison.Ordinal) => "The ServiceAccount is granted a dangerous permission",
        _ when id.StartsWith("NETPOL-", StringComparison.Ordinal) => "NetworkPolicy does not confine the pods",
        _ when id.StartsWith("IMAGE-", StringComparison.Ordinal) => "Image reference is not pinned by digest",
        _ when id.StartsWith("ROOTFS-", StringComparison.Ordinal) => "The root filesystem is writable",
        _ when id.StartsWith("SA-", StringComparison.Ordinal) => "ServiceAccount token exposure",
        _ when id.StartsWith("WEBHOOK-", StringComparison.Ordinal) => "Admission webhook cannot be reached or verified",
        _ when id.StartsWith("NS-", StringComparison.Ordinal) => "Namespace PodSecurity labels",
        _ => id,
    };

    /// <summary>A path relative to the root with forward slashes (and whether it is relative), or an absolute file URI.</summary>
    private static (string Uri, bool Relative) ArtifactUri(string path, string root)
    {
        var full = Path.GetFullPath(path);
        var relative = Path.GetRelativePath(root, full);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative)
            ? (new Uri(full).AbsoluteUri, false)
            : (string.Join('/', relative.Split(Path.DirectorySeparatorChar).Select(Uri.EscapeDataString)), true);
    }

    /// <summary>
    /// Stable across runs and rewording: the rule, the object and its location (code scanning keeps an alert open as long
    /// as its fingerprint stays; a message that changed its words is the same finding, two rules of one object are not).
    /// </summary>
    internal static string Fingerprint(Finding f) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes($"{f.Id}\n{f.Subject}\n{f.Path.Replace('\\', '/')}:{f.Line}")))[..32];
}
