// ProbeAgent: the NativeAOT agent that runs a plan inside the target (no shell), or serves as the egress sink.
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Harness.Protocol;
using Harness.ProbeAgent;

// Exit codes: 0 the command ran (a plan's verdicts are in its report, not in the exit code); 2 bad usage or bad plan.
try
{
    return await Cli.RunAsync(args).ConfigureAwait(false);
}
catch (AgentUsageException ex)
{
    await Console.Error.WriteLineAsync($"probe-agent: {ex.Message}").ConfigureAwait(false);
    return 2;
}

namespace Harness.ProbeAgent
{
    internal sealed class AgentUsageException(string message) : Exception(message);

    internal static class Cli
    {
        public const string Version = "1.0.0";

        private const string Usage =
            "usage: probe-agent run (--plan-b64 BASE64 | --plan FILE | -)  run a plan, print the JSON report\n" +
            "       probe-agent sink --port PORT --token TOKEN [--tls-port PORT]\n" +
            "                                                             serve HTTP (and HTTPS with the PEM certificate and key\n" +
            "                                                             in HARNESS_SINK_CERT_PEM / HARNESS_SINK_KEY_PEM) answers carrying TOKEN\n" +
            "       probe-agent idle                                      wait for SIGTERM (keeps a pod alive)\n" +
            "       probe-agent version";

        public static async Task<int> RunAsync(string[] args)
        {
            switch (args.FirstOrDefault())
            {
                case "run":
                    var plan = ReadPlan(args.AsSpan(1).ToArray());
                    var report = await PlanRunner.RunAsync(plan, CancellationToken.None).ConfigureAwait(false);
                    await using (var stdout = Console.OpenStandardOutput())
                    {
                        await JsonSerializer.SerializeAsync(stdout, report, ProtocolJsonContext.Default.AgentReport).ConfigureAwait(false);
                        await stdout.WriteAsync("\n"u8.ToArray()).ConfigureAwait(false);
                    }
                    return 0;
                case "sink":
                    var port = int.Parse(Option(args, "--port") ?? "8080", System.Globalization.CultureInfo.InvariantCulture);
                    var token = Option(args, "--token") ?? throw new AgentUsageException("sink needs --token");
                    var tlsPort = Option(args, "--tls-port") is { } tp ? int.Parse(tp, System.Globalization.CultureInfo.InvariantCulture) : (int?)null;
                    await Sink.ServeAsync(port, tlsPort, token, StopToken()).ConfigureAwait(false);
                    return 0;
                case "idle":
                    try
                    {
                        await Task.Delay(Timeout.Infinite, StopToken()).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // SIGTERM: a clean, fast stop.
                    }
                    return 0;
                case "version":
                    Console.WriteLine(Version);
                    return 0;
                default:
                    throw new AgentUsageException("unknown command\n" + Usage);
            }
        }

        private static AgentPlan ReadPlan(string[] args)
        {
            string json;
            if (Option(args, "--plan-b64") is { } b64)
            {
                try
                {
                    json = Encoding.UTF8.GetString(Convert.FromBase64String(b64));
                }
                catch (FormatException)
                {
                    throw new AgentUsageException("--plan-b64 is not valid base64");
                }
            }
            else if (Option(args, "--plan") is { } file)
            {
                json = File.ReadAllText(file);
            }
            else if (args.Contains("-"))
            {
                json = Console.In.ReadToEnd();
            }
            else
            {
                throw new AgentUsageException("run needs --plan-b64, --plan FILE or - (stdin)\n" + Usage);
            }

            AgentPlan? plan;
            try
            {
                plan = JsonSerializer.Deserialize(json, ProtocolJsonContext.Default.AgentPlan);
            }
            catch (JsonException ex)
            {
                throw new AgentUsageException($"the plan is not valid JSON: {ex.Message}");
            }
            if (plan is null || plan.Steps.Count == 0)
            {
                throw new AgentUsageException("the plan has no steps");
            }
            var duplicate = plan.Steps.GroupBy(s => s.Id).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                throw new AgentUsageException($"the plan has two steps with id '{duplicate.Key}'");
            }
            return plan;
        }

        private static string? Option(string[] args, string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        private static readonly List<PosixSignalRegistration> SignalRegistrations = [];

        private static CancellationToken StopToken()
        {
            var cts = new CancellationTokenSource();
            // Kept in a static list: a collected registration would stop handling the signal.
            SignalRegistrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); }));
            SignalRegistrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; cts.Cancel(); }));
            return cts.Token;
        }
    }
}
