using Harness.Runs;
using System.Collections.Immutable;
using Harness.Kubernetes;
using Harness.Protocol;
using Harness.Waits;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Vehicles;

/// <summary>Which vehicle carries the agent into the operator's security context.</summary>
public enum VehicleKind
{
    /// <summary>A clone of the operator's pod with the probe image (the default; leaves the operator untouched).</summary>
    TwinPod,

    /// <summary>An ephemeral container in the operator's running pod (opt-in; cannot be removed afterwards).</summary>
    EphemeralContainer,

    /// <summary>Exec into the operator's own container, whose image already contains the agent.</summary>
    DirectExec,

    /// <summary>No cluster: a local container from the operator's pod spec (a local approximation).</summary>
    Docker,
}

/// <summary>The names of <see cref="VehicleKind"/> in scenario files, flags and reports: the one place they are spelled.</summary>
public static class VehicleKinds
{
    private static readonly (VehicleKind Kind, string Name)[] Names =
    [
        (VehicleKind.TwinPod, "twin-pod"), (VehicleKind.EphemeralContainer, "ephemeral-container"),
        (VehicleKind.DirectExec, "direct-exec"), (VehicleKind.Docker, "docker"),
    ];

    /// <summary>Every name, in declaration order.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Names.Select(n => n.Name)];

    /// <summary>The name (<c>twin-pod</c>).</summary>
    public static string Name(this VehicleKind kind) => Names.First(n => n.Kind == kind).Name;

    /// <summary>Whether the vehicle needs a cluster.</summary>
    public static bool OnCluster(this VehicleKind kind) => kind != VehicleKind.Docker;

    /// <summary>Whether the probe image is the vehicle's root filesystem (so its canary directory is there).</summary>
    public static bool HasProbeRootfs(this VehicleKind kind) => kind is VehicleKind.TwinPod or VehicleKind.Docker;

    /// <summary>The kind named <paramref name="name"/>, or null.</summary>
    public static VehicleKind? Parse(string? name) => Names.FirstOrDefault(n => n.Name == name) is { Name: not null } found ? found.Kind : null;
}

/// <summary>Runs agent plans by exec through the API server in one container of one pod.</summary>
internal class KubernetesVehicle : IProbeVehicle, IAsyncDisposable
{
    private readonly Func<ValueTask>? cleanup;
    private int disposed;

    /// <summary>Creates a vehicle for a pod and container that already run the agent.</summary>
    /// <param name="client">The client.</param>
    /// <param name="ns">The pod's namespace.</param>
    /// <param name="pod">The pod.</param>
    /// <param name="container">The container the agent runs in.</param>
    /// <param name="name">Report name.</param>
    /// <param name="notes">Where its verdicts may differ from the real thing.</param>
    /// <param name="cleanup">Runs once on dispose.</param>
    /// <param name="observe">The process the agent observes when it is not itself the target (an ephemeral container); null when it is.</param>
    /// <param name="unobservable">Probes this vehicle cannot ground in the operator, with the reason (see <see cref="Observability"/>).</param>
    public KubernetesVehicle(IKubernetes client, string ns, string pod, string container, string name, ImmutableArray<string> notes, Func<ValueTask>? cleanup = null, TargetProcess? observe = null, ImmutableDictionary<string, string>? unobservable = null)
    {
        Unobservable = unobservable ?? ImmutableDictionary<string, string>.Empty;
        Observe = observe;
        Client = client;
        Namespace = ns;
        Pod = pod;
        Container = container;
        Name = name;
        Notes = notes;
        this.cleanup = cleanup;
    }

    /// <summary>The client.</summary>
    public IKubernetes Client { get; }

    /// <summary>The pod's namespace.</summary>
    public string Namespace { get; }

    /// <summary>The pod.</summary>
    public string Pod { get; }

    /// <summary>The container the agent runs in.</summary>
    public string Container { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public ImmutableDictionary<string, string> Unobservable { get; }

    /// <inheritdoc/>
    public ContainerIdentity? Identity { get; init; }

    /// <summary>The process the agent observes instead of itself; null when the agent runs in the target's own context.</summary>
    public TargetProcess? Observe { get; }

    /// <inheritdoc/>
    public ImmutableArray<string> Notes { get; }

    /// <inheritdoc/>
    public async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(plan);
            var observed = Observe is null || plan.Target is not null ? plan : plan with { Target = Observe };
            return AgentCommand.Report($"{Name} {Namespace}/{Pod}", await KubernetesExec.RunAsync(Client, Namespace, Pod, Container, AgentCommand.Run(observed), ct).ConfigureAwait(false));
        }
        catch (KubernetesException e)
        {
            throw new AgentFailedException($"{Name} {Namespace}/{Pod}", e.Status?.Code ?? -1, $"exec failed: {e.Status?.Reason} {e.Status?.Message}", "");
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0 && cleanup is not null)
        {
            await cleanup().ConfigureAwait(false);
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>Starts the vehicles on a cluster.</summary>
internal static class ClusterVehicles
{
    /// <summary>Starts the chosen vehicle for the target.</summary>
    /// <exception cref="WaitTimeoutException">The twin pod or ephemeral container did not start (pod states and events in the message).</exception>
    /// <exception cref="HttpOperationException">The API server refused the pod (a PodSecurity or RBAC refusal is in the status).</exception>
    public static Task<KubernetesVehicle> StartAsync(VehicleKind kind, IKubernetes client, OperatorTarget target, string probeImage, SessionId session, ContainerIdentity? given = null, TimeProvider? time = null, CancellationToken ct = default) => kind switch
    {
        VehicleKind.TwinPod => StartTwinAsync(client, target, new TwinPodOptions { ProbeImage = probeImage, Session = session, Identity = given }, time, ct),
        VehicleKind.EphemeralContainer => StartEphemeralAsync(client, target, probeImage, session, time, ct),
        VehicleKind.DirectExec => Task.FromResult(new KubernetesVehicle(client, target.Namespace, target.PodName ?? throw new TargetNotFoundException("direct exec needs a running pod of the operator"), target.Container, VehicleKind.DirectExec.Name(),
            ["direct exec: the agent runs inside the operator's own container; its image must contain /probe/agent"])),
        _ => throw new ArgumentException($"{kind.Name()} is not a cluster vehicle.", nameof(kind)),
    };

    /// <summary>Creates the twin pod and waits until its agent runs.</summary>
    public static async Task<KubernetesVehicle> StartTwinAsync(IKubernetes client, OperatorTarget target, TwinPodOptions options, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        string? whyUnknown = null;
        ContainerIdentity? verifyOnly = null;
        if (options.Identity is null)
        {
            var fixedBySpec = ContainerIdentity.FromSpec(target.PodSpec, target.Container);
            (var learned, whyUnknown) = fixedBySpec is { GroupsKnown: true }
                ? (fixedBySpec, null)
                : await LearnIdentityAsync(client, target, options.ProbeImage, options.Session, time, ct).ConfigureAwait(false);
            options = options with { Identity = learned };
            verifyOnly = learned is null ? fixedBySpec : null;
        }
        var pod = TwinPod.Build(target, options);
        try
        {
            await client.CoreV1.CreateNamespacedPodAsync(pod, target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (Verdicts.PodSecurityRefusedException.From(e, $"the twin pod {target.Namespace}/{pod.Metadata.Name} (the operator's pod spec with the probe image)") is { } refused)
        {
            // The operator's own security context, cloned: the namespace's PodSecurity level refuses the operator itself.
            throw refused;
        }
        async ValueTask Delete()
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, target.Namespace, gracePeriodSeconds: 0, cancellationToken: bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or OperationCanceledException or HttpRequestException)
            {
                // It carries the session label; the namespace's removal takes it too.
            }
        }
        try
        {
            await WaitRunningAsync(client, target.Namespace, pod.Metadata.Name, target.Container, ephemeral: false, time, ct).ConfigureAwait(false);
        }
        catch
        {
            await Delete().ConfigureAwait(false);
            throw;
        }
        var identityNote = options.Identity is { } id
            ? $"twin pod: runs with the operator's ids, uid {id.Uid}, gid {id.Gid}, groups [{string.Join(",", id.Groups)}] ({id.Source})"
            : $"twin pod: the operator's ids are unknown ({whyUnknown}); verdicts that depend on them are Inconclusive";
        return new KubernetesVehicle(client, target.Namespace, pod.Metadata.Name, target.Container, VehicleKind.TwinPod.Name(), TwinPod.Notes.Add(identityNote), Delete,
            unobservable: Observability.WithAnotherImage(target.PodSpec, target.Container, options.Identity, whyUnknown))
        {
            // Ids the spec fixes are still checked against what the twin ran with, even when the rest could not be learned.
            Identity = options.Identity ?? verifyOnly,
        };
    }

    /// <summary>
    /// Runs the identity pod (the operator's image under its security context, running the harness's static helper) and
    /// reads the ids from its termination message; the pod is deleted afterwards. Never throws for an operator-side
    /// failure: the reason comes back instead, and the identity-dependent verdicts become Inconclusive with it.
    /// </summary>
    internal static async Task<(ContainerIdentity? Identity, string? Why)> LearnIdentityAsync(IKubernetes client, OperatorTarget target, string probeImage, SessionId session, TimeProvider? time, CancellationToken ct)
    {
        var pod = IdentityPod.Build(target, probeImage, session);
        try
        {
            await client.CoreV1.CreateNamespacedPodAsync(pod, target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (HttpOperationException e)
        {
            return (null, $"the identity pod was refused: {KubernetesExec.Status(e)?.Message ?? e.Message}");
        }
        try
        {
            var done = await Pods.WaitAsync(client, target.Namespace, pod.Metadata.Name, $"identity pod {target.Namespace}/{pod.Metadata.Name} to finish",
                p => p.Count == 1 && (p[0].Status?.Phase is "Succeeded" or "Failed"
                    || (p[0].Status?.ContainerStatuses ?? []).Any(s => s.State?.Waiting?.Reason is "ErrImagePull" or "ImagePullBackOff" or "CreateContainerConfigError" or "CreateContainerError")),
                TimeSpan.FromSeconds(90), time, ct).ConfigureAwait(false);
            return IdentityPod.Read(done[0], target.Container);
        }
        catch (WaitTimeoutException e)
        {
            return (null, e.Message);
        }
        finally
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, target.Namespace, gracePeriodSeconds: 0, cancellationToken: bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or OperationCanceledException or HttpRequestException)
            {
                // It carries the session label; the namespace's removal or the sweep takes it.
            }
        }
    }

    /// <summary>Adds the ephemeral container to the operator's running pod and waits until it runs.</summary>
    public static async Task<KubernetesVehicle> StartEphemeralAsync(IKubernetes client, OperatorTarget target, string probeImage, SessionId session, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(target);
        var podName = target.PodName ?? throw new TargetNotFoundException("the ephemeral container vehicle needs a running pod of the operator");
        var pod = await client.CoreV1.ReadNamespacedPodAsync(podName, target.Namespace, cancellationToken: ct).ConfigureAwait(false);
        var container = EphemeralProbe.Build(pod.Spec, target.Container, probeImage, session);
        var notes = EphemeralProbe.Notes;
        try
        {
            await PatchAsync(container).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response?.StatusCode == System.Net.HttpStatusCode.Forbidden
            && KubernetesExec.Status(e)?.Message is { } message && Verdicts.PodSecurityRefusal.IsRefusal(message))
        {
            // The copy is refused (the namespace's level is stricter than the running pod): probe restricted, and let the
            // agent's comparison of the two processes make the kernel attempts inconclusive where that matters.
            container = EphemeralProbe.BuildRestricted(pod.Spec, target.Container, probeImage, session);
            notes = notes.Add(EphemeralProbe.RefusedCopyNote(message));
            await PatchAsync(container).ConfigureAwait(false);
        }
        await WaitRunningAsync(client, target.Namespace, podName, container.Name, ephemeral: true, time, ct).ConfigureAwait(false);
        return new KubernetesVehicle(client, target.Namespace, podName, container.Name, VehicleKind.EphemeralContainer.Name(), notes, observe: EphemeralProbe.Observe,
            unobservable: EphemeralProbe.Unobservable(pod.Spec));

        Task PatchAsync(V1EphemeralContainer c) => client.CoreV1.PatchNamespacedPodEphemeralcontainersAsync(
            new V1Patch(KubernetesJson.Serialize(EphemeralProbe.Patch(c)), V1Patch.PatchType.StrategicMergePatch), podName, target.Namespace, cancellationToken: ct);
    }

    private static Task WaitRunningAsync(IKubernetes client, string ns, string pod, string container, bool ephemeral, TimeProvider? time, CancellationToken ct) =>
        Pods.WaitAsync(
            client, ns, pod, $"{(ephemeral ? "ephemeral container" : "twin pod")} {ns}/{pod} ({container}) to run",
            p => p.Count == 1 && ((ephemeral ? p[0].Status?.EphemeralContainerStatuses : p[0].Status?.ContainerStatuses) ?? [])
                .Any(s => s.Name == container && s.State?.Running is not null),
            TimeSpan.FromMinutes(2), time, ct);
}
