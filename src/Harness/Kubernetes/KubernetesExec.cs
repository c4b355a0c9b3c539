using System.Text;
using System.Text.Json;
using Harness.Protocol;
using Harness.Vehicles;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Kubernetes;

/// <summary>Exec in a pod through the API server (the status channel gives the exit code).</summary>
internal static class KubernetesExec
{
    /// <summary>Runs a command in a container and collects its output.</summary>
    /// <exception cref="KubernetesException">The exec failed for another reason than a non-zero exit (pod gone, container not running).</exception>
    public static async Task<ExecResult> RunAsync(IKubernetes client, string ns, string pod, string container, IReadOnlyList<string> command, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var exit = await client.NamespacedPodExecAsync(pod, ns, container, command, tty: false, async (_, output, error) =>
        {
            using var outReader = new StreamReader(output);
            using var errReader = new StreamReader(error);
            var o = outReader.ReadToEndAsync(ct);
            var e = errReader.ReadToEndAsync(ct);
            stdout.Append(await o.ConfigureAwait(false));
            stderr.Append(await e.ConfigureAwait(false));
        }, ct).ConfigureAwait(false);
        return new ExecResult(exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a plan with the probe agent in a pod and parses its report.</summary>
    /// <exception cref="AgentFailedException">The agent did not produce a report; the message has its output.</exception>
    public static async Task<AgentReport> RunPlanAsync(IKubernetes client, string ns, string pod, string container, AgentPlan plan, CancellationToken ct = default) =>
        AgentCommand.Report($"{ns}/{pod}", await RunAsync(client, ns, pod, container, AgentCommand.Run(plan), ct).ConfigureAwait(false));

    /// <summary>The <c>V1Status</c> the API server sent with an error, if it sent one.</summary>
    public static V1Status? Status(HttpOperationException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        try
        {
            return string.IsNullOrEmpty(e.Response?.Content) ? null : KubernetesJson.Deserialize<V1Status>(e.Response.Content);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
