using System.Security.Cryptography;

namespace Harness.Runs;

/// <summary>
/// The id of one harness run: in the name and labels of every namespace, pod, container, network and cluster the run
/// creates, so that they can be found and removed together. Lower-case hex or DNS-label characters, at most 20.
/// </summary>
public readonly record struct SessionId
{
    private readonly string? value;

    private SessionId(string value) => this.value = value;

    /// <summary>The id as it appears in names and labels.</summary>
    public string Value => value ?? throw new InvalidOperationException("a default SessionId has no value; use SessionId.New() or SessionId.Parse().");

    /// <summary>A fresh random id (8 hex digits).</summary>
    public static SessionId New() => new(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));

    /// <summary>An id given by the user (to reuse or find a run's resources).</summary>
    /// <exception cref="ArgumentException">Empty, longer than 20 characters, or not a DNS label (a-z, 0-9, '-').</exception>
    public static SessionId Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length is 0 or > 20 || value.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')) || value[0] == '-' || value[^1] == '-')
        {
            throw new ArgumentException($"a session id is 1-20 characters of a-z, 0-9 and '-' (not at either end), got '{value}'.", nameof(value));
        }
        return new SessionId(value);
    }

    /// <inheritdoc/>
    public override string ToString() => Value;
}

/// <summary>The label keys on everything a run creates, in Kubernetes and in Docker alike: the one place they are spelled.</summary>
public static class SessionLabels
{
    /// <summary>Marks every resource the harness creates.</summary>
    public const string Owner = "io.harness.owner";

    /// <summary>Carries the <see cref="SessionId"/>.</summary>
    public const string Session = "io.harness.session";

    /// <summary>Names what a resource is for (vehicle, sink, control, twin).</summary>
    public const string Role = "io.harness.role";

    /// <summary>Creation time (Unix seconds), used to reap stale resources.</summary>
    public const string Created = "io.harness.created";

    /// <summary>
    /// The prefix of a shared object's holds (a CRD that several runs use): <c>hold.harness.dev/{session}</c>, one per
    /// session that uses it; the last to release it deletes it.
    /// </summary>
    public const string HoldPrefix = "hold.harness.dev/";

    /// <summary>The sessions that hold an object, from its labels.</summary>
    internal static IEnumerable<string> Holders(IDictionary<string, string>? labels) =>
        (labels ?? new Dictionary<string, string>()).Keys.Where(k => k.StartsWith(HoldPrefix, StringComparison.Ordinal)).Select(k => k[HoldPrefix.Length..]);
}
