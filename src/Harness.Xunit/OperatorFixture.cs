// Harness.Xunit: xUnit v3 fixtures, the opt-in fact sets and FluentAssertions assertions over a run.
using Harness.Deployment;
using Harness.Probes;
using Harness.Runs;
using Xunit;
using Xunit.Sdk;

namespace Harness.Xunit;

/// <summary>What <see cref="OperatorHardeningTests{TFixture}"/> needs of an operator fixture.</summary>
public interface IOperatorFixture
{
    /// <summary>Whether an Inconclusive check skips (with its reason) instead of failing.</summary>
    bool AllowInconclusive { get; }

    /// <summary>The report; skips or fails the calling test with the reason when there is none.</summary>
    OperatorHardeningReport RequireReport();
}

/// <summary>
/// One operator under test, in a namespace of its own: deployed from its manifests, probed once from inside its
/// security context (twin pod by default) and from outside (SubjectAccessReviews), torn down afterwards. Generic over
/// the cluster fixture, so a derived cluster fixture (one that overrides <c>CreateOptions</c>) reaches it: xUnit
/// resolves fixtures by their exact type.
/// <code>public sealed class MyOperatorFixture(MyClusterFixture cluster, IMessageSink log) : OperatorFixture&lt;MyClusterFixture&gt;(cluster, log)
/// { protected override OperatorSpec Operator => new() { Manifests = ["deploy/"], Workload = "my-operator" }; }</code>
/// Egress: on kind and K3s the harness's sink beside the cluster; destinations you control can be added with
/// HARNESS_EGRESS_TARGETS (<c>name=URL[@ADDRESS];...</c>) or <see cref="ProbeOptions"/>; on a cluster with neither a
/// Docker network nor given targets, a sink pod inside the cluster, with its caveat in the evidence.
/// </summary>
/// <typeparam name="TCluster">The cluster fixture (an assembly or collection fixture).</typeparam>
public abstract class OperatorFixture<TCluster>(TCluster cluster, IMessageSink messages) : IOperatorFixture, IAsyncLifetime
    where TCluster : HarnessClusterFixture
{
    /// <summary>The operator to deploy.</summary>
    protected abstract OperatorSpec Operator { get; }

    /// <summary>
    /// Probe options: vehicle (twin pod by default), writable directory, read-only paths, allowed capabilities,
    /// timeouts and egress destinations you control (by default those in HARNESS_EGRESS_TARGETS). Override with
    /// <c>base.ProbeOptions() with { ... }</c>.
    /// </summary>
    /// <exception cref="ArgumentException">HARNESS_EGRESS_TARGETS is malformed.</exception>
    protected virtual OperatorProbeOptions ProbeOptions() => new OperatorProbeOptions().WithEnvironment();

    /// <inheritdoc/>
    public virtual bool AllowInconclusive => false;

    /// <summary>The report, once probed.</summary>
    public OperatorHardeningReport? Report { get; private set; }

    /// <summary>Why the operator could not be probed (deployment, vantage, vehicle or agent failure).</summary>
    public Exception? SetupFailure { get; private set; }

    /// <summary>The cluster fixture.</summary>
    public TCluster ClusterFixture => cluster;

    /// <summary>Deploys, probes and tears down the operator (the whole <see cref="OperatorRun"/>); the facts read the report.</summary>
    public async ValueTask InitializeAsync()
    {
        if (cluster.Cluster is not { } live)
        {
            return; // the tests skip or fail with the cluster fixture's reason
        }
        using var log = new MessageSinkWriter(messages, Operator.Workload);
        try
        {
            var result = await OperatorRun.Deploy(live, Operator, ProbeOptions()).RunAsync(new RunSession(log, ct: TestContext.Current.CancellationToken)).ConfigureAwait(false);
            Report = result.Report;
            foreach (var image in Report.UnpinnedImages)
            {
                await log.WriteLineAsync($"image {image} is not pinned by digest").ConfigureAwait(false);
            }
            await log.WriteLineAsync($"timings: {PhaseClock.Format(Report.Timings)}").ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SetupFailure = e;
        }
    }

    /// <inheritdoc/>
    public OperatorHardeningReport RequireReport()
    {
        cluster.Require();
        if (SetupFailure is not null)
        {
            throw new InvalidOperationException($"{Operator.Workload} could not be probed: {SetupFailure.Message}", SetupFailure);
        }
        return Report ?? throw new InvalidOperationException($"{Operator.Workload} was not probed.");
    }

    /// <summary>Nothing to do: the run tore down what it created before the facts ran.</summary>
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The operator fixture for the harness's own cluster fixture (<see cref="HarnessClusterFixture"/>).</summary>
/// <param name="cluster">The cluster fixture.</param>
/// <param name="messages">Diagnostic messages.</param>
public abstract class OperatorFixture(HarnessClusterFixture cluster, IMessageSink messages) : OperatorFixture<HarnessClusterFixture>(cluster, messages);
