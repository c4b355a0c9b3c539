using Harness.Runs;
using Harness.Images;
using System.Globalization;
using System.Net;
using Harness.Kubernetes;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Waits;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>The cluster does not do what the harness needs it to do; names the capability, the CNI and what was observed.</summary>
public sealed class ClusterVerificationException(string capability, string observed, Exception? inner = null)
    : Exception($"{capability} is not enforced: {observed}", inner)
{
    /// <summary>PodSecurity or NetworkPolicy.</summary>
    public string Capability { get; } = capability;

    /// <summary>What the harness saw.</summary>
    public string Observed { get; } = observed;
}

/// <summary>What verification proved, as evidence lines.</summary>
/// <param name="PodSecurity">How the privileged pod was rejected.</param>
/// <param name="NetworkPolicy">The control connection and how the deny-all policy stopped it.</param>
public sealed record VerificationReport(string PodSecurity, string NetworkPolicy);

/// <summary>
/// Proves, before a cluster is handed out, that PodSecurity rejects a privileged pod in a namespace without labels
/// (server-side dry run) and that NetworkPolicy blocks a connection a control first showed possible.
/// </summary>
internal static class ClusterVerification
{
    /// <summary>Port of the canary server.</summary>
    public const int CanaryPort = 8080;

    // ---- pure builders ----

    /// <summary>A namespace with no PodSecurity labels: the cluster's defaults apply to it.</summary>
    public static V1Namespace UnlabeledNamespace(string name, SessionId session) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { [SessionLabels.Owner] = "harness", [SessionLabels.Session] = session.Value } },
    };

    /// <summary>A namespace for the NetworkPolicy canary, enforcing restricted explicitly (the canary pods comply).</summary>
    public static V1Namespace CanaryNamespace(string name, SessionId session)
    {
        var ns = UnlabeledNamespace(name, session);
        ns.Metadata.Labels[PodSecurity.PodSecurityEvaluator.EnforceLabel] = "restricted";
        return ns;
    }

    /// <summary>The pod every PodSecurity level rejects (privileged, hostPID); only ever sent with dryRun=All.</summary>
    public static V1Pod PrivilegedPod(string ns) => KubernetesJson.Deserialize<V1Pod>(StandardProbes.PrivilegedPodJson(ns));

    /// <summary>A restricted-compliant pod running the probe agent with these arguments.</summary>
    public static V1Pod AgentPod(string ns, string name, string role, string image, SessionId session, IEnumerable<string> args)
    {
        var spec = ReferencePods.Hardened();
        spec.SecurityContext.RunAsUser = ProbeImageLayout.NonRootId;
        spec.SecurityContext.RunAsGroup = ProbeImageLayout.NonRootId;
        spec.AutomountServiceAccountToken = false;
        spec.EnableServiceLinks = false;
        spec.TerminationGracePeriodSeconds = 1;
        var container = spec.Containers[0];
        container.Name = "agent";
        container.Image = image;
        container.ImagePullPolicy = "IfNotPresent";
        container.Command = [ProbeImageLayout.Agent, .. args];
        container.Resources = new V1ResourceRequirements
        {
            Limits = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("200m"), ["memory"] = new("64Mi") },
            Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("10m"), ["memory"] = new("16Mi") },
        };
        return new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = ns,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "harness-canary", [SessionLabels.Role] = role, [SessionLabels.Session] = session.Value },
            },
            Spec = spec,
        };
    }

    /// <summary>The canary server: the agent's sink.</summary>
    public static V1Pod ServerPod(string ns, string image, SessionId session, string token) =>
        AgentPod(ns, "harness-canary-server", "server", image, session, ["sink", "--port", CanaryPort.ToString(CultureInfo.InvariantCulture), "--token", token]);

    /// <summary>The canary client: the agent idling, exec'd for each attempt.</summary>
    public static V1Pod ClientPod(string ns, string image, SessionId session) =>
        AgentPod(ns, "harness-canary-client", "client", image, session, ["idle"]);

    /// <summary>Denies all ingress to the canary server.</summary>
    public static V1NetworkPolicy DenyIngressToServer(string ns) => new()
    {
        Metadata = new V1ObjectMeta { Name = "harness-canary-deny", NamespaceProperty = ns },
        Spec = new V1NetworkPolicySpec
        {
            PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { [SessionLabels.Role] = "server" } },
            PolicyTypes = ["Ingress"],
        },
    };

    /// <summary>One fresh TCP connection from the client to the server (a new connection per attempt: existing ones may survive a new policy).</summary>
    public static AgentPlan ConnectPlan(string serverIp) => new()
    {
        Steps = [new AgentStep { Id = "canary.tcp", Kind = StepKinds.Tcp, Target = $"{(IPAddress.TryParse(serverIp, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{serverIp}]" : serverIp)}:{CanaryPort}", TimeoutMs = 3000 }],
    };

    // ---- live ----

    /// <summary>Runs both verifications; removes what it created, whatever happens.</summary>
    /// <param name="client">The cluster.</param>
    /// <param name="session">Session id (names and labels).</param>
    /// <param name="probeImage">The probe image as the cluster can pull it.</param>
    /// <param name="cni">The CNI, named in failures.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="time">Clock for the bounded waits.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ClusterVerificationException">A capability is not enforced.</exception>
    /// <exception cref="WaitTimeoutException">The canary pods never became ready (what they showed is in the message).</exception>
    public static async Task<VerificationReport> VerifyAsync(IKubernetes client, SessionId session, string probeImage, string cni, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        log ??= TextWriter.Null;
        var psa = await VerifyPodSecurityAsync(client, session, ct).ConfigureAwait(false);
        await log.WriteLineAsync($"verified PodSecurity: {psa}").ConfigureAwait(false);
        var netpol = await VerifyNetworkPolicyAsync(client, session, probeImage, cni, time, ct).ConfigureAwait(false);
        await log.WriteLineAsync($"verified NetworkPolicy ({cni}): {netpol}").ConfigureAwait(false);
        return new VerificationReport(psa, netpol);
    }

    /// <summary>A privileged pod in a namespace without labels must be rejected by PodSecurity (dry run: nothing is created).</summary>
    public static async Task<string> VerifyPodSecurityAsync(IKubernetes client, SessionId session, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var ns = $"harness-psa-{session}";
        await client.CoreV1.CreateNamespaceAsync(UnlabeledNamespace(ns, session), cancellationToken: ct).ConfigureAwait(false);
        try
        {
            try
            {
                await client.CoreV1.CreateNamespacedPodAsync(PrivilegedPod(ns), ns, dryRun: "All", cancellationToken: ct).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                var status = KubernetesExec.Status(e);
                if (status?.Message is { } message && Verdicts.PodSecurityRefusal.IsRefusal(message))
                {
                    return message;
                }
                throw new ClusterVerificationException("PodSecurity",
                    $"the privileged dry-run pod was refused, but not by PodSecurity ({status?.Reason}: {status?.Message}); the harness's credentials may lack pod creation.", e);
            }
            throw new ClusterVerificationException("PodSecurity",
                $"a privileged pod (hostPID, privileged) was admitted in namespace {ns}, which has no PodSecurity labels: the cluster's defaults do not enforce baseline or restricted. Configure the PodSecurity admission defaults (kind: the harness's admission config).");
        }
        finally
        {
            await DeleteNamespaceQuietlyAsync(client, ns).ConfigureAwait(false);
        }
    }

    /// <summary>The client reaches the server; after a deny-all policy it no longer does, within a bound.</summary>
    public static async Task<string> VerifyNetworkPolicyAsync(IKubernetes client, SessionId session, string probeImage, string cni, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var ns = $"harness-netpol-{session}";
        var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        await client.CoreV1.CreateNamespaceAsync(CanaryNamespace(ns, session), cancellationToken: ct).ConfigureAwait(false);
        try
        {
            var server = await client.CoreV1.CreateNamespacedPodAsync(ServerPod(ns, probeImage, session, token), ns, cancellationToken: ct).ConfigureAwait(false);
            await client.CoreV1.CreateNamespacedPodAsync(ClientPod(ns, probeImage, session), ns, cancellationToken: ct).ConfigureAwait(false);
            var pods = await Pods.WaitAsync(client, ns, null, $"the canary pods in {ns} to be ready",
                p => p.Count == 2 && p.All(Pods.IsReady), TimeSpan.FromMinutes(3), time, ct).ConfigureAwait(false);
            var serverIp = pods.Single(p => p.Metadata.Name == server.Metadata.Name).Status.PodIP;

            var before = await ConnectOnceAsync(client, ns, serverIp, ct).ConfigureAwait(false);
            if (before.Outcome != StepOutcomes.Succeeded)
            {
                throw new ClusterVerificationException("NetworkPolicy",
                    $"cannot be judged: before any policy, the canary client could not reach the server at {serverIp}:{CanaryPort} ({before.Outcome} {before.Errno} {before.Detail}); the pod network ({cni}) is not working.");
            }
            await client.NetworkingV1.CreateNamespacedNetworkPolicyAsync(DenyIngressToServer(ns), ns, cancellationToken: ct).ConfigureAwait(false);
            try
            {
                var blocked = await BoundedWait.UntilAsync(
                    $"the deny-all NetworkPolicy to block {serverIp}:{CanaryPort}",
                    t => new ValueTask<StepResult>(ConnectOnceAsync(client, ns, serverIp, t)),
                    r => r.Outcome != StepOutcomes.Succeeded,
                    r => $"{r.Outcome} {r.Detail}",
                    TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(2), time: time, ct: ct).ConfigureAwait(false);
                return $"client reached {serverIp}:{CanaryPort} before the policy ({before.Detail}); after it: {blocked.Outcome} {blocked.Errno} ({blocked.Detail})";
            }
            catch (WaitTimeoutException e)
            {
                throw new ClusterVerificationException("NetworkPolicy",
                    $"with CNI {cni}, a deny-all ingress policy did not stop the canary client within 60 s (last attempt: {e.LastObserved}). This CNI does not enforce NetworkPolicy here (kindnet fails open when its policy controller cannot start; K3s's controller skips policy without ipset).", e);
            }
        }
        finally
        {
            await DeleteNamespaceQuietlyAsync(client, ns).ConfigureAwait(false);
        }
    }

    private static async Task<StepResult> ConnectOnceAsync(IKubernetes client, string ns, string serverIp, CancellationToken ct)
    {
        var report = await KubernetesExec.RunPlanAsync(client, ns, "harness-canary-client", "agent", ConnectPlan(serverIp), ct).ConfigureAwait(false);
        return report.Results.Single();
    }

    /// <summary>Deletes a namespace without waiting for it to go (deletion can hang on finalizers for a long time).</summary>
    public static async Task DeleteNamespaceQuietlyAsync(IKubernetes client, string ns)
    {
        ArgumentNullException.ThrowIfNull(client);
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await client.CoreV1.DeleteNamespaceAsync(ns, propagationPolicy: "Background", cancellationToken: bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpOperationException or OperationCanceledException or HttpRequestException)
        {
            // Left behind: it carries the session label, and the next run's stale sweep removes it.
        }
    }
}
