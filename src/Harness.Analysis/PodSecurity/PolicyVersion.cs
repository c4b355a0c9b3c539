using System.Globalization;
using System.Text.RegularExpressions;

namespace Harness.PodSecurity;

/// <summary>The levels of the Pod Security Standards.</summary>
public enum PodSecurityLevel
{
    /// <summary>No restrictions.</summary>
    Privileged,

    /// <summary>Prevents known privilege escalations; allows the default pod.</summary>
    Baseline,

    /// <summary>Baseline plus current pod-hardening practice.</summary>
    Restricted,
}

/// <summary>
/// A Pod Security policy version: <c>vMAJOR.MINOR</c> or <c>latest</c>. A version applies the checks as Kubernetes had them
/// at that release; <c>latest</c> and any version newer than the newest check revision resolve to that revision.
/// </summary>
public readonly partial record struct PolicyVersion : IComparable<PolicyVersion>
{
    private PolicyVersion(int major, int minor, bool latest)
    {
        Major = major;
        Minor = minor;
        IsLatest = latest;
    }

    /// <summary><c>latest</c>: the newest checks this evaluator knows.</summary>
    public static PolicyVersion Latest { get; } = new(0, 0, latest: true);

    /// <summary>Major version (1); 0 for <see cref="Latest"/>.</summary>
    public int Major { get; }

    /// <summary>Minor version; 0 for <see cref="Latest"/>.</summary>
    public int Minor { get; }

    /// <summary>Whether this is <c>latest</c>.</summary>
    public bool IsLatest { get; }

    /// <summary>A pinned version.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The version is not 1.0 or newer.</exception>
    public static PolicyVersion Of(int major, int minor)
    {
        if (major != 1 || minor < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(major), $"Pod Security policy versions start at v1.0; v{major}.{minor} is not one.");
        }
        return new PolicyVersion(major, minor, latest: false);
    }

    /// <summary>Parses <c>latest</c>, <c>v1.25</c> or <c>1.25</c>.</summary>
    /// <exception cref="FormatException">Anything else, with what is accepted.</exception>
    public static PolicyVersion Parse(string text)
    {
        if (TryParse(text, out var version))
        {
            return version;
        }
        throw new FormatException($"'{text}' is not a Pod Security policy version: use 'latest' or 'v1.MINOR' (for example v1.34).");
    }

    /// <summary>Parses without throwing.</summary>
    public static bool TryParse(string? text, out PolicyVersion version)
    {
        version = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        if (string.Equals(text.Trim(), "latest", StringComparison.OrdinalIgnoreCase))
        {
            version = Latest;
            return true;
        }
        var m = VersionPattern().Match(text.Trim());
        if (!m.Success)
        {
            return false;
        }
        var major = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var minor = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        if (major != 1)
        {
            return false;
        }
        version = new PolicyVersion(major, minor, latest: false);
        return true;
    }

    /// <summary>Latest sorts after every pinned version, as in Kubernetes.</summary>
    public int CompareTo(PolicyVersion other)
    {
        if (IsLatest || other.IsLatest)
        {
            return IsLatest.CompareTo(other.IsLatest);
        }
        var byMajor = Major.CompareTo(other.Major);
        return byMajor != 0 ? byMajor : Minor.CompareTo(other.Minor);
    }

    /// <summary>Ordering.</summary>
    public static bool operator <(PolicyVersion left, PolicyVersion right) => left.CompareTo(right) < 0;

    /// <summary>Ordering.</summary>
    public static bool operator >(PolicyVersion left, PolicyVersion right) => left.CompareTo(right) > 0;

    /// <summary>Ordering.</summary>
    public static bool operator <=(PolicyVersion left, PolicyVersion right) => left.CompareTo(right) <= 0;

    /// <summary>Ordering.</summary>
    public static bool operator >=(PolicyVersion left, PolicyVersion right) => left.CompareTo(right) >= 0;

    /// <summary><c>latest</c> or <c>v1.25</c>, the spelling of the namespace label.</summary>
    public override string ToString() => IsLatest ? "latest" : $"v{Major}.{Minor}";

    [GeneratedRegex(@"^v?(\d+)\.(\d+)$")]
    private static partial Regex VersionPattern();
}
