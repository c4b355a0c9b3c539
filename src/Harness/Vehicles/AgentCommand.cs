using Harness.Images;
using System.Text;
using System.Text.Json;
using Harness.Protocol;

namespace Harness.Vehicles;

/// <summary>How every vehicle asks the agent to run a plan, and reads its answer.</summary>
internal static class AgentCommand
{
    /// <summary><c>/probe/agent run --plan-b64 ...</c>: the whole plan in one exec, no shell, no file.</summary>
    public static string[] Run(AgentPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var json = JsonSerializer.Serialize(plan, ProtocolJsonContext.Default.AgentPlan);
        return [ProbeImageLayout.Agent, "run", "--plan-b64", Convert.ToBase64String(Encoding.UTF8.GetBytes(json))];
    }

    /// <summary>The agent's report, or <see cref="AgentFailedException"/> with its exit code and output.</summary>
    public static AgentReport Report(string vehicle, ExecResult exec)
    {
        AgentReport? report = null;
        if (exec.ExitCode == 0)
        {
            try
            {
                report = JsonSerializer.Deserialize(exec.Stdout, ProtocolJsonContext.Default.AgentReport);
            }
            catch (JsonException)
            {
                // Reported below with the output.
            }
        }
        return report ?? throw new AgentFailedException(vehicle, exec.ExitCode, exec.Stderr, exec.Stdout);
    }
}
