using System.Security.Cryptography;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Docker;
using Harness.Probes;
using Xunit;
using Xunit.Sdk;

namespace Harness.Xunit;

/// <summary>
/// One operator under test, in a namespace of its own: deployed from its manifests, probed once from inside its
/// security context (twin pod by default) and from outside (SubjectAccessReviews), torn down afterwards. Derive from it
/// and say which operator:
/// <code>public sealed class MyOperatorFixture(HarnessClusterFixture cluster, IMessageSink log) : OperatorFixture(cluster, log)
/// { protected override OperatorSpec Operator => new() { Manifests = ["deploy/"], Workload = "my-operator" }; }</code>
/// </summary>
public abstract class OperatorFixture(HarnessClusterFixture cluster, IMessageSink messages) : IAsyncLifetime
{
    private DockerHost? docker;
    private ClusterEgressSink? sink;
    private DeployedOperator? deployed;

    /// <summary>The operator to deploy.</summary>
    protected abstract OperatorSpec Operator { get; }

    /// <summary>Probe options (vehicle, extra egress targets); the twin pod and the harness's sink by default.</summary>
    protected virtual OperatorProbeOptions ProbeOptions(string session) => new() { Session = session };

    /// <summary>Whether an Inconclusive check skips (with its reason) instead of failing. Off: inconclusive proves nothing.</summary>
    public virtual bool AllowInconclusive => false;

    /// <summary>The report, once probed.</summary>
    public OperatorHardeningReport? Report { get; private set; }

    /// <summary>Why the operator could not be probed (deployment, vehicle or agent failure).</summary>
    public Exception? SetupFailure { get; private set; }

    /// <summary>The cluster fixture.</summary>
    public HarnessClusterFixture ClusterFixture => cluster;

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        if (cluster.Cluster is null)
        {
            return; // the tests skip or fail with the cluster fixture's reason
        }
        var session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        using var log = new MessageSinkWriter(messages, Operator.Workload);
        var ct = TestContext.Current.CancellationToken;
        try
        {
            deployed = await OperatorDeployment.DeployAsync(cluster.Cluster, Operator, session, log, ct: ct).ConfigureAwait(false);
            docker = await DockerHost.ConnectAsync(ct: ct).ConfigureAwait(false);
            sink = await ClusterEgressSink.StartAsync(cluster.Cluster, docker, cluster.Cluster.ProbeImage!, session, ct: ct).ConfigureAwait(false);
            Report = await OperatorProbes.RunAsync(cluster.Cluster, deployed, sink, ProbeOptions(session), ct).ConfigureAwait(false);
            foreach (var image in deployed.UnpinnedImages)
            {
                await log.WriteLineAsync($"image {image} is not pinned by digest").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SetupFailure = e;
        }
    }

    /// <summary>The report; skips or fails the calling test with the reason when there is none.</summary>
    public OperatorHardeningReport RequireReport()
    {
        cluster.Require();
        if (SetupFailure is not null)
        {
            throw new InvalidOperationException($"{Operator.Workload} could not be probed: {SetupFailure.Message}", SetupFailure);
        }
        return Report ?? throw new InvalidOperationException($"{Operator.Workload} was not probed.");
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (sink is not null)
        {
            await sink.DisposeAsync().ConfigureAwait(false);
        }
        if (docker is not null)
        {
            await docker.DisposeAsync().ConfigureAwait(false);
        }
        if (deployed is not null)
        {
            await deployed.DisposeAsync().ConfigureAwait(false);
        }
        GC.SuppressFinalize(this);
    }
}
