using System.Collections.Immutable;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Harness.Runs;

/// <summary>Whether a session that labelled objects on a cluster is still running.</summary>
internal enum SessionLiveness
{
    /// <summary>Its lease is renewed: leave its objects alone.</summary>
    Live,

    /// <summary>Its lease expired, or it never had one and its objects are older than the stale bound: its objects are leftovers.</summary>
    Dead,
}

/// <summary>
/// A session proves it is alive the way Testcontainers' reaper does for containers: a <c>coordination.k8s.io</c> Lease
/// (<c>default/harness-session-{id}</c>) renewed every <see cref="RenewEvery"/> while the run lives and deleted at its
/// end. A run killed with <c>kill -9</c> stops renewing; <see cref="Duration"/> later its objects are leftovers that the
/// next run's sweep (or <c>harness sweep</c>) removes. Acquired before the run creates anything.
/// </summary>
internal sealed class SessionLease : IAsyncDisposable
{
    /// <summary>Where the leases live: a namespace every cluster has.</summary>
    public const string Namespace = "default";

    /// <summary>How long a lease holds without renewal.</summary>
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(30);

    /// <summary>How often a live session renews it.</summary>
    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(10);

    private readonly IKubernetes? client;
    private readonly CancellationTokenSource stop = new();
    private readonly Task renewing;
    private int disposed;

    private SessionLease(IKubernetes? client, SessionId session, TimeProvider time, TextWriter log)
    {
        this.client = client;
        Session = session;
        renewing = client is null ? Task.CompletedTask : RenewAsync(client, session, time, log, stop.Token);
    }

    /// <summary>The session it keeps alive.</summary>
    public SessionId Session { get; }

    /// <summary>Whether the lease exists (false when the credentials may not create one: the run goes on, and its leftovers wait for the stale bound).</summary>
    public bool Held => client is not null;

    /// <summary>The lease's name for a session.</summary>
    public static string Name(SessionId session) => $"harness-session-{session}";

    /// <summary>The lease object for a session at <paramref name="now"/>. Pure.</summary>
    public static V1Lease Build(SessionId session, DateTimeOffset now) => new()
    {
        ApiVersion = "coordination.k8s.io/v1",
        Kind = "Lease",
        Metadata = new V1ObjectMeta
        {
            Name = Name(session),
            NamespaceProperty = Namespace,
            Labels = new Dictionary<string, string> { [SessionLabels.Owner] = "harness", [SessionLabels.Session] = session.Value },
        },
        Spec = new V1LeaseSpec
        {
            HolderIdentity = $"{Environment.MachineName}/{Environment.ProcessId}",
            LeaseDurationSeconds = (int)Duration.TotalSeconds,
            AcquireTime = now.UtcDateTime,
            RenewTime = now.UtcDateTime,
        },
    };

    /// <summary>Creates the session's lease and keeps renewing it until disposed; never throws for a refusal (logged instead).</summary>
    public static async Task<SessionLease> AcquireAsync(IKubernetes client, SessionId session, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        log ??= TextWriter.Null;
        time ??= TimeProvider.System;
        try
        {
            await client.CoordinationV1.CreateNamespacedLeaseAsync(Build(session, time.GetUtcNow()), Namespace, cancellationToken: ct).ConfigureAwait(false);
            return new SessionLease(client, session, time, log);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // The session holds its lease already (the cluster and the run of one qualification share a session): the first holder renews and releases it.
            return new SessionLease(null, session, time, log);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
        {
            await log.WriteLineAsync($"session {session}: no lease ({(int)e.Response.StatusCode}: these credentials may not create Leases in {Namespace}); if this run is killed, its objects are swept only once they are older than the stale bound").ConfigureAwait(false);
            return new SessionLease(null, session, time, log);
        }
    }

    /// <summary>The liveness of <paramref name="session"/>, given the leases on the cluster and when its object was created. Pure.</summary>
    /// <param name="session">The session the object is labelled with.</param>
    /// <param name="leases">Every harness lease, by session.</param>
    /// <param name="created">When the object was created.</param>
    /// <param name="now">Now.</param>
    /// <param name="staleAfter">For a session without a lease (its credentials could not create one): how old its objects must be.</param>
    public static SessionLiveness Liveness(string session, IReadOnlyDictionary<string, V1Lease> leases, DateTimeOffset? created, DateTimeOffset now, TimeSpan staleAfter)
    {
        ArgumentNullException.ThrowIfNull(leases);
        if (leases.TryGetValue(session, out var lease))
        {
            return Expires(lease) is { } expires && expires > now ? SessionLiveness.Live : SessionLiveness.Dead;
        }
        return created is { } c && now - c > staleAfter ? SessionLiveness.Dead : SessionLiveness.Live;
    }

    /// <summary>When a lease runs out (renewal or acquisition plus its duration); null when it says neither.</summary>
    public static DateTimeOffset? Expires(V1Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var last = lease.Spec?.RenewTime ?? lease.Spec?.AcquireTime;
        return last is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) + TimeSpan.FromSeconds(lease.Spec?.LeaseDurationSeconds ?? (int)Duration.TotalSeconds) : null;
    }

    /// <summary>Every harness session lease on the cluster, by session; empty when they may not be listed.</summary>
    public static async Task<ImmutableDictionary<string, V1Lease>> ReadAllAsync(IKubernetes client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        try
        {
            var list = await client.CoordinationV1.ListNamespacedLeaseAsync(Namespace, labelSelector: SessionLabels.Session, cancellationToken: ct).ConfigureAwait(false);
            return list.Items.Where(l => l.Metadata?.Labels?.ContainsKey(SessionLabels.Session) == true)
                .GroupBy(l => l.Metadata.Labels[SessionLabels.Session], StringComparer.Ordinal)
                .ToImmutableDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
        {
            return ImmutableDictionary<string, V1Lease>.Empty;
        }
    }

    /// <summary>Whether one session is alive now.</summary>
    public static async Task<SessionLiveness> LivenessAsync(IKubernetes client, string session, DateTimeOffset? created, TimeProvider? time, TimeSpan staleAfter, CancellationToken ct) =>
        Liveness(session, await ReadAllAsync(client, ct).ConfigureAwait(false), created, (time ?? TimeProvider.System).GetUtcNow(), staleAfter);

    private static async Task RenewAsync(IKubernetes client, SessionId session, TimeProvider time, TextWriter log, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(RenewEvery, time, stop).ConfigureAwait(false);
                var patch = new V1Patch("{\"spec\":{\"renewTime\":\"" + time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture) + "\"}}", V1Patch.PatchType.MergePatch);
                await client.CoordinationV1.PatchNamespacedLeaseAsync(patch, Name(session), Namespace, cancellationToken: stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException)
            {
                // One missed renewal is within the lease's duration; the next attempt may succeed.
                await log.WriteLineAsync($"session {session}: lease renewal failed ({e.Message}); retrying").ConfigureAwait(false);
            }
        }
    }

    /// <summary>Stops renewing and deletes the lease: the session has ended and removed what it made.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        await stop.CancelAsync().ConfigureAwait(false);
        await renewing.ConfigureAwait(false);
        stop.Dispose();
        if (client is not null)
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await client.CoordinationV1.DeleteNamespacedLeaseAsync(Name(Session), Namespace, cancellationToken: bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException)
            {
                // Expired within Duration; the next sweep removes it.
            }
        }
    }
}
