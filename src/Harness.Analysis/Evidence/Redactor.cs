// Evidence: how evidence is written (redaction of tokens, credentials and Secret data; readable record text).
using System.Text.RegularExpressions;

namespace Harness.Evidence;

/// <summary>
/// Scrubs credentials from evidence before it reaches a log or a report: bearer tokens and JWTs (ServiceAccount
/// tokens), kubeconfig credentials (client keys and certificates, tokens, passwords), and Secret <c>data</c> values.
/// Values are recognised by what they are, never by the word before them in prose: a credential field is a YAML key at
/// the start of a line, a quoted JSON key, or a <c>--flag=</c>/<c>NAME=</c> assignment, so "ServiceAccount token: no
/// legacy token" stays as written.
/// </summary>
public sealed partial class Redactor
{
    /// <summary>The replacement text.</summary>
    public const string Mask = "[REDACTED]";

    private readonly IReadOnlyList<string> literals;

    /// <summary>A redactor that also masks the given literal values (a token the harness read, a password).</summary>
    public Redactor(IEnumerable<string>? secrets = null) =>
        literals = [.. (secrets ?? []).Where(s => !string.IsNullOrEmpty(s) && s.Length >= 6).Distinct().OrderByDescending(s => s.Length)];

    /// <summary>Pattern-based redaction only.</summary>
    public static Redactor Default { get; } = new();

    /// <summary>A redactor that masks <paramref name="secret"/> as well as everything this one masks.</summary>
    public Redactor With(string secret) => new(literals.Append(secret));

    /// <summary>The text with every credential replaced by <see cref="Mask"/>.</summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var literal in literals)
        {
            text = text.Replace(literal, Mask, StringComparison.Ordinal);
        }
        text = Jwt().Replace(text, Mask);
        text = Bearer().Replace(text, "$1" + Mask);
        text = KubeconfigYaml().Replace(text, "$1" + Mask);
        text = KubeconfigJson().Replace(text, "$1" + Mask);
        text = Assignment().Replace(text, "$1" + Mask);
        text = PemBlock().Replace(text, Mask);
        text = SecretData().Replace(text, m => m.Groups[1].Value + RedactMap(m.Groups[2].Value) + m.Groups[3].Value);
        return text;
    }

    /// <summary>A copy of <paramref name="data"/> with every value redacted.</summary>
    public IReadOnlyDictionary<string, string> Redact(IReadOnlyDictionary<string, string> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.ToDictionary(kv => kv.Key, kv => Redact(kv.Value), StringComparer.Ordinal);
    }

    private static string RedactMap(string body) => MapValue().Replace(body, "$1\"" + Mask + "\"");

    // JWTs: three base64url segments, the first starting with {"  (eyJ).
    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")]
    private static partial Regex Jwt();

    [GeneratedRegex(@"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")]
    private static partial Regex Bearer();

    // kubeconfig credentials in YAML: the field is a key, at the start of its line (or after a list's dash).
    [GeneratedRegex(@"(?im)^(\s*(?:-\s+)?(?:token|client-key-data|client-certificate-data|password|id-token|refresh-token|access-token)\s*:[ \t]*[""']?)[^\s""']+")]
    private static partial Regex KubeconfigYaml();

    // ... and in JSON: a quoted key with a string value.
    [GeneratedRegex(@"(?i)(""(?:token|client-key-data|client-certificate-data|password|id-token|refresh-token|access-token)""\s*:\s*"")[^""]+")]
    private static partial Regex KubeconfigJson();

    // Command lines and environments: --token=VALUE, TOKEN=VALUE, --password=VALUE (a value of at least six characters, no spaces).
    [GeneratedRegex(@"(?i)((?:^|[\s""'])(?:--)?[a-z_-]*(?:token|password|secret)=)[^\s""'&;,]{6,}")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"-----BEGIN [A-Z ]*(?:PRIVATE KEY|CERTIFICATE)-----[\s\S]*?-----END [A-Z ]*(?:PRIVATE KEY|CERTIFICATE)-----")]
    private static partial Regex PemBlock();

    // Secret manifests in JSON: "data": { ... } and "stringData": { ... }.
    [GeneratedRegex(@"(""(?:data|stringData)""\s*:\s*\{)([^{}]*)(\})")]
    private static partial Regex SecretData();

    [GeneratedRegex(@"(""[^""]+""\s*:\s*)""[^""]*""")]
    private static partial Regex MapValue();
}
