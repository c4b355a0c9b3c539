// Harness.Cli: the harness command (preflight, qualify, sweep, kind-config, build-image, bench) over the library.
using System.Runtime.InteropServices;
using Harness.Cli;

// Exit codes: 0 success; 1 a check failed; 2 bad input or infrastructure error; 3 untested (qualify); 130 stopped by
// SIGINT (Ctrl-C); 143 stopped by SIGTERM (what CI sends on cancel). The reason is always printed.
using var cts = new CancellationTokenSource();
var stop = new StopSignal();
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true; // the run stops itself: it tears down what it made first
    if (!stop.Request(context.Signal))
    {
        // A second signal while tearing down: the user insists.
        Console.Error.WriteLine($"harness: {StopSignal.Name(context.Signal)} again; exiting without finishing the teardown (leftovers carry the session label: `harness sweep` removes them)");
        Environment.Exit(StopSignal.ExitCode(context.Signal));
    }
    cts.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
int code;
try
{
    code = await Commands.RunAsync(args, Console.Out, Console.Error, cts.Token).ConfigureAwait(false);
}
catch (Exception) when (stop.Signal is not null)
{
    code = 2;
}
if (stop.Signal is { } signal)
{
    await Console.Error.WriteLineAsync($"harness: stopped by {StopSignal.Name(signal)}; the run tore down what it had created").ConfigureAwait(false);
    return StopSignal.ExitCode(signal);
}
return code;
