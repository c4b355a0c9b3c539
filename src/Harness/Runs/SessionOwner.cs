using System.Globalization;

namespace Harness.Runs;

/// <summary>
/// Which process on which machine owns a session's local resources (Docker containers and networks, which have no
/// Lease to expire): <c>{host}/{boot id}/{pid}/{start ticks}</c>. A session is dead when its owner is known to be gone: the
/// same host booted since, or no process with that pid and start time. Another host's session is never judged here.
/// </summary>
internal static class SessionOwner
{
    /// <summary>The label that carries the owner.</summary>
    public const string Label = "io.harness.owner-process";

    /// <summary>The label that carries the caller's run id (<c>HARNESS_RUN_ID</c>): what a CI job filters its own leftovers on.</summary>
    public const string RunLabel = "io.harness.run";

    private static readonly Lazy<string> CurrentOwner = new(() => Describe(Environment.ProcessId, Environment.MachineName, BootId(), StartTicks(Environment.ProcessId)));

    /// <summary>This process.</summary>
    public static string Current => CurrentOwner.Value;

    /// <summary>What the owner label says of a process.</summary>
    internal static string Describe(int pid, string host, string? bootId, string? startTicks) =>
        string.Join('/', Sanitize(host), Sanitize(bootId ?? "-"), pid.ToString(CultureInfo.InvariantCulture), Sanitize(startTicks ?? "-"));

    /// <summary>Whether the owner is known to be gone; false when it is alive or cannot be judged from here.</summary>
    public static bool IsDead(string? owner) => IsDead(owner, Environment.MachineName, BootId(), StartTicks);

    /// <summary>Whether this machine can tell if the owner is alive (it names this host, and both boot ids are known).</summary>
    public static bool IsJudgeable(string? owner) => Parse(owner, Environment.MachineName, BootId()) is not null;

    internal static bool IsDead(string? owner, string host, string? bootId, Func<int, string?> startTicksOf)
    {
        if (Parse(owner, host, bootId) is not { } parts)
        {
            return false; // another machine's (or an older harness's) session: only its age can tell
        }
        if (parts[1] != Sanitize(bootId!))
        {
            return true; // this machine booted since: every process of that boot is gone
        }
        var now = startTicksOf(int.Parse(parts[2], CultureInfo.InvariantCulture));
        return now is null || (parts[3] != "-" && Sanitize(now) != parts[3]);
    }

    private static string[]? Parse(string? owner, string host, string? bootId)
    {
        var parts = owner?.Split('/') ?? [];
        return parts.Length == 4 && parts[0] == Sanitize(host) && parts[1] != "-" && bootId is not null && int.TryParse(parts[2], CultureInfo.InvariantCulture, out _)
            ? parts
            : null;
    }

    private static string Sanitize(string value) => value.Replace('/', '_');

    // The boot id does not change while this process lives: read once.
    private static readonly Lazy<string?> Boot = new(ReadBootId);

    private static string? BootId() => Boot.Value;

    private static string? ReadBootId()
    {
        try
        {
            return File.Exists("/proc/sys/kernel/random/boot_id") ? File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The process's start time in clock ticks since boot (<c>/proc/PID/stat</c> field 22); null when there is no such process.</summary>
    private static string? StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
