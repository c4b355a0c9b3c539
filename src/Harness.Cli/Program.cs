// Harness.Cli: the harness command (preflight, qualify, kind-config, build-image, bench) over the library.
using Harness.Cli;

// Exit codes: 0 success; 1 a check failed; 2 bad input or infrastructure error. The reason is always printed.
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
return await Commands.RunAsync(args, Console.Out, Console.Error, cts.Token).ConfigureAwait(false);
