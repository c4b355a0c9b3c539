using System.Collections.Immutable;
using System.Globalization;

namespace Harness.Verdicts;

/// <summary>The security-relevant fields of <c>/proc/self/status</c>, as reported by the agent.</summary>
internal sealed record ProcessStatus(
    int RealUid, int EffectiveUid, int RealGid, int EffectiveGid, string Groups,
    ulong Inheritable, ulong Permitted, ulong Effective, ulong Bounding, ulong Ambient,
    bool NoNewPrivs, int SeccompMode)
{
    public static ProcessStatus? Parse(IReadOnlyDictionary<string, string> data)
    {
        try
        {
            var uid = data["Uid"].Split(' ');
            var gid = data["Gid"].Split(' ');
            return new ProcessStatus(
                int.Parse(uid[0], CultureInfo.InvariantCulture), int.Parse(uid[1], CultureInfo.InvariantCulture),
                int.Parse(gid[0], CultureInfo.InvariantCulture), int.Parse(gid[1], CultureInfo.InvariantCulture),
                data.GetValueOrDefault("Groups", ""),
                Hex(data["CapInh"]), Hex(data["CapPrm"]), Hex(data["CapEff"]), Hex(data["CapBnd"]), Hex(data["CapAmb"]),
                data["NoNewPrivs"] == "1",
                int.Parse(data["Seccomp"], CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is KeyNotFoundException or FormatException or IndexOutOfRangeException or OverflowException)
        {
            return null;
        }
    }

    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>No effective, permitted, inheritable or ambient capabilities, and a bounding set within <paramref name="allowedBounding"/>.</summary>
    public bool HoldsNoCapabilitiesBeyond(ulong allowedBounding) =>
        (Effective & ~allowedBounding) == 0 && (Permitted & ~allowedBounding) == 0 && Ambient == 0 && Inheritable == 0
        && (Bounding & ~allowedBounding) == 0;
}

/// <summary>Linux capability names and masks.</summary>
internal static class Capabilities
{
    private static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>The capability names in <paramref name="mask"/>, lowest bit first.</summary>
    public static ImmutableArray<string> NamesOf(ulong mask) =>
        [.. Enumerable.Range(0, 64).Where(bit => (mask & (1UL << bit)) != 0).Select(bit => bit < Names.Length ? Names[bit] : $"CAP_{bit}")];

    /// <summary>The mask for <paramref name="names"/>; accepts <c>NET_RAW</c> or <c>CAP_NET_RAW</c>, any case.</summary>
    /// <exception cref="ArgumentException">A name is not a Linux capability.</exception>
    public static ulong MaskOf(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        ulong mask = 0;
        foreach (var raw in names)
        {
            var name = Normalize(raw);
            var bit = Array.IndexOf(Names, name);
            if (bit < 0)
            {
                throw new ArgumentException($"'{raw}' is not a Linux capability.", nameof(names));
            }
            mask |= 1UL << bit;
        }
        return mask;
    }

    /// <summary><c>net_raw</c> → <c>CAP_NET_RAW</c>.</summary>
    public static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var upper = name.Trim().ToUpperInvariant();
        return upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper;
    }
}
