using System.Collections.Immutable;
using Docker.DotNet;
using Docker.DotNet.Models;
using Harness.Docker;
using Harness.Protocol;

namespace Harness.Vehicles;

/// <summary>
/// Runs the agent in a local container that mirrors a pod spec (<see cref="ContainerRunSpec"/>). A fast
/// pre-flight without a cluster, and how this project proves the agent against real kernels. Its reports say
/// they are a local approximation of a kubelet.
/// </summary>
internal sealed class DockerVehicle : IProbeVehicle, IAsyncDisposable
{
    private readonly DockerHost docker;
    private int disposed;

    private DockerVehicle(DockerHost docker, string containerId, ContainerRunSpec spec, string name)
    {
        this.docker = docker;
        ContainerId = containerId;
        Spec = spec;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ImmutableArray<string> Notes => Spec.Notes;

    /// <inheritdoc />
    /// <remarks>
    /// A container that observes another process (the ephemeral-container model) judges the target's own ids and compares
    /// its context with the target's in the agent; the identity rules of a stand-in image do not apply to it.
    /// </remarks>
    public ImmutableDictionary<string, string> Unobservable => Spec.Observe is null ? Spec.Unobservable
        : Spec.Unobservable.RemoveRange([.. Observability.UidDependent, .. Observability.GidDependent]);

    /// <inheritdoc />
    public ContainerIdentity? Identity => Spec.Observe is null ? Spec.Identity : null;

    /// <summary>The container's id.</summary>
    public string ContainerId { get; }

    /// <summary>The spec it was started from.</summary>
    public ContainerRunSpec Spec { get; }

    /// <summary>Creates and starts the container, attached to every network of the spec.</summary>
    /// <param name="docker">The session's Docker connection (owns cleanup).</param>
    /// <param name="spec">What to run.</param>
    /// <param name="name">Report name (<c>docker</c>, <c>docker:outside</c>).</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="InvalidOperationException">The container did not start; the message carries Docker's reason.</exception>
    public static async Task<DockerVehicle> StartAsync(DockerHost docker, ContainerRunSpec spec, string name = "docker", CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(spec);
        var parameters = ToCreateParameters(spec, docker.Labels("vehicle"));
        string id;
        try
        {
            // Not cancelled in flight: a create aborted on the client can still complete in the daemon after the teardown
            // listed the session's containers (a leak seen under SIGINT). Bounded instead; the cancellation is honoured
            // below, once the container is known and can be removed.
            using var bound = new CancellationTokenSource(DockerHost.CreateBound);
            id = (await docker.Client.Containers.CreateContainerAsync(parameters, bound.Token).ConfigureAwait(false)).ID;
        }
        catch (DockerApiException ex)
        {
            throw new VehicleException(name, $"Docker refused to create the {name} container from image {spec.Image}: {ex.ResponseBody?.Trim()}", ex);
        }
        var vehicle = new DockerVehicle(docker, id, spec, name);
        try
        {
            ct.ThrowIfCancellationRequested();
            foreach (var network in spec.Networks.Skip(1))
            {
                await docker.Client.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters
                {
                    Container = id,
                    EndpointConfig = new EndpointSettings { Aliases = spec.Alias is null ? [] : [spec.Alias] },
                }, ct).ConfigureAwait(false);
            }
            await docker.Client.Containers.StartContainerAsync(id, new ContainerStartParameters(), ct).ConfigureAwait(false);
        }
        catch (DockerApiException ex)
        {
            await vehicle.DisposeAsync().ConfigureAwait(false);
            throw new VehicleException(name, $"The {name} container did not start ({spec.Image}): {ex.ResponseBody?.Trim()}", ex);
        }
        catch
        {
            await vehicle.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return vehicle;
    }

    /// <summary>
    /// Learns the operator's identity locally: its own image, under the user and groups its pod spec maps to, runs the
    /// harness's static kernel helper (bound in read-only; it needs no libc and no shell) and prints its ids. Never throws
    /// for an operator-side failure (image not on this machine, no such user): the reason comes back instead.
    /// </summary>
    /// <param name="docker">The session's Docker connection.</param>
    /// <param name="pod">The operator's pod spec.</param>
    /// <param name="container">Its container.</param>
    /// <param name="kernelHelper">The host path of the static kernel helper (<c>kprobe</c>).</param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<(ContainerIdentity? Identity, string? Why)> LearnIdentityAsync(DockerHost docker, k8s.Models.V1PodSpec pod, string container, string kernelHelper, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(pod);
        var image = pod.Containers?.FirstOrDefault(c => c.Name == container)?.Image;
        if (string.IsNullOrEmpty(image))
        {
            return (null, $"container {container} names no image");
        }
        ContainerRunSpec spec;
        try
        {
            spec = ContainerRunSpec.FromPodSpec(pod, container, image) with
            {
                Entrypoint = ["/harness-identity/kprobe"],
                Command = ["identity"],
                Binds = [$"{kernelHelper}:/harness-identity/kprobe:ro"],
                Networks = [],
                Tmpfs = ImmutableSortedDictionary<string, string>.Empty,
            };
        }
        catch (UnsupportedPodSpecException e)
        {
            return (null, e.Message);
        }
        try
        {
            await using var probe = await StartAsync(docker, spec, "docker:identity", ct).ConfigureAwait(false);
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(TimeSpan.FromSeconds(30));
            var result = await probe.WaitAsync(bound.Token).ConfigureAwait(false);
            var line = result.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("ok ", StringComparison.Ordinal));
            return ContainerIdentity.Parse(line?[3..], $"learned from the operator's image {image} (local container)") is { } identity
                ? (identity, null)
                : (null, $"the operator's image {image} did not report its ids (exit {result.ExitCode}: {(result.Stderr + result.Stdout).Trim()})");
        }
        catch (VehicleException e)
        {
            return (null, e.Message.Contains("No such image", StringComparison.OrdinalIgnoreCase)
                ? $"the operator's image {image} is not on this machine (build or pull it, or give imageUser)"
                : e.Message);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, $"the operator's image {image} did not report its ids within 30 s");
        }
    }

    /// <summary>The Docker API form of <paramref name="spec"/>. Pure.</summary>
    internal static CreateContainerParameters ToCreateParameters(ContainerRunSpec spec, IDictionary<string, string> labels)
    {
        var first = spec.Networks.FirstOrDefault();
        return new CreateContainerParameters
        {
            Image = spec.Image,
            Cmd = [.. spec.Command],
            Entrypoint = spec.Entrypoint.IsEmpty ? null! : [.. spec.Entrypoint],
            Env = [.. spec.Environment.Select(kv => $"{kv.Key}={kv.Value}")],
            User = spec.User ?? "",
            Labels = labels,
            HostConfig = new HostConfig
            {
                ReadonlyRootfs = spec.ReadOnlyRootfs,
                CapDrop = [.. spec.CapDrop],
                CapAdd = [.. spec.CapAdd],
                SecurityOpt = [.. spec.SecurityOpt],
                Privileged = spec.Privileged,
                Tmpfs = spec.Tmpfs.ToDictionary(kv => kv.Key, kv => kv.Value),
                GroupAdd = [.. spec.GroupAdd],
                Binds = spec.Binds.IsEmpty ? null! : [.. spec.Binds],
                Memory = spec.MemoryBytes,
                NanoCPUs = spec.NanoCpus,
                PidMode = spec.HostPid ? "host" : spec.PidNamespaceOf is { } other ? $"container:{other}" : "",
                NetworkMode = first ?? "none",
                DNS = [.. spec.Dns],
                Init = false,
            },
            NetworkingConfig = first is null ? new NetworkingConfig() : new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings>
                {
                    [first] = new EndpointSettings { Aliases = spec.Alias is null ? [] : [spec.Alias] },
                },
            },
        };
    }

    /// <summary>The container's IP address on <paramref name="network"/>.</summary>
    /// <exception cref="InvalidOperationException">The container is not on that network.</exception>
    public async Task<string> IpAddressAsync(string network, CancellationToken ct = default)
    {
        var inspect = await docker.Client.Containers.InspectContainerAsync(ContainerId, ct).ConfigureAwait(false);
        return inspect.NetworkSettings?.Networks is { } networks && networks.TryGetValue(network, out var endpoint) && !string.IsNullOrEmpty(endpoint.IPAddress)
            ? endpoint.IPAddress
            : throw new VehicleException(Name, $"{Name} has no address on network {network}.");
    }

    /// <inheritdoc />
    public async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var observed = Spec.Observe is null || plan.Target is not null ? plan : plan with { Target = Spec.Observe };
        return AgentCommand.Report(Name, await ExecAsync(AgentCommand.Run(observed), ct).ConfigureAwait(false));
    }

    /// <summary>Runs a command in the container (no shell) and collects its output.</summary>
    public async Task<ExecResult> ExecAsync(IReadOnlyList<string> command, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var created = await docker.Client.Exec.CreateContainerExecAsync(ContainerId, new ContainerExecCreateParameters
        {
            AttachStdout = true,
            AttachStderr = true,
            Cmd = [.. command],
        }, ct).ConfigureAwait(false);
        using var stream = await docker.Client.Exec.StartContainerExecAsync(created.ID, new ContainerExecStartParameters(), ct).ConfigureAwait(false);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct).ConfigureAwait(false);
        var inspect = await docker.Client.Exec.InspectContainerExecAsync(created.ID, ct).ConfigureAwait(false);
        return new ExecResult(inspect.ExitCode ?? -1, stdout, stderr);
    }

    /// <summary>Waits for the container's own process to exit and returns its exit code and output.</summary>
    public async Task<ExecResult> WaitAsync(CancellationToken ct = default)
    {
        var exit = await docker.Client.Containers.WaitContainerAsync(ContainerId, ct).ConfigureAwait(false);
        using var logs = await docker.Client.Containers.GetContainerLogsAsync(ContainerId, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true }, ct).ConfigureAwait(false);
        var (stdout, stderr) = await logs.ReadOutputToEndAsync(ct).ConfigureAwait(false);
        return new ExecResult(exit.StatusCode, stdout, stderr);
    }

    /// <summary>Removes the container (idempotent).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0 && !docker.KeepResources)
        {
            await docker.RemoveContainerAsync(ContainerId, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
