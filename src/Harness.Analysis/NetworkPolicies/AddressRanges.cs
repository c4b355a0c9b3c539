using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Harness.NetworkPolicies;

/// <summary>
/// A set of IP addresses (IPv4 and IPv6 kept apart) as sorted, disjoint, inclusive intervals: what an ipBlock allows
/// (<c>cidr</c> minus <c>except</c>), or what a cluster owns. Immutable; set operations return new sets.
/// </summary>
public sealed class AddressRanges
{
    private readonly ImmutableArray<(UInt128 Lo, UInt128 Hi)> v4;
    private readonly ImmutableArray<(UInt128 Lo, UInt128 Hi)> v6;

    private AddressRanges(ImmutableArray<(UInt128, UInt128)> v4, ImmutableArray<(UInt128, UInt128)> v6)
    {
        this.v4 = v4;
        this.v6 = v6;
    }

    /// <summary>No address.</summary>
    public static AddressRanges Empty { get; } = new([], []);

    /// <summary>Every IPv4 and IPv6 address.</summary>
    public static AddressRanges All { get; } = Parse("0.0.0.0/0", "::/0");

    /// <summary>Whether the set holds no address.</summary>
    public bool IsEmpty => v4.IsEmpty && v6.IsEmpty;

    /// <summary>The set of these CIDRs (or single addresses).</summary>
    /// <exception cref="FormatException">A CIDR is malformed; the message quotes it.</exception>
    public static AddressRanges Parse(params IEnumerable<string> cidrs)
    {
        ArgumentNullException.ThrowIfNull(cidrs);
        var result = Empty;
        foreach (var cidr in cidrs)
        {
            result = result.Union(One(cidr));
        }
        return result;
    }

    /// <summary>Parses one CIDR, or returns false (no exception) when it is malformed.</summary>
    public static bool TryParse(string? cidr, out AddressRanges ranges)
    {
        try
        {
            ranges = cidr is null ? Empty : One(cidr);
            return cidr is not null;
        }
        catch (FormatException)
        {
            ranges = Empty;
            return false;
        }
    }

    private static AddressRanges One(string cidr)
    {
        // Lenient like the API server (host bits after the prefix are ignored: 10.1.2.3/8 is 10.0.0.0/8).
        var text = cidr.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out var address) || addressText.Contains('%', StringComparison.Ordinal))
        {
            throw new FormatException($"'{cidr}' is not a CIDR (such as 10.0.0.0/8 or fd00::/8)");
        }
        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            throw new FormatException($"'{cidr}' has no valid prefix length (0 to {bits})");
        }
        var size = bits - prefix;
        var span = size == 128 ? UInt128.MaxValue : (UInt128.One << size) - 1;
        var lo = ToNumber(address) & ~span;
        var hi = lo | span;
        return bits == 32 ? new([(lo, hi)], []) : new([], [(lo, hi)]);
    }

    /// <summary>Addresses in either set.</summary>
    public AddressRanges Union(AddressRanges other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Merge(v4, other.v4), Merge(v6, other.v6));
    }

    /// <summary>Addresses in this set and not in <paramref name="other"/>.</summary>
    public AddressRanges Except(AddressRanges other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Subtract(v4, other.v4), Subtract(v6, other.v6));
    }

    /// <summary>Addresses in both sets.</summary>
    public AddressRanges Intersect(AddressRanges other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Except(Except(other));
    }

    /// <summary>Whether <paramref name="address"/> is in the set.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var n = ToNumber(address);
        var list = address.AddressFamily == AddressFamily.InterNetwork ? v4 : v6;
        return list.Any(r => r.Lo <= n && n <= r.Hi);
    }

    /// <summary>The lowest address of the set (IPv4 first), for "e.g." in messages; null when empty.</summary>
    public IPAddress? First => !v4.IsEmpty ? ToAddress(v4[0].Lo, 32) : !v6.IsEmpty ? ToAddress(v6[0].Lo, 128) : null;

    /// <summary>The set as the fewest CIDRs, IPv4 first (e.g. <c>0.0.0.0/5, 8.0.0.0/7</c>).</summary>
    public ImmutableArray<string> ToCidrs() => [.. v4.SelectMany(r => Cidrs(r.Lo, r.Hi, 32)), .. v6.SelectMany(r => Cidrs(r.Lo, r.Hi, 128))];

    /// <inheritdoc/>
    public override string ToString()
    {
        var cidrs = ToCidrs();
        return cidrs.IsEmpty ? "(none)" : cidrs.Length <= 4 ? string.Join(", ", cidrs) : $"{string.Join(", ", cidrs.Take(4))} and {cidrs.Length - 4} more ranges";
    }

    private static IEnumerable<string> Cidrs(UInt128 lo, UInt128 hi, int bits)
    {
        while (true)
        {
            // The largest aligned block starting at lo that stays within hi.
            var size = lo == UInt128.Zero ? bits : Math.Min(bits, (int)UInt128.TrailingZeroCount(lo));
            while (size > 0 && (size == 128 ? UInt128.MaxValue : lo + ((UInt128.One << size) - 1)) > hi)
            {
                size--;
            }
            yield return $"{ToAddress(lo, bits)}/{(bits - size).ToString(CultureInfo.InvariantCulture)}";
            var end = size == 128 ? UInt128.MaxValue : lo + ((UInt128.One << size) - 1);
            if (end >= hi)
            {
                yield break;
            }
            lo = end + 1;
        }
    }

    private static ImmutableArray<(UInt128, UInt128)> Merge(ImmutableArray<(UInt128 Lo, UInt128 Hi)> a, ImmutableArray<(UInt128 Lo, UInt128 Hi)> b)
    {
        var all = a.Concat(b).OrderBy(r => r.Lo).ToList();
        var merged = new List<(UInt128 Lo, UInt128 Hi)>();
        foreach (var r in all)
        {
            if (merged.Count > 0 && (merged[^1].Hi == UInt128.MaxValue || r.Lo <= merged[^1].Hi + 1))
            {
                merged[^1] = (merged[^1].Lo, r.Hi > merged[^1].Hi ? r.Hi : merged[^1].Hi);
            }
            else
            {
                merged.Add(r);
            }
        }
        return [.. merged];
    }

    private static ImmutableArray<(UInt128, UInt128)> Subtract(ImmutableArray<(UInt128 Lo, UInt128 Hi)> a, ImmutableArray<(UInt128 Lo, UInt128 Hi)> b)
    {
        var result = new List<(UInt128, UInt128)>();
        foreach (var (lo0, hi) in a)
        {
            var lo = lo0;
            var done = false;
            foreach (var cut in b.Where(c => c.Hi >= lo && c.Lo <= hi).OrderBy(c => c.Lo))
            {
                if (cut.Lo > lo)
                {
                    result.Add((lo, cut.Lo - 1));
                }
                if (cut.Hi >= hi)
                {
                    done = true;
                    break;
                }
                lo = cut.Hi + 1;
            }
            if (!done)
            {
                result.Add((lo, hi));
            }
        }
        return [.. result];
    }

    private static UInt128 ToNumber(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true) is var big ? (UInt128)big : UInt128.Zero;
    }

    private static IPAddress ToAddress(UInt128 n, int bits)
    {
        var bytes = new byte[bits / 8];
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)(n & 0xFF);
            n >>= 8;
        }
        return new IPAddress(bytes);
    }
}
