// Harness.Xunit: the opt-in proof fact set (issue #28): every hardening control the operator has, removed one at a
// time, must fail the check that guards it.
using Harness.Clusters;
using Harness.Vehicles;
using Harness.Docker;
using Harness.Probes;
using Harness.Proof;
using Harness.Qualification;
using Xunit;
using Xunit.Sdk;

namespace Harness.Xunit;

/// <summary>
/// The proof of one operator: <c>harness prove</c> on a scenario file, run once for the class. The docker vehicle needs
/// Docker; a cluster vehicle needs HARNESS_KUBECONFIG (an existing cluster: every mutant runs on it, each in
/// namespaces of its own).
/// <code>public sealed class MyOperatorProof(IMessageSink log) : OperatorProofFixture(log) { protected override string ScenarioFile => "qualify/my-operator.yaml"; }
/// public sealed class MyOperatorProofTests : OperatorProofTests&lt;MyOperatorProof&gt; {}</code>
/// </summary>
/// <param name="messages">Diagnostic messages (progress, one line per run).</param>
public abstract class OperatorProofFixture(IMessageSink messages) : IAsyncLifetime
{
    /// <summary>The scenario file; relative paths in it resolve against its folder.</summary>
    protected abstract string ScenarioFile { get; }

    /// <summary>The scenario as proven: the file's, by default; override to change a field (<c>fromFile with { Vehicle = ... }</c>).</summary>
    protected virtual QualificationScenario Scenario(QualificationScenario fromFile) => fromFile;

    /// <summary>How many runs at once (2: what a 2-core CI machine holds).</summary>
    protected virtual int Parallel => 2;

    /// <summary>
    /// The request: the scenario and, for a cluster vehicle, the cluster from the environment: HARNESS_KUBECONFIG,
    /// HARNESS_CONTEXT, HARNESS_PROBE_IMAGE, HARNESS_IMAGE_LOADER and HARNESS_DOCKER_NETWORK.
    /// </summary>
    protected virtual QualifyRequest Request(QualificationScenario scenario)
    {
        var options = ClusterOptions.FromEnvironment();
        return new()
        {
            Scenario = scenario,
            Kubeconfig = options.Kubeconfig,
            Context = options.Context,
            ProbeImage = options.ProbeImage,
            ImageLoader = options.ImageLoader,
            DockerNetwork = options.DockerNetwork,
        };
    }

    /// <summary>The kill matrix, once proven.</summary>
    public ProofReport? Report { get; private set; }

    /// <summary>What was missing to run the proof (Docker, a cluster): the facts skip with it, or fail when HARNESS_REQUIRE_DOCKER=1 or HARNESS_REQUIRE_CLUSTER=1 asks for it.</summary>
    public string? Unavailable { get; private set; }

    /// <summary>Why the proof could not be run (a scenario, a manifest, a run that failed).</summary>
    public Exception? SetupFailure { get; private set; }

    private bool onCluster;

    /// <summary>Proves the scenario's operator (every run torn down before the facts run).</summary>
    public async ValueTask InitializeAsync()
    {
        using var log = new MessageSinkWriter(messages, "prove");
        try
        {
            var scenario = Scenario(ScenarioParser.Load(ScenarioFile));
            onCluster = scenario.Vehicle.OnCluster();
            Report = await ProveAsync(scenario, log, TestContext.Current.CancellationToken).ConfigureAwait(false);
            if (Report is not null)
            {
                await log.WriteLineAsync(Report.Render()).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is PrerequisiteException or DockerUnavailableException)
        {
            Unavailable = e.Message;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SetupFailure = e;
        }
    }

    /// <summary>
    /// Runs the proof: the docker vehicle locally; a cluster vehicle on the cluster in HARNESS_KUBECONFIG
    /// (<see cref="Request"/>). <see cref="OperatorProofFixture{TCluster}"/> proves on a cluster fixture's cluster instead.
    /// </summary>
    /// <returns>The kill matrix; null when a fixture it depends on already says why there is none.</returns>
    /// <exception cref="PrerequisiteException">A cluster vehicle without a kubeconfig.</exception>
    protected virtual async Task<ProofReport?> ProveAsync(QualificationScenario scenario, TextWriter log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var request = Request(scenario);
        if (scenario.Vehicle.OnCluster() && request.Kubeconfig is null)
        {
            throw new PrerequisiteException("no cluster", $"scenario {ScenarioFile} names the {scenario.Vehicle.Name()} vehicle;", "set HARNESS_KUBECONFIG=path to prove it on an existing cluster.");
        }
        return await Prover.ProveAsync(request, Parallel, log, ct).ConfigureAwait(false);
    }

    /// <summary>The kill matrix; skips (or fails) the calling test with the reason when there is none.</summary>
    public virtual ProofReport RequireReport()
    {
        if (SetupFailure is not null)
        {
            throw new InvalidOperationException($"{ScenarioFile} could not be proven: {SetupFailure.Message}", SetupFailure);
        }
        if (Unavailable is not null)
        {
            var required = $"HARNESS_REQUIRE_{(onCluster ? "CLUSTER" : "DOCKER")}";
            if (Environment.GetEnvironmentVariable(required) == "1")
            {
                throw new InvalidOperationException($"{required}=1 but {Unavailable}");
            }
            Assert.Skip(Unavailable);
        }
        return Report ?? throw new InvalidOperationException($"{ScenarioFile} was not proven.");
    }

    /// <summary>Nothing to do: every run tore down what it created.</summary>
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The proof of one operator on a cluster fixture's cluster (the scenario names a cluster vehicle): every run on it,
/// each in namespaces of its own, sharing its verification and egress vantage. Generic over the cluster fixture, as
/// <see cref="OperatorFixture{TCluster}"/> is.
/// </summary>
/// <typeparam name="TCluster">The cluster fixture (an assembly or collection fixture).</typeparam>
/// <param name="cluster">The cluster fixture.</param>
/// <param name="messages">Diagnostic messages.</param>
public abstract class OperatorProofFixture<TCluster>(TCluster cluster, IMessageSink messages) : OperatorProofFixture(messages)
    where TCluster : HarnessClusterFixture
{
    /// <inheritdoc/>
    protected override async Task<ProofReport?> ProveAsync(QualificationScenario scenario, TextWriter log, CancellationToken ct) =>
        cluster.Cluster is { } live
            ? await Prover.ProveOnClusterAsync(live, scenario, Parallel, log, ct).ConfigureAwait(false)
            : null; // the facts skip or fail with the cluster fixture's reason

    /// <inheritdoc/>
    public override ProofReport RequireReport()
    {
        cluster.Require();
        return base.RequireReport();
    }
}

/// <summary>
/// Opt-in facts that prove the checks can fail on your operator: each removes one hardening control the operator has
/// (<c>harness prove</c>'s mutants) and asserts that the check guarding it failed. A control the operator does not
/// have, or one the vehicle cannot observe, skips with the reason. <c>public class MyOperatorProofTests : OperatorProofTests&lt;MyOperatorProof&gt; {}</c>
/// </summary>
/// <typeparam name="TFixture">The proof fixture.</typeparam>
public abstract class OperatorProofTests<TFixture> : IClassFixture<TFixture>
    where TFixture : OperatorProofFixture
{
    /// <summary>Asserts that the mutant removing the control <paramref name="item"/> guards was caught.</summary>
    protected static async Task Proven(HardeningItem item)
    {
        var fixture = await TestContext.Current.GetFixture<TFixture>().ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{typeof(TFixture).Name} is not a fixture of this test class.");
        var report = fixture.RequireReport();
        var verdict = report.For(item);
        Assert.SkipWhen(verdict is null, $"{item.Id()}: {report.WhyNoMutant(item)}");
        verdict!.Should().BeCaught();
    }

    /// <summary><c>readOnlyRootFilesystem: false</c> fails <c>rootfs-readonly</c>.</summary>
    [Fact]
    public Task AWritableRootIsCaught() => Proven(HardeningItem.RootFilesystemReadOnly);

    /// <summary><c>allowPrivilegeEscalation: true</c> fails <c>no-privilege-escalation</c>.</summary>
    [Fact]
    public Task AllowedPrivilegeEscalationIsCaught() => Proven(HardeningItem.NoPrivilegeEscalation);

    /// <summary>Running as root fails <c>non-root</c>.</summary>
    [Fact]
    public Task RunningAsRootIsCaught() => Proven(HardeningItem.NonRoot);

    /// <summary>NET_RAW and SYS_ADMIN added fail <c>capabilities-dropped</c>.</summary>
    [Fact]
    public Task AddedCapabilitiesAreCaught() => Proven(HardeningItem.CapabilitiesDropped);

    /// <summary>seccomp <c>Unconfined</c> fails <c>seccomp</c>.</summary>
    [Fact]
    public Task AnUnconfinedSeccompProfileIsCaught() => Proven(HardeningItem.Seccomp);

    /// <summary>The egress NetworkPolicies removed fail <c>egress-default-deny</c>.</summary>
    [Fact]
    public Task RemovedEgressPoliciesAreCaught() => Proven(HardeningItem.EgressDefaultDeny);

    /// <summary>A legacy token Secret mounted fails <c>serviceaccount-token</c>.</summary>
    [Fact]
    public Task AMountedLegacyTokenIsCaught() => Proven(HardeningItem.ServiceAccountToken);

    /// <summary>The namespace relabelled <c>privileged</c> fails <c>namespace-psa</c>.</summary>
    [Fact]
    public Task APrivilegedNamespaceIsCaught() => Proven(HardeningItem.NamespacePodSecurity);

    /// <summary>A RoleBinding granting Secrets read to its account fails <c>serviceaccount-least-privilege</c> (a cluster vehicle).</summary>
    [Fact]
    public Task ReadableSecretsAreCaught() => Proven(HardeningItem.ServiceAccountLeastPrivilege);

    /// <summary>A custom resource asking for a privileged container fails <c>payload-separation</c> (a cluster vehicle).</summary>
    [Fact]
    public Task APrivilegedPayloadIsCaught() => Proven(HardeningItem.PayloadSeparation);
}
