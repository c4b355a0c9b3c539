using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Harness.Cli;

/// <summary>
/// The native (NativeAOT) harness: pre-flight, rights lock/check, the pre-flight benchmark and completions run in the
/// native binary, without a .NET start-up; the commands that drive clusters and Docker (qualify, sweep, kind-config,
/// build-image, bench, rights check --kubeconfig or --object, rights install) run in the
/// managed harness published beside it (<c>managed/Harness.Cli.dll</c>), which the native binary becomes with
/// <c>execv</c>: same process, same signals, same exit code. The managed build has every command itself.
/// </summary>
internal static partial class Native
{
    /// <summary>Whether this build carries the cluster and Docker commands (the managed build) or hands them on (the native one).</summary>
    [FeatureSwitchDefinition("Harness.Cli.Live")]
    internal static bool Live => !AppContext.TryGetSwitch("Harness.Cli.Live", out var live) || live;

    /// <summary>The commands the native build hands to the managed harness, with what they do.</summary>
    internal static readonly (string Name, string Description)[] Handed =
    [
        ("qualify", "Release qualification on a cluster or with the docker vehicle (runs in the managed harness)."),
        ("prove", "Prove the checks can fail on your operator: a mutation kill matrix (runs in the managed harness)."),
        ("sweep", "Remove what dead harness runs left on a cluster (runs in the managed harness)."),
        ("kind-config", "Print the kind cluster config and the PodSecurity admission config (runs in the managed harness)."),
        ("build-image", "Import a NativeAOT program as a scratch image (runs in the managed harness)."),
    ];

    /// <summary>Whether the native build hands these arguments on: a cluster or Docker command (<c>bench</c> but for <c>bench preflight</c>, <c>rights check --kubeconfig</c> or <c>--object</c>, <c>rights install</c>, which renders with the managed YAML serializer).</summary>
    internal static bool HandsOn(string[] args) =>
        !Live && args.Length > 0 && (Handed.Any(h => h.Name == args[0]) || (args[0] == "bench" && (args.Length < 2 || args[1] != "preflight"))
            || (args[0] == "rights" && (args.ElementAtOrDefault(1) is "install" or "self"
                || args.Any(a => a is "--kubeconfig" or "--object" || a.StartsWith("--kubeconfig=", StringComparison.Ordinal) || a.StartsWith("--object=", StringComparison.Ordinal)))));

    /// <summary>The managed harness beside this binary.</summary>
    internal static string ManagedPath => Path.Combine(AppContext.BaseDirectory, "managed", "Harness.Cli.dll");

    /// <summary>Becomes the managed harness with the same arguments; returns only when that cannot be done (exit 2, the reason printed).</summary>
    internal static int HandOn(string[] args, TextWriter stderr)
    {
        var managed = ManagedPath;
        if (!File.Exists(managed))
        {
            stderr.WriteLine($"harness: `harness {args[0]}` runs in the managed harness, which is not beside this native one ({managed}); install the harness tool (`dotnet tool install -g OperatorHarness.Cli`), or publish it there (eng/publish-cli.sh).");
            return 2;
        }
        var dotnet = DotnetHost();
        if (dotnet is null)
        {
            stderr.WriteLine($"harness: `harness {args[0]}` runs in the managed harness, and no .NET runtime was found to run it (DOTNET_HOST_PATH, DOTNET_ROOT, or dotnet on PATH); install the .NET 10 runtime.");
            return 2;
        }
        Console.Out.Flush();
        string[] argv = [dotnet, managed, .. args];
        var pointers = new nint[argv.Length + 1];
        for (var i = 0; i < argv.Length; i++)
        {
            pointers[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
        }
        var path = Marshal.StringToCoTaskMemUTF8(dotnet);
        Exec(path, pointers); // returns only on failure
        var error = Marshal.GetLastPInvokeError();
        stderr.WriteLine($"harness: could not start {dotnet} {managed}: errno {error}");
        return 2;
    }

    private static string? DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, "dotnet")))
        {
            return Path.Combine(root, "dotnet");
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(d => d.Length > 0)
            .Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists);
    }

    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true)]
    private static partial int Exec(nint path, nint[] argv);
}
