using System.Runtime.InteropServices;

namespace Harness.Cli;

/// <summary>The signal that stopped the command, if one did; the first one wins.</summary>
internal sealed class StopSignal
{
    private int requested;

    /// <summary>The signal received first; null while none came.</summary>
    public PosixSignal? Signal { get; private set; }

    /// <summary>Records the first signal; false for any later one.</summary>
    public bool Request(PosixSignal signal)
    {
        if (Interlocked.Exchange(ref requested, 1) != 0)
        {
            return false;
        }
        Signal = signal;
        return true;
    }

    /// <summary>The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).</summary>
    public static int ExitCode(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => 130,
        PosixSignal.SIGTERM => 143,
        PosixSignal.SIGQUIT => 131,
        PosixSignal.SIGHUP => 129,
        _ => 2,
    };

    /// <summary>SIGINT, SIGTERM, ...</summary>
    public static string Name(PosixSignal signal) => signal.ToString();
}
