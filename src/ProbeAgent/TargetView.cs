using System.Globalization;
using System.Runtime.InteropServices;
using Harness.Protocol;

namespace Harness.ProbeAgent;

/// <summary>
/// The process the agent observes: itself (twin pod, docker, direct exec) or another process in its PID namespace
/// (an ephemeral container targeting the operator's container). Resolved once per plan. Every step says which one it
/// observed, so no verdict about the probe container can pass for a verdict about the operator.
/// </summary>
internal sealed class TargetView
{
    private static readonly string[] ContextFields = ["Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"];

    private TargetView(int? pid, string comm, string? error, string? rootError, string? mismatch, bool requireSame)
    {
        Pid = pid;
        Comm = comm;
        Error = error;
        RootError = rootError;
        Mismatch = mismatch;
        RequireSameContext = requireSame;
    }

    /// <summary>The target's pid; null when the agent observes itself.</summary>
    public int? Pid { get; }

    /// <summary>The target's command name.</summary>
    public string Comm { get; }

    /// <summary>Why the target could not be found at all.</summary>
    public string? Error { get; }

    /// <summary>Why the target's root cannot be entered through <c>/proc/PID/root</c>.</summary>
    public string? RootError { get; }

    /// <summary>How the agent's own security context differs from the target's; null when equal.</summary>
    public string? Mismatch { get; }

    private bool RequireSameContext { get; }

    public static TargetView Self() => new(null, CommandName(Environment.ProcessId) ?? "probe-agent", null, null, null, false);

    /// <summary>Finds the target process and checks what the agent may observe of it.</summary>
    public static TargetView Resolve(TargetProcess spec)
    {
        string? why = null;
        var pid = spec.Pid ?? Discover(out why);
        if (pid is null)
        {
            return new(null, "", why, null, null, spec.RequireSameSecurityContext);
        }
        if (!File.Exists($"/proc/{pid}/status"))
        {
            return new(null, "", $"no process {pid} is visible (is the PID namespace shared with the target?)", null, null, spec.RequireSameSecurityContext);
        }
        var comm = CommandName(pid.Value) ?? "?";
        var rootError = CanEnterRoot(pid.Value);
        string? mismatch;
        try
        {
            mismatch = Compare(Steps.ParseStatus(File.ReadAllText("/proc/self/status")), Steps.ParseStatus(File.ReadAllText($"/proc/{pid}/status")));
        }
        catch (IOException e)
        {
            mismatch = $"cannot read the status of pid {pid}: {e.Message}";
        }
        return new(pid, comm, null, rootError, mismatch, spec.RequireSameSecurityContext);
    }

    /// <summary>The differences between two status field sets, in the fields that decide what a process may do.</summary>
    internal static string? Compare(IReadOnlyDictionary<string, string> self, IReadOnlyDictionary<string, string> target)
    {
        var diffs = ContextFields
            .Where(f => self.GetValueOrDefault(f) != target.GetValueOrDefault(f))
            .Select(f => $"{f} {self.GetValueOrDefault(f) ?? "?"} (probe) vs {target.GetValueOrDefault(f) ?? "?"} (target)")
            .ToList();
        return diffs.Count == 0 ? null : string.Join("; ", diffs);
    }

    /// <summary>What a step of this kind observes, for its evidence.</summary>
    public string Describe(string kind) => (kind, Pid) switch
    {
        (_, null) when Error is not null => $"nothing: the target process was not found ({Error})",
        (StepKinds.FileWrite, null) or (StepKinds.ProcessStatus, null) or (StepKinds.Kernel, null) =>
            $"the probe process itself (pid {Environment.ProcessId}), in the target's security context",
        (StepKinds.FileWrite, _) => $"target pid {Pid} ({Comm}): its filesystem, through /proc/{Pid}/root",
        (StepKinds.ProcessStatus, _) => $"target pid {Pid} ({Comm}): /proc/{Pid}/status",
        (StepKinds.Kernel, _) => $"the probe process (pid {Environment.ProcessId}), whose security context equals target pid {Pid} ({Comm})",
        _ => "the pod's network namespace and mounted credentials, from the probe process",
    };

    /// <summary>The error a step must report instead of observing, or null when it may proceed.</summary>
    public string? Refusal(string kind)
    {
        if (Error is not null && kind is StepKinds.FileWrite or StepKinds.ProcessStatus or StepKinds.Kernel)
        {
            return $"the target process was not found: {Error}";
        }
        if (Pid is null)
        {
            return null;
        }
        return kind switch
        {
            StepKinds.FileWrite when RootError is not null =>
                $"cannot observe the target's filesystem: {RootError}; the probe must run with the target's uid and capabilities, without a user namespace",
            StepKinds.Kernel when RequireSameContext && Mismatch is not null =>
                $"kernel attempts would run in the probe container, whose security context differs from the target's (pid {Pid} {Comm}): {Mismatch}",
            _ => null,
        };
    }

    /// <summary>The host path for <paramref name="path"/> inside the target's root (symlinks resolved inside that root).</summary>
    public string MapPath(string path) => Pid is null ? path : ResolveInRoot($"/proc/{Pid}/root", path);

    /// <summary>The status file to read.</summary>
    public string StatusPath => Pid is null ? "/proc/self/status" : $"/proc/{Pid}/status";

    /// <summary>
    /// Resolves <paramref name="path"/> under <paramref name="root"/> as the target would: an absolute symlink restarts at
    /// the target's root, not the agent's (a plain path walk through /proc/PID/root would follow it into the probe's own
    /// filesystem, e.g. /var/run → /run).
    /// </summary>
    internal static string ResolveInRoot(string root, string path)
    {
        var pending = new LinkedList<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var resolved = new List<string>();
        var hops = 0;
        while (pending.First is { } node)
        {
            pending.RemoveFirst();
            var part = node.Value;
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }
                continue;
            }
            var candidate = root + "/" + string.Join('/', resolved.Append(part));
            string? link = null;
            try
            {
                link = new FileInfo(candidate).LinkTarget;
            }
            catch (IOException)
            {
                // Not readable: leave it to the attempt, which reports its errno.
            }
            catch (UnauthorizedAccessException)
            {
            }
            if (link is null)
            {
                resolved.Add(part);
                continue;
            }
            if (++hops > 40)
            {
                throw new StepArgumentException($"too many symbolic links resolving {path} in the target's root");
            }
            if (link.StartsWith('/'))
            {
                resolved.Clear();
            }
            foreach (var p in link.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.AddFirst(p);
            }
        }
        return root + "/" + string.Join('/', resolved);
    }

    private static int? Discover(out string? why)
    {
        var ownMnt = Namespace(Environment.ProcessId, "mnt");
        var candidates = Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : -1)
            .Where(p => p > 0 && p != Environment.ProcessId)
            .Order();
        foreach (var pid in candidates)
        {
            var comm = CommandName(pid);
            if (comm is null || comm == "pause")
            {
                continue;
            }
            // Our own container's processes (the idle agent) share our mount namespace; the target's do not. A
            // namespace we may not read belongs to another container (another uid): a candidate.
            var mnt = Namespace(pid, "mnt");
            if (mnt is not null && mnt == ownMnt)
            {
                continue;
            }
            why = null;
            return pid;
        }
        why = "no process outside the probe's own container is visible: the runtime did not share the target container's PID namespace (targetContainerName)";
        return null;
    }

    private static string? Namespace(int pid, string ns)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? CommandName(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? CanEnterRoot(int pid)
    {
        var fd = Native.Open($"/proc/{pid}/root/", Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return $"open(/proc/{pid}/root): {Native.ErrnoName(errno)} ({errno})";
        }
        Native.Close(fd);
        return null;
    }
}
