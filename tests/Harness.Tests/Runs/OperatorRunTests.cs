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
        private readonly List<string> events = [];

        /// <summary>A stage that waits for this event before it goes on (a stage that can only finish when another ran beside it).</summary>
        public (string Event, TaskCompletionSource Seen)? Gate { get; set; }

        public List<string> Events
        {
            get
            {
                lock (events)
                {
                    return [.. events];
                }
            }
        }

        public void Add(string e)
        {
            lock (events)
            {
                events.Add(e);
            }
            if (Gate is { } gate && gate.Event == e)
            {
                gate.Seen.TrySetResult();
            }
        }

        public IAsyncDisposable Teardown(string name) => new Disposer(() => Add("teardown " + name));

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

    /// <summary>Locates the operator as a deploy does: its template at once, its running pod when <paramref name="rollout"/> completes (at once when null).</summary>
    private sealed class Locate(Journal j, Task? rollout = null, Task? applied = null, V1Affinity? affinity = null) : IOperatorStage
    {
        public async Task<LocatedOperator> LocateAsync(RunSession session)
        {
            j.Add("locate");
            if (applied is not null)
            {
                await applied.WaitAsync(TimeSpan.FromSeconds(30), session.Cancellation);
            }
            var target = Target();
            target.PodSpec.Affinity = affinity;
            target.PodMetadata.Labels = new Dictionary<string, string> { ["app"] = "op" };
            var template = new OperatorUnderTest(target with { PodName = null }, [], ["op:1"], "restricted");
            return new LocatedOperator(template, j.Teardown("operator"))
            {
                Running = rollout is null ? null : Rolled(),
            };

            async Task<OperatorUnderTest> Rolled()
            {
                await rollout.WaitAsync(TimeSpan.FromSeconds(30), session.Cancellation);
                j.Add("rolled out");
                return template with { Target = target };
            }
        }
    }

    private sealed class Vantage(Journal j, Exception? fails = null) : IVantageStage
    {
        public Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op)
        {
            j.Add("vantage");
            return fails is not null ? Task.FromException<EgressVantage>(fails) : Task.FromResult(EgressVantage.Of(EgressVantageKind.UserTargets, [], new Vehicle(j, "control"), () =>
            {
                j.Add("teardown vantage");
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
            j.Add("probe " + name);
            ct.ThrowIfCancellationRequested();
            return fail is null ? Task.FromResult(new AgentReport { AgentVersion = "test", Results = [] }) : Task.FromException<AgentReport>(fail);
        }

        public ValueTask DisposeAsync()
        {
            j.Add("teardown " + name);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class VehicleStage(Journal j, Exception? startFails = null, Exception? probeFails = null, bool needsRunningPod = false) : IVehicleStage
    {
        public bool NeedsRunningPod => needsRunningPod;

        public Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
        {
            j.Add(op.Target.PodName is null ? "vehicle from template" : "vehicle in " + op.Target.PodName);
            return startFails is null ? Task.FromResult<IProbeVehicle>(new Vehicle(j, "vehicle", probeFails)) : Task.FromException<IProbeVehicle>(startFails);
        }
    }

    private sealed class Access(Journal j) : IAccessStage
    {
        public async Task<ImmutableArray<AccessAnswer>> AskAsync(RunSession session, OperatorUnderTest op, string otherNamespace)
        {
            session.Cancellation.ThrowIfCancellationRequested();
            j.Add("access " + otherNamespace);
            if (j.Gate is { } gate)
            {
                // Only finishes once the probes ran: a pipeline that waited for this stage before probing would never get there.
                await gate.Seen.Task.WaitAsync(TimeSpan.FromSeconds(30), session.Cancellation);
                j.Add("access answered");
            }
            return [];
        }

        public Task<ImmutableArray<Harness.Preflight.Finding>> ForeignTokensAsync(RunSession session, OperatorUnderTest op) =>
            Task.FromResult(ImmutableArray<Harness.Preflight.Finding>.Empty);
    }

    private static OperatorRun Run(Journal j, Exception? startFails = null, Exception? probeFails = null, bool access = true, Task? rollout = null, bool needsRunningPod = false,
        Task? applied = null, Exception? vantageFails = null) =>
        new(new Locate(j, rollout, applied), new Vantage(j, vantageFails), new VehicleStage(j, startFails, probeFails, needsRunningPod), access ? new Access(j) : null,
            new OperatorProbeOptions { SkipProbes = ["egress."] });

    [Fact]
    public async Task RunAsync_RunsTheStagesInOrderAndTearsDownInReverse()
    {
        var j = new Journal();
        var result = await Run(j).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        // The vantage starts with the locate stage, the access matrix and the vehicle as soon as the operator is located
        // (these stages answer at once, so each is asked in the order it is started).
        j.Events.Should().Equal(
            "locate", "vantage", "access kube-system", "vehicle from template", "probe vehicle", "probe control", "teardown vehicle", "teardown vantage", "teardown operator");
        result.Operator.Target.Workload.Should().Be(new WorkloadRef("Deployment", "op"));
        result.Report.Timings.Select(t => t.Phase).Should().BeEquivalentTo([RunPhase.AccessMatrix, RunPhase.Sink, RunPhase.Vehicle, RunPhase.Probes, RunPhase.Teardown]);
        result.Report.Timings[^1].Phase.Should().Be(RunPhase.Teardown);
        result.Approximation.Should().BeNull();
    }

    [Fact]
    public async Task RunAsync_AsksTheAccessMatrixBesideTheProbes_NotBeforeOrAfterThem()
    {
        // Issue #26 item 2, shown by order, not by a clock: the access stage can only finish once the probes are done.
        var j = new Journal { Gate = ("teardown vehicle", new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)) };
        var session = new RunSession(ct: TestContext.Current.CancellationToken);

        var result = await Run(j).RunAsync(session);

        j.Events.IndexOf("access kube-system").Should().BeLessThan(j.Events.IndexOf("probe vehicle"));
        j.Events.IndexOf("access answered").Should().BeGreaterThan(j.Events.IndexOf("probe vehicle"));
        j.Events.IndexOf("teardown vantage").Should().BeGreaterThan(j.Events.IndexOf("access answered"), "teardown waits for every stage");
        var timings = result.Report.Timings;
        var access = timings.Single(t => t.Phase == RunPhase.AccessMatrix);
        var probes = timings.Single(t => t.Phase == RunPhase.Probes);
        access.Start.Should().BeLessThan(probes.Start, "the matrix was asked before the probes began...");
        access.End.Should().BeGreaterThanOrEqualTo(probes.End, "...and answered after they ended: the two overlapped");
    }

    [Fact]
    public void CriticalPath_FollowsWhatTheRunWaitedOn_AndWallTimeIsItsLength()
    {
        // The phases of a warm-cluster qualification, with the durations measured on a real cluster (issue #26): the
        // access matrix and the webhook check beside the chain; the wall time is the chain's, not the sum.
        static PhaseTiming At(RunPhase phase, double start, double seconds) => new(phase, TimeSpan.FromSeconds(seconds)) { Start = TimeSpan.FromSeconds(start) };
        PhaseTiming[] timings =
        [
            At(RunPhase.Cluster, 0, 5.9), At(RunPhase.Deploy, 5.9, 2.3), At(RunPhase.AccessMatrix, 8.2, 0.1), At(RunPhase.Sink, 8.2, 2.1),
            At(RunPhase.Vehicle, 10.3, 2.0), At(RunPhase.WebhookTls, 10.3, 1.2), At(RunPhase.Probes, 12.3, 3.1), At(RunPhase.Payload, 15.4, 3.2), At(RunPhase.Teardown, 18.6, 0.03),
        ];

        var path = PhaseClock.CriticalPath(timings);

        path.Select(t => t.Phase).Should().Equal(RunPhase.Cluster, RunPhase.Deploy, RunPhase.Sink, RunPhase.Vehicle, RunPhase.Probes, RunPhase.Payload, RunPhase.Teardown);
        path.Sum(t => t.Duration.TotalSeconds).Should().BeApproximately(timings.Max(t => t.End.TotalSeconds), 0.001, "wall time is the longest path");
        timings.Sum(t => t.Duration.TotalSeconds).Should().BeGreaterThan(path.Sum(t => t.Duration.TotalSeconds) + 1, "the phases beside it cost nothing");
        PhaseClock.Format(timings).Should().EndWith("critical path: Cluster -> Deploy -> Sink -> Vehicle -> Probes -> Payload -> Teardown (Teardown ended the run)");
        PhaseClock.CriticalPath([]).Should().BeEmpty();
        PhaseClock.CriticalPath([At(RunPhase.Probes, 0, 1), At(RunPhase.Sink, 0, 2)]).Select(t => t.Phase).Should().Equal(RunPhase.Sink);
    }

    [Fact]
    public async Task RunAsync_ProbesFailWhileTheMatrixIsAsked_TheMatrixSettlesBeforeTeardown()
    {
        var j = new Journal { Gate = ("teardown vehicle", new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)) };
        var act = () => Run(j, probeFails: new InvalidOperationException("agent died")).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("agent died");
        j.Events.IndexOf("access answered").Should().BeLessThan(j.Events.IndexOf("teardown vantage"), "nothing is torn down while a stage still runs");
        j.Events.Should().EndWith(["teardown vantage", "teardown operator"]);
    }

    [Fact]
    public async Task RunAsync_VehicleFailsToStart_TearsDownWhatStartedAndRethrows()
    {
        var j = new Journal();
        var act = () => Run(j, startFails: new TargetNotFoundException("no pod")).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<TargetNotFoundException>().WithMessage("no pod");
        j.Events.Should().Equal("locate", "vantage", "access kube-system", "vehicle from template", "teardown vantage", "teardown operator");
    }

    [Fact]
    public async Task RunAsync_CancelledDuringProbes_DisposesTheVehicleVantageAndOperator()
    {
        var j = new Journal();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var act = () => Run(j).RunAsync(new RunSession(ct: cts.Token));

        await act.Should().ThrowAsync<OperationCanceledException>();
        j.Events.Should().StartWith(["locate", "vantage", "vehicle from template"]).And.EndWith(["teardown vehicle", "teardown vantage", "teardown operator"]);
        j.Events.Should().NotContain(e => e.StartsWith("access", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_ATwinStartsFromTheTemplateBesideTheRollout_AndTheVerdictWaitsForTheRunningPod()
    {
        // Issue #26: the twin needs the pod template, not the rollout. This rollout can only end once the probes have run.
        var probed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var j = new Journal { Gate = ("probe vehicle", probed) };

        var result = await Run(j, rollout: probed.Task).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        j.Events.Should().ContainInOrder("vehicle from template", "probe vehicle", "rolled out");
        j.Events.Should().EndWith(["teardown vantage", "teardown operator"]);
        result.Report.Target.PodName.Should().Be("op-1", "the report is about the running pod, resolved after the rollout");
        result.Operator.Target.PodName.Should().Be("op-1");
    }

    /// <summary>A payload inventory that says when it began (and on which operator) and settles at once.</summary>
    private sealed class PayloadStage(Journal j, TaskCompletionSource began) : IPayloadStage
    {
        public Task<Harness.Payload.PayloadReport> InventoryAsync(RunSession session, OperatorUnderTest op)
        {
            j.Add("payload of " + (op.Target.PodName ?? "the template"));
            began.TrySetResult();
            return Task.FromResult(Harness.Payload.PayloadReport.Untested("test"));
        }
    }

    /// <summary>A vehicle whose probes finish only once <paramref name="before"/> happened: a run that waited for the probes first would never get there.</summary>
    private sealed class ProbesAfter(Journal j, Task before) : IVehicleStage
    {
        public bool NeedsRunningPod => false;

        public Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage) => Task.FromResult<IProbeVehicle>(new Waiting(j, before));

        private sealed class Waiting(Journal j, Task before) : IProbeVehicle
        {
            public string Name => "vehicle";

            public ImmutableArray<string> Notes => [];

            public async Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default)
            {
                await before.WaitAsync(TimeSpan.FromSeconds(30), ct);
                j.Add("probe vehicle");
                return new AgentReport { AgentVersion = "test", Results = [] };
            }
        }
    }

    [Fact]
    public async Task RunAsync_TakesThePayloadInventoryBesideTheProbes_OnceTheOperatorRuns()
    {
        var j = new Journal();
        var began = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rollout = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = new OperatorRun(new Locate(j, rollout.Task), new Vantage(j), new ProbesAfter(j, began.Task), null, new OperatorProbeOptions { SkipProbes = ["egress."] })
        {
            PayloadStage = new PayloadStage(j, began),
        };

        var running = run.RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));
        await Task.Delay(200, TestContext.Current.CancellationToken);
        j.Events.Should().NotContain(e => e.StartsWith("payload", StringComparison.Ordinal), "the inventory waits for the operator to run");
        rollout.SetResult();
        var result = await running;

        j.Events.Should().ContainInOrder("rolled out", "payload of op-1", "probe vehicle");
        result.Report.Payload!.Tested.Should().BeFalse();
    }

    [Fact]
    public async Task RunAsync_ATwinThatCouldRepelTheOperatorsPod_WaitsForTheRollout()
    {
        // Required anti-affinity to its own labels: a twin scheduled first (it keeps the labels) could leave the operator's pod Pending.
        var rollout = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var j = new Journal { Gate = ("vantage", rollout) };
        var repel = new V1Affinity
        {
            PodAntiAffinity = new V1PodAntiAffinity
            {
                RequiredDuringSchedulingIgnoredDuringExecution = [new V1PodAffinityTerm { TopologyKey = "kubernetes.io/hostname", LabelSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "op" } } }],
            },
        };
        var run = new OperatorRun(new Locate(j, rollout.Task, affinity: repel), new Vantage(j), new VehicleStage(j), new Access(j), new OperatorProbeOptions { SkipProbes = ["egress."] });

        await run.RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        j.Events.Should().ContainInOrder("rolled out", "vehicle in op-1");
        TwinPod.CouldRepelTheOperator(Target()).Should().BeFalse("no anti-affinity");
        var preferred = Target();
        preferred.PodMetadata.Labels = new Dictionary<string, string> { ["app"] = "op" };
        preferred.PodSpec.Affinity = new V1Affinity { PodAntiAffinity = new V1PodAntiAffinity { PreferredDuringSchedulingIgnoredDuringExecution = [new V1WeightedPodAffinityTerm { Weight = 1, PodAffinityTerm = repel.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0] }] } };
        TwinPod.CouldRepelTheOperator(preferred).Should().BeFalse("a preference never keeps a pod Pending");
        var others = Target();
        others.PodMetadata.Labels = new Dictionary<string, string> { ["app"] = "op" };
        others.PodSpec.Affinity = new V1Affinity { PodAntiAffinity = new V1PodAntiAffinity { RequiredDuringSchedulingIgnoredDuringExecution = [new V1PodAffinityTerm { TopologyKey = "kubernetes.io/hostname", LabelSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "database" } } }] } };
        TwinPod.CouldRepelTheOperator(others).Should().BeFalse("it repels other pods, not its own");
    }

    [Fact]
    public async Task RunAsync_AVehicleInTheRunningPodWaitsForTheRollout()
    {
        var rollout = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var j = new Journal { Gate = ("vantage", rollout) };

        await Run(j, rollout: rollout.Task, needsRunningPod: true).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        j.Events.Should().ContainInOrder("rolled out", "vehicle in op-1", "probe vehicle");
        j.Events.Should().NotContain("vehicle from template");
    }

    [Fact]
    public async Task RunAsync_StartsTheVantageBeforeTheOperatorIsLocated()
    {
        // The locate stage can only finish once the vantage has started: a pipeline that waited for the deploy first would hang.
        var vantageStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var j = new Journal { Gate = ("vantage", vantageStarted) };

        await Run(j, applied: vantageStarted.Task).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        j.Events.Should().ContainInOrder("locate", "vantage", "vehicle from template", "probe vehicle");
    }

    [Fact]
    public async Task RunAsync_RolloutFailsWhileTheTwinProbes_ThatFailureIsReported_NotTheCancellationsItCaused()
    {
        var never = new TaskCompletionSource(); // the vehicle would wait for it: it must be stopped, not awaited forever
        var j = new Journal();
        var failing = Task.FromException(new Harness.Waits.WaitTimeoutException("Deployment ns/op to roll out", TimeSpan.FromMinutes(3), 90, "0 of 1 updated replicas available"));
        var run = new OperatorRun(new Locate(j, failing), new Vantage(j), new WaitingVehicleStage(j, never.Task), new Access(j), new OperatorProbeOptions { SkipProbes = ["egress."] });

        var act = () => run.RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<Harness.Waits.WaitTimeoutException>().WithMessage("*to roll out*");
        j.Events.Should().EndWith(["teardown vantage", "teardown operator"]);
    }

    // What a v1.36 API server answered for a twin pod cloned from an operator without allowPrivilegeEscalation: false.
    private const string RefusedTwin = "pods \"op-harness-twin-1\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"manager\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"manager\" must set securityContext.capabilities.drop=[\"ALL\"])";

    [Fact]
    public async Task RunAsync_TwinRefusedByPodSecurity_TheRefusalIsTheVerdict_NotAnAbort()
    {
        // Issue #36 item 3: the refusal fails the checks it names with the server's words; what needs no pod still runs.
        var j = new Journal();
        var refused = new Harness.Verdicts.PodSecurityRefusedException(new Harness.Verdicts.PodSecurityRefusal("the twin pod ns/op-harness-twin-1", RefusedTwin));

        var result = await Run(j, startFails: refused).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        var report = result.Report;
        report.PodSecurityRefusal.Should().Be(refused.Refusal);
        report.Probes.Results.Should().BeEmpty("there is no pod to probe in");
        report[HardeningCheck.PrivilegeEscalationDenied].Status.Should().Be(Harness.Verdicts.ProbeStatus.Failed);
        report[HardeningCheck.PrivilegeEscalationDenied].Evidence[0].Should().Contain("allowPrivilegeEscalation != false").And.Contain("PodSecurity refused the twin pod");
        report[HardeningCheck.ProcessHardening].Status.Should().Be(Harness.Verdicts.ProbeStatus.Failed);
        report[HardeningCheck.SecretsNotReadable].Status.Should().NotBe(Harness.Verdicts.ProbeStatus.Failed, "the refusal says nothing about RBAC");
        j.Events.Should().Contain("access kube-system", "the access matrix needs only the account").And.EndWith(["teardown vantage", "teardown operator"]);
    }

    [Fact]
    public async Task RunAsync_OperatorsOwnPodsRefused_TheRolloutsRefusalIsTheVerdict()
    {
        var j = new Journal();
        var refusal = new Harness.Verdicts.PodSecurityRefusal("ReplicaSet op-6bc8d87f9 (the operator's own pods)", RefusedTwin.Replace("op-harness-twin-1", "op-6bc8d87f9-np5g9", StringComparison.Ordinal));
        var failing = Task.FromException(new Harness.Verdicts.PodSecurityRefusedException(refusal));

        var result = await new OperatorRun(new Locate(j, failing), new Vantage(j), new VehicleStage(j, needsRunningPod: true), new Access(j), new OperatorProbeOptions { SkipProbes = ["egress."] })
            .RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        result.Report.PodSecurityRefusal.Should().Be(refusal);
        result.Report[HardeningCheck.PrivilegeEscalationDenied].Evidence[0].Should().Contain("ReplicaSet op-6bc8d87f9");
        j.Events.Should().NotContain(e => e.StartsWith("probe", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_AForbiddenThatIsNotPodSecurity_StillEndsTheRun()
    {
        var j = new Journal();
        var rbac = new InvalidOperationException("pods is forbidden: User \"x\" cannot create resource \"pods\"");

        var act = () => Run(j, startFails: rbac).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task RunAsync_VantageFails_StopsTheVehicleAndTearsDownTheOperator()
    {
        var j = new Journal();
        var act = () => Run(j, vantageFails: new ClusterVerificationException("egress", "the control pod cannot reach the sink")).RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<ClusterVerificationException>().WithMessage("*cannot reach the sink*");
        j.Events.Should().NotContain(e => e.StartsWith("probe", StringComparison.Ordinal));
        j.Events.Should().Contain("teardown vehicle", "a vehicle that started beside the failing vantage is removed too");
        j.Events.Should().EndWith("teardown operator");
    }

    [Fact]
    public async Task RunAsync_VerificationBesideTheRunFails_NoVerdictIsGiven()
    {
        var j = new Journal();
        var run = new OperatorRun(new Locate(j), new Vantage(j), new VehicleStage(j), new Access(j), new OperatorProbeOptions { SkipProbes = ["egress."] })
        {
            Verified = async ct =>
            {
                await Task.Yield();
                throw new ClusterVerificationException("PodSecurity", "a privileged pod was admitted in a namespace labelled enforce=restricted");
            },
        };

        var act = () => run.RunAsync(new RunSession(ct: TestContext.Current.CancellationToken));

        await act.Should().ThrowAsync<ClusterVerificationException>().WithMessage("*not enforced*");
        j.Events.Should().EndWith(["teardown vantage", "teardown operator"]);
    }

    /// <summary>A vehicle whose start waits for <paramref name="until"/> (or the run's cancellation).</summary>
    private sealed class WaitingVehicleStage(Journal j, Task until) : IVehicleStage
    {
        public bool NeedsRunningPod => false;

        public async Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
        {
            j.Add("vehicle starting");
            await until.WaitAsync(session.Cancellation);
            return new Vehicle(j, "vehicle");
        }
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
