using System.Collections.Immutable;

namespace Harness.Clusters;

/// <summary>
/// The tool versions the harness pins (kind, its node image, kubectl, Calico), read from <c>eng/versions.env</c>,
/// which is embedded in this assembly and sourced by <c>eng/e2e.sh</c>: one place, so the two cannot disagree.
/// </summary>
public static class PinnedVersions
{
    private static readonly ImmutableDictionary<string, string> Values = Load();

    /// <summary>The kind release.</summary>
    public static string Kind => Get("KIND_VERSION");

    /// <summary>SHA-256 of the kind binary per platform (<c>linux-amd64</c>, <c>linux-arm64</c>).</summary>
    public static ImmutableDictionary<string, string> KindSha256 => ImmutableDictionary.CreateRange(
        Values.Where(kv => kv.Key.StartsWith("KIND_SHA256_", StringComparison.Ordinal))
            .Select(kv => KeyValuePair.Create(kv.Key["KIND_SHA256_".Length..].ToLowerInvariant().Replace('_', '-'), kv.Value)));

    /// <summary>The node image of that kind release, pinned by digest as kind requires.</summary>
    public static string KindNodeImage => Get("KIND_NODE_IMAGE");

    /// <summary>The kubectl release the e2e script downloads when none is on PATH.</summary>
    public static string Kubectl => Get("KUBECTL_VERSION");

    /// <summary>The Calico release installed on kind clusters.</summary>
    public static string Calico => Get("CALICO_VERSION");

    /// <summary>Parses <c>KEY=VALUE</c> lines; <c>#</c> starts a comment. Pure.</summary>
    /// <exception cref="FormatException">A line is neither a comment nor <c>KEY=VALUE</c>.</exception>
    public static ImmutableDictionary<string, string> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var (raw, index) in text.Split('\n').Select((l, i) => (l.Trim(), i + 1)))
        {
            if (raw.Length == 0 || raw.StartsWith('#'))
            {
                continue;
            }
            var eq = raw.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || raw[..eq].Any(c => !(char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_')))
            {
                throw new FormatException($"versions.env line {index}: expected KEY=VALUE, got '{raw}'.");
            }
            values[raw[..eq]] = raw[(eq + 1)..];
        }
        return values.ToImmutable();
    }

    private static string Get(string key) => Values.TryGetValue(key, out var v) ? v
        : throw new InvalidOperationException($"versions.env has no {key}; the Harness assembly was built without it.");

    private static ImmutableDictionary<string, string> Load()
    {
        using var stream = typeof(PinnedVersions).Assembly.GetManifestResourceStream("Harness.versions.env")
            ?? throw new InvalidOperationException("the Harness assembly has no embedded versions.env.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}
