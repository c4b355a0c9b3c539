// Docker: the session-labelled connection to the local Docker engine and everything it creates.
using Harness.Runs;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Configurations;

namespace Harness.Docker;

/// <summary>Docker is not reachable; the message says where the harness looked and what to do.</summary>
public sealed class DockerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A connection to the Docker engine for one harness session. Everything it creates carries the session labels
/// and is removed on dispose (unless <see cref="KeepResources"/> is set for debugging). The endpoint is resolved
/// the way Testcontainers resolves it (DOCKER_HOST, ~/.testcontainers.properties, the default socket).
/// </summary>
internal sealed class DockerHost : IAsyncDisposable
{
    private int disposed;

    private DockerHost(DockerClient client, SessionId sessionId, Uri endpoint)
    {
        Client = client;
        SessionId = sessionId;
        Endpoint = endpoint;
    }

    /// <summary>The session id in every label.</summary>
    public SessionId SessionId { get; }

    /// <summary>The Docker endpoint in use.</summary>
    public Uri Endpoint { get; }

    /// <summary>Leave containers and networks behind on dispose, for debugging.</summary>
    public bool KeepResources { get; set; }

    internal DockerClient Client { get; }

    /// <summary>Labels for a new resource of this session.</summary>
    public IDictionary<string, string> Labels(string? role = null)
    {
        var labels = new Dictionary<string, string>
        {
            [SessionLabels.Owner] = "harness",
            [SessionLabels.Session] = SessionId.Value,
            [SessionLabels.Created] = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            [SessionOwner.Label] = SessionOwner.Current,
        };
        if (Environment.GetEnvironmentVariable("HARNESS_RUN_ID") is { Length: > 0 } run)
        {
            labels[SessionOwner.RunLabel] = run;
        }
        if (role is not null)
        {
            labels[SessionLabels.Role] = role;
        }
        return labels;
    }

    /// <summary>Connects and pings the engine.</summary>
    /// <exception cref="DockerUnavailableException">No engine answers; the message names the endpoint and what to do.</exception>
    public static Task<DockerHost> ConnectAsync(SessionId? sessionId = null, CancellationToken ct = default) => ConnectAsync(sessionId, sweepDeadSessions: true, ct);

    /// <summary>
    /// Connects and pings the engine; the first connection of a process also sweeps dead sessions, unless the caller
    /// sweeps itself (<c>harness sweep</c>, which reports what it removes).
    /// </summary>
    /// <exception cref="DockerUnavailableException">No engine answers; the message names the endpoint and what to do.</exception>
    internal static async Task<DockerHost> ConnectAsync(SessionId? sessionId, bool sweepDeadSessions, CancellationToken ct)
    {
        Uri endpoint;
        DockerClient client;
        try
        {
            var auth = TestcontainersSettings.OS.DockerEndpointAuthConfig
                ?? throw new DockerUnavailableException(NoDockerMessage("no Docker endpoint was found (no DOCKER_HOST, no socket)"));
            endpoint = auth.Endpoint;
            var builder = auth.GetDockerClientBuilder(Guid.NewGuid());
            if (Environment.GetEnvironmentVariable("DOCKER_API_VERSION") is { Length: > 0 } v && System.Version.TryParse(v, out var version))
            {
                builder = builder.WithApiVersion(version);
            }
            client = builder.Build();
        }
        catch (Exception ex) when (ex is not DockerUnavailableException and not OperationCanceledException)
        {
            throw new DockerUnavailableException(NoDockerMessage(ex.Message), ex);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.System.PingAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            client.Dispose();
            throw new DockerUnavailableException(NoDockerMessage($"{endpoint} did not answer a ping ({ex.GetType().Name}: {ex.Message})"), ex);
        }
        var host = new DockerHost(client, sessionId ?? SessionId.New(), endpoint);
        if (sweepDeadSessions)
        {
            await host.SweepOnceAsync(ct).ConfigureAwait(false);
        }
        return host;
    }

    private static int swept;

    /// <summary>The first connection of a process sweeps what dead sessions left (Docker has no reaper here: Ryuk may be off).</summary>
    private async Task SweepOnceAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref swept, 1) == 1)
        {
            return;
        }
        try
        {
            await SweepDeadSessionsAsync(TimeSpan.FromHours(6), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException)
        {
            // A sweep that cannot finish never stops the run that asked for Docker; the next start tries again.
        }
    }

    private static string NoDockerMessage(string why) =>
        $"Docker is not available: {why}. Start the Docker engine (e.g. `sudo dockerd &` or Docker Desktop), " +
        "or point DOCKER_HOST at one; with an engine older than the client, set DOCKER_API_VERSION (e.g. 1.41).";

    /// <summary>How long a create may take; creates are never cancelled in flight (see <see cref="CreateNetworkAsync"/>).</summary>
    internal static readonly TimeSpan CreateBound = TimeSpan.FromSeconds(60);

    /// <summary>Creates a bridge network of this session.</summary>
    /// <param name="name">Network name (made unique with the session id).</param>
    /// <param name="isolated">An internal network: no route off the host.</param>
    /// <param name="ct">Cancellation.</param>
    /// <returns>The network's name.</returns>
    public async Task<string> CreateNetworkAsync(string name, bool isolated, CancellationToken ct = default)
    {
        var full = $"harness-{SessionId}-{name}";
        // Never abandoned half-way: a create cancelled in flight can still complete in the daemon after the teardown has
        // listed the session's networks. Bounded instead, and the cancellation honoured once the network is known.
        using (var bound = new CancellationTokenSource(CreateBound))
        {
            await Client.Networks.CreateNetworkAsync(new NetworksCreateParameters
            {
                Name = full,
                Driver = "bridge",
                Internal = isolated,
                Labels = Labels("network"),
            }, bound.Token).ConfigureAwait(false);
        }
        ct.ThrowIfCancellationRequested();
        return full;
    }

    /// <summary>
    /// Makes sure a bridge network with this name exists, creating it with <paramref name="subnet"/> when it does not.
    /// Returns the subnet it has (which may differ when it already existed). Not session-labelled: it is shared
    /// infrastructure (kind's <c>kind</c> network), left in place like kind leaves it.
    /// </summary>
    public async Task<string?> EnsureBridgeNetworkAsync(string name, string subnet, CancellationToken ct = default)
    {
        var existing = (await Client.Networks.ListNetworksAsync(new NetworksListParameters(), ct).ConfigureAwait(false)).FirstOrDefault(n => n.Name == name);
        if (existing is null)
        {
            await Client.Networks.CreateNetworkAsync(new NetworksCreateParameters
            {
                Name = name,
                Driver = "bridge",
                IPAM = new IPAM { Config = [new IPAMConfig { Subnet = subnet }] },
                Options = new Dictionary<string, string> { ["com.docker.network.bridge.enable_ip_masquerade"] = "true" },
            }, ct).ConfigureAwait(false);
            return subnet;
        }
        return existing.IPAM?.Config?.FirstOrDefault(c => c.Subnet?.Contains('.', StringComparison.Ordinal) == true)?.Subnet;
    }

    /// <summary>Removes a network by name (idempotent).</summary>
    public async Task RemoveNetworkAsync(string name, CancellationToken ct = default)
    {
        try
        {
            await Client.Networks.DeleteNetworkAsync(name, ct).ConfigureAwait(false);
        }
        catch (DockerNetworkNotFoundException)
        {
            // Already gone.
        }
    }

    /// <summary>Removes a container now (idempotent).</summary>
    internal async Task RemoveContainerAsync(string id, CancellationToken ct)
    {
        try
        {
            await Client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Already gone.
        }
    }

    /// <summary>Removes everything this session created, containers before networks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }
        try
        {
            if (!KeepResources)
            {
                await RemoveSessionResourcesAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            Client.Dispose();
        }
    }

    private async Task RemoveSessionResourcesAsync(CancellationToken ct)
    {
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SessionLabels.Session}={SessionId}"] = true } };
        var containers = await Client.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }, ct).ConfigureAwait(false);
        foreach (var c in containers)
        {
            await RemoveContainerAsync(c.ID, ct).ConfigureAwait(false);
        }
        var networks = await Client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }, ct).ConfigureAwait(false);
        foreach (var n in networks)
        {
            try
            {
                await Client.Networks.DeleteNetworkAsync(n.ID, ct).ConfigureAwait(false);
            }
            catch (DockerNetworkNotFoundException)
            {
                // Already gone.
            }
        }
    }

    /// <summary>When a container was created, or null when there is none by that name.</summary>
    public async Task<DateTimeOffset?> ContainerCreatedAsync(string name, CancellationToken ct = default)
    {
        try
        {
            var inspect = await Client.Containers.InspectContainerAsync(name, ct).ConfigureAwait(false);
            return new DateTimeOffset(inspect.Created.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The first network a container is attached to.</summary>
    public async Task<string?> ContainerNetworkAsync(string id, CancellationToken ct = default)
    {
        var inspect = await Client.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false);
        return inspect.NetworkSettings?.Networks?.Keys.FirstOrDefault();
    }

    /// <summary>An image as a <c>docker save</c> tar.</summary>
    public async Task<byte[]> SaveImageAsync(string image, CancellationToken ct = default)
    {
        var stream = await Client.Images.SaveImageAsync(image, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, ct).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }

    /// <summary>
    /// Removes the containers and networks of every dead session: one whose owning processes (<see cref="SessionOwner"/>)
    /// are all known to be gone, or, when no owner can be judged from here (another machine, an older harness), whose
    /// newest resource is older than <paramref name="unjudgedAfter"/>. A live session, and this one, are never touched.
    /// </summary>
    /// <returns>The sessions removed, with how many resources each had.</returns>
    public async Task<IReadOnlyList<(string Session, int Resources)>> SweepDeadSessionsAsync(TimeSpan unjudgedAfter, CancellationToken ct = default)
    {
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SessionLabels.Owner}=harness"] = true } };
        var containers = await Client.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }, ct).ConfigureAwait(false);
        var networks = await Client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }, ct).ConfigureAwait(false);
        var resources = containers.Select(c => (Container: true, c.ID, c.Labels))
            .Concat(networks.Select(n => (Container: false, n.ID, n.Labels)))
            .Where(r => r.Labels is not null && r.Labels.TryGetValue(SessionLabels.Session, out var s) && s != SessionId.Value)
            .GroupBy(r => r.Labels[SessionLabels.Session]);
        var cutoff = DateTimeOffset.UtcNow - unjudgedAfter;
        var removed = new List<(string, int)>();
        foreach (var session in resources)
        {
            if (!SessionIsDead([.. session.Select(r => r.Labels)], cutoff))
            {
                continue;
            }
            // Containers before networks: a network with an endpoint cannot be removed.
            foreach (var r in session.OrderByDescending(r => r.Container))
            {
                if (r.Container)
                {
                    await RemoveContainerAsync(r.ID, ct).ConfigureAwait(false);
                }
                else
                {
                    await RemoveNetworkAsync(r.ID, ct).ConfigureAwait(false);
                }
            }
            removed.Add((session.Key, session.Count()));
        }
        return removed;
    }

    /// <summary>A session is dead when every owner it names is gone; with no owner to judge, when all it has is older than the cutoff.</summary>
    internal static bool SessionIsDead(IReadOnlyList<IDictionary<string, string>> labels, DateTimeOffset cutoff, Func<string?, bool>? ownerIsDead = null)
    {
        ownerIsDead ??= SessionOwner.IsDead;
        var owners = labels.Select(l => l.TryGetValue(SessionOwner.Label, out var o) ? o : null).Distinct().ToList();
        if (owners.All(o => o is not null) && owners.All(ownerIsDead))
        {
            return true;
        }
        return labels.All(l => l.TryGetValue(SessionLabels.Created, out var t) && long.TryParse(t, CultureInfo.InvariantCulture, out var secs) && DateTimeOffset.FromUnixTimeSeconds(secs) < cutoff)
            && owners.All(o => o is null || ownerIsDead(o) || !SessionOwner.IsJudgeable(o));
    }

    /// <summary>Removes harness containers and networks of any session older than <paramref name="olderThan"/> (crashed runs).</summary>
    /// <returns>How many resources were removed.</returns>
    public async Task<int> ReapStaleAsync(TimeSpan olderThan, CancellationToken ct = default)
    {
        var cutoff = DateTimeOffset.UtcNow - olderThan;
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SessionLabels.Owner}=harness"] = true } };
        var removed = 0;
        bool Stale(IDictionary<string, string>? labels) =>
            labels is not null && labels.TryGetValue(SessionLabels.Session, out var s) && s != SessionId.Value
            && labels.TryGetValue(SessionLabels.Created, out var t) && long.TryParse(t, CultureInfo.InvariantCulture, out var secs)
            && DateTimeOffset.FromUnixTimeSeconds(secs) < cutoff;
        foreach (var c in await Client.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }, ct).ConfigureAwait(false))
        {
            if (Stale(c.Labels))
            {
                await RemoveContainerAsync(c.ID, ct).ConfigureAwait(false);
                removed++;
            }
        }
        foreach (var n in await Client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }, ct).ConfigureAwait(false))
        {
            if (Stale(n.Labels))
            {
                await Client.Networks.DeleteNetworkAsync(n.ID, ct).ConfigureAwait(false);
                removed++;
            }
        }
        return removed;
    }
}
