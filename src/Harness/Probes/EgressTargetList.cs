using System.Collections.Immutable;
using System.Net;
using Harness.Qualification;

namespace Harness.Probes;

/// <summary>Egress destinations given as text (an environment variable): <c>name=URL</c> or <c>name=URL@ADDRESS</c>, separated by <c>;</c>.</summary>
public static class EgressTargetList
{
    /// <summary>The variable the xUnit layer reads.</summary>
    public const string Variable = "HARNESS_EGRESS_TARGETS";

    /// <summary>Set to 1 to allow public addresses in <see cref="Variable"/>.</summary>
    public const string AllowPublicVariable = "HARNESS_EGRESS_ALLOW_PUBLIC";

    /// <summary>Parses <paramref name="text"/>; the address is the URL's host when that is an IP literal, else it must follow <c>@</c>.</summary>
    /// <param name="text">The list.</param>
    /// <param name="allowPublic">Whether public addresses are allowed (they are probed only when asked).</param>
    /// <param name="source">Named in errors (the variable or file).</param>
    /// <exception cref="ArgumentException">An entry is malformed, a name repeats, or an address is public and not allowed; names the entry and what to write.</exception>
    public static ImmutableArray<EgressTarget> Parse(string? text, bool allowPublic, string source = Variable)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }
        var targets = ImmutableArray.CreateBuilder<EgressTarget>();
        foreach (var raw in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = raw.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"{source}: '{raw}' is not name=URL or name=URL@ADDRESS (e.g. lab=http://10.1.2.3:8080/).");
            }
            var name = raw[..eq].Trim();
            if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                throw new ArgumentException($"{source}: the name '{name}' may hold only letters, digits and '-' (it becomes part of probe ids).");
            }
            var rest = raw[(eq + 1)..].Trim();
            var at = rest.LastIndexOf('@');
            var urlText = at > rest.IndexOf("://", StringComparison.Ordinal) + 2 && at > 0 ? rest[..at] : rest;
            var addressText = urlText.Length < rest.Length ? rest[(at + 1)..] : null;
            if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new ArgumentException($"{source}: '{urlText}' in entry '{name}' is not an http(s) URL.");
            }
            addressText ??= IPAddress.TryParse(url.Host.Trim('[', ']'), out _) ? url.Host.Trim('[', ']') : null;
            if (addressText is null || !IPAddress.TryParse(addressText, out var address))
            {
                throw new ArgumentException($"{source}: entry '{name}' needs an IP address for the TCP probe: write {name}={urlText}@ADDRESS.");
            }
            if (!allowPublic && !ScenarioParser.IsPrivate(address))
            {
                throw new ArgumentException($"{source}: entry '{name}' ({address}) is a public address; the harness probes public targets only when asked: set {AllowPublicVariable}=1.");
            }
            if (targets.Any(t => t.Name == name))
            {
                throw new ArgumentException($"{source}: the name '{name}' is used twice.");
            }
            targets.Add(new EgressTarget(name, address.ToString(), url.Host, url.Port, null, url.Scheme));
        }
        return targets.ToImmutable();
    }

    /// <summary>The targets in <see cref="Variable"/>, public ones only with <see cref="AllowPublicVariable"/>=1.</summary>
    /// <exception cref="ArgumentException">The variable is malformed; the message says what to write.</exception>
    public static ImmutableArray<EgressTarget> FromEnvironment() =>
        Parse(Environment.GetEnvironmentVariable(Variable), Environment.GetEnvironmentVariable(AllowPublicVariable) == "1");
}
