using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Manifests;
using Harness.Probes;
using Harness.Protocol;
using Harness.Rbac;
using Harness.Runs;
using Harness.Vehicles;
using k8s.Models;

namespace Harness.Tests.Runs;

/// <summary>The pipeline's order and teardown, with stages that record what happened to them.</summary>
public sealed class OperatorRunTests
{
    private sealed class Journal
    {
        public List<string> Events { get; } = [];

        public IAsyncDisposable Teardown(string name) => new Disposer(() => Events.Add("teardown " + name));

        private sealed class Disposer(Action action) : IAsyncDisposable
        {
            public ValueTask DisposeAsync()
            {
                action();
                return ValueTask.CompletedTask;
            }
        }
    }

    private static OperatorTarget Target() => new("ns", new WorkloadRef("Deployment", "op"), "manager", "op", new V1ObjectMeta(), new V1PodSpec { Containers = [new V1Container { Name = "manager", Image = "op:1" }] }, "op-1");

    private sealed class Locate(Journal j) : IOperatorStage
    {
        public Task<LocatedOperator> LocateAsync(RunSession session)
        {
            j.Events.Add("locate");
            return Task.FromResult(new LocatedOperator(new OperatorUnderTest(Target(), [], ["op:1"], "restricted"), j.Teardown("operator")));
        }
    }

    private sealed class Vantage(Journal j) : IVantageStage
    {
        public Task<EgressVantage> StartAsync(RunSession session, OperatorUnderTest op)
        {
            j.Events.Add("vantage");
            return Task.FromResult(EgressVantage.Of(EgressVantageKind.UserTargets, [], new Vehicle(j, "control"), () =>
            {
                j.Events.Add("teardown vantage");
                return ValueTask.CompletedTask;
            }));
        }
    }

    private sealed class Vehicle(Journal j, string name, Exception? fail = null) : IProbeVehicle, IAsyncDisposable
    {
        public string Name => name;

        public ImmutableArray<string> Notes => [];

        public Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
        {
            j.Events.Add("probe " + name);
            ct.ThrowIfCancellationRequested();
            return fail is null ? Task.FromResult(new AgentReport { AgentVersion = "test", Results = [] }) : Task.FromException<AgentReport>(fail);
        }

        public ValueTask DisposeAsync()
        {
            j.Events.Add("teardown " + name);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class VehicleStage(Journal j, Exception? startFails = null, Exception? probeFails = null) : IVehicleStage
    {
        public Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, EgressVantage vantage)
        {
            j.Events.Add("vehicle");
            return startFails is null ? Task.FromResult<IProbeVehicle>(new Vehicle(j, "vehicle", probeFails)) : Task.FromException<IProbeVehicle>(startFails);
        }
    }

    private sealed class Access(Journal j) : IAccessStage
    {
        public Task<ImmutableArray<AccessAnswer>> AskAsync(RunSession session, OperatorUnderTest op, string otherNamespace)
        {
            j.Events.Add("access " + otherNamespace);
            return Task.FromResult(ImmutableArray<AccessAnswer>.Empty);
        }

        public Task<ImmutableArray<Harness.Preflight.Finding>> ForeignTokensAsync(RunSession session, OperatorUnderTest op) =>
            Task.FromResult(ImmutableArray<Harness.Preflight.Finding>.Empty);
    }

    private static OperatorRun Run(Journal j, Exception? startFails = null, Exception? probeFails = null, bool access = true) =>
        new(new Locate(j), new Vantage(j), new VehicleStage(j, startFails, probeFails), access ? new Access(j) : null, new OperatorProbeOptions { SkipProbes = ["egress."] });

    [Fact]
    public async Task RunAsync_RunsTheStagesInOrderAndTearsDownInReverse()
    {
        var j = new Journal();
        var result = await Run(j).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        j.Events.Should().Equal(
            "locate", "vantage", "vehicle", "probe vehicle", "probe control", "teardown vehicle", "access kube-system", "teardown vantage", "teardown operator");
        result.Operator.Target.Workload.Should().Be(new WorkloadRef("Deployment", "op"));
        result.Report.Timings.Select(t => t.Phase).Should().Equal(RunPhase.Sink, RunPhase.Vehicle, RunPhase.Probes, RunPhase.AccessMatrix, RunPhase.Teardown);
        result.Approximation.Should().BeNull();
    }

    [Fact]
    public async Task RunAsync_VehicleFailsToStart_TearsDownWhatStartedAndRethrows()
    {
        var j = new Journal();
        var act = () => Run(j, startFails: new TargetNotFoundException("no pod")).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<TargetNotFoundException>().WithMessage("no pod");
        j.Events.Should().Equal("locate", "vantage", "vehicle", "teardown vantage", "teardown operator");
    }

    [Fact]
    public async Task RunAsync_CancelledDuringProbes_DisposesTheVehicleVantageAndOperator()
    {
        var j = new Journal();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var act = () => Run(j).RunAsync(new RunSession(ct: cts.Token));

        await act.Should().ThrowAsync<OperationCanceledException>();
        j.Events.Should().StartWith(["locate", "vantage", "vehicle"]).And.EndWith(["teardown vehicle", "teardown vantage", "teardown operator"]);
        j.Events.Should().NotContain(e => e.StartsWith("access", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_WithoutAnAccessStage_PlansNoApiProbesAndAsksNothing()
    {
        var j = new Journal();
        var result = await Run(j, access: false).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        result.Report.Probes.Results.Should().NotContain(r => r.Probe.Id.StartsWith("api.", StringComparison.Ordinal));
        result.Report.Access.Should().BeEmpty();
        j.Events.Should().NotContain(e => e.StartsWith("access", StringComparison.Ordinal));
    }

    [Fact]
    public void Local_WithoutManifests_NamesWhatIsMissing() =>
        FluentActions.Invoking(() => OperatorRun.Local(new OperatorLookup { Deployment = "op" }, new OperatorProbeOptions()))
            .Should().Throw<ArgumentException>().WithMessage("*give operator.manifests (or --manifests)*");

    [Theory]
    [InlineData(null, null)]
    [InlineData("op", "app=op")]
    public void Lookup_NeedsExactlyOneOfDeploymentAndSelector(string? deployment, string? selector) =>
        FluentActions.Invoking(() => new OperatorLookup { Deployment = deployment, Selector = selector, Manifests = ["m.yaml"] }.Validate())
            .Should().Throw<ArgumentException>().WithMessage("*exactly one of deployment*selector*");

    [Fact]
    public void ManifestStage_FindsTheWorkloadBySelectorAndReadsTheNamespaceLabel()
    {
        var docs = ManifestLoader.LoadText("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: ops, labels: {pod-security.kubernetes.io/enforce: baseline}}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: op, namespace: ops}
            spec:
              selector: {matchLabels: {app: op}}
              template:
                metadata: {labels: {app: op, tier: control}}
                spec: {containers: [{name: manager, image: op:1}]}
            """, "m.yaml");

        ManifestStage.FindWorkload(docs, new OperatorLookup { Selector = "app=op, tier=control", Manifests = ["m.yaml"] }).Ref.Should().Be(new WorkloadRef("Deployment", "op"));
        FluentActions.Invoking(() => ManifestStage.FindWorkload(docs, new OperatorLookup { Deployment = "nope", Manifests = ["m.yaml"] }))
            .Should().Throw<TargetNotFoundException>().WithMessage("*no workload named \"nope\" in m.yaml; they have Deployment/op*");
        ManifestStage.NamespaceEnforce(docs, "ops").Should().Be("baseline");
        ManifestStage.NamespaceEnforce(docs, "elsewhere").Should().BeNull("the manifests say nothing about it");
    }
}
