// Runs: the one pipeline of a run (session, stages, phase timings) that the fixture, the CLI and scenario files share.
using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Probes;
using Harness.Protocol;
using Harness.Rbac;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Runs;

/// <summary>The operator under test, as the first stage of a run found it.</summary>
/// <param name="Target">Where it runs: namespace, workload, container, ServiceAccount, pod spec.</param>
/// <param name="Manifests">Its manifests when known (RBAC and NetworkPolicy are read from them); empty otherwise.</param>
/// <param name="Images">The images its pod runs.</param>
/// <param name="NamespaceEnforce">The PodSecurity <c>enforce</c> label of its namespace: "" when unlabelled, null when unknown.</param>
public sealed record OperatorUnderTest(OperatorTarget Target, IReadOnlyList<ManifestDocument> Manifests, ImmutableArray<string> Images, string? NamespaceEnforce)
{
    /// <summary>Its workload's document among the manifests, if there is one.</summary>
    public ManifestDocument? WorkloadDocument => Manifests.FirstOrDefault(d => d.Ref == Target.Workload);

    /// <summary>How its manifests were read: a kustomize tree or chart rendered, an OLM bundle expanded (and deployed without OLM), files left out.</summary>
    public ImmutableArray<string> InputNotes { get; init; } = [];

    /// <summary>Images not pinned by digest.</summary>
    public ImmutableArray<string> UnpinnedImages => [.. Images.Where(i => !ContainerImages.IsPinned(i)).Distinct(StringComparer.Ordinal)];

    /// <inheritdoc/>
    public override string ToString() => $"{Target.Workload} in {Target.Namespace} (container {Target.Container}, {Manifests.Count} manifest documents)";
}

/// <summary>What a run produced: the report, and the operator it is about.</summary>
/// <param name="Report">Probe results, access answers, caveats and phase timings.</param>
/// <param name="Operator">The operator as found.</param>
/// <param name="Approximation">What the run modelled instead of enforcing (no cluster); null for a cluster run.</param>
public sealed record OperatorRunResult(OperatorHardeningReport Report, OperatorUnderTest Operator, string? Approximation);

/// <summary>
/// The one pipeline of a harness run, whoever starts it (the xUnit fixture, <c>harness qualify</c>, a scenario file):
/// <list type="number">
/// <item>locate the operator (deploy it from its manifests, find it on the cluster, or read it from its manifests for a local run);</item>
/// <item>start the outside vantage (<see cref="EgressVantage"/>: the egress destinations and the control that proves them reachable);</item>
/// <item>start the vehicle that carries the agent into the operator's security context, and run the probe plan;</item>
/// <item>ask the access matrix (SubjectAccessReviews) and read which other accounts' tokens the pod mounts (none without a cluster);</item>
/// <item>take the payload inventory: what the operator created for its custom resources, judged as the operator is (none without a cluster);</item>
/// <item>tear down in reverse order, on success, failure and cancellation alike.</item>
/// </list>
/// Each stage is a small type with one job; a local run differs from a cluster run only in its stage variants.
/// </summary>
public sealed class OperatorRun
{
    private readonly IOperatorStage locate;
    private readonly IVantageStage vantage;
    private readonly IVehicleStage vehicle;
    private readonly IAccessStage? access;
    private readonly OperatorProbeOptions options;
    private readonly IAsyncDisposable? environment;

    internal OperatorRun(IOperatorStage locate, IVantageStage vantage, IVehicleStage vehicle, IAccessStage? access, OperatorProbeOptions options, IAsyncDisposable? environment = null)
    {
        this.locate = locate;
        this.vantage = vantage;
        this.vehicle = vehicle;
        this.access = access;
        this.options = options;
        this.environment = environment;
    }

    /// <summary>The probe options this run applies (the vehicle among them): what every entry point's inputs became.</summary>
    internal OperatorProbeOptions Options => options;

    /// <summary>The payload inventory stage; none for a local run.</summary>
    internal IPayloadStage? PayloadStage { get; init; }

    /// <summary>The declared-rights stage; none for a local run.</summary>
    internal DeclaredRightsStage? RightsStage { get; init; }

    /// <summary>The webhook TLS stage; none for a local run.</summary>
    internal WebhookTlsStage? WebhookStage { get; init; }

    /// <summary>The cluster whose session Lease proves this run alive (<see cref="SessionLease"/>); none for a local run.</summary>
    internal k8s.IKubernetes? LeaseClient { get; init; }

    /// <summary>The analysis of the NetworkPolicies in force (the egress verdict's second half); the manifests' for a local run.</summary>
    internal IEgressPolicyStage EgressPolicyStage { get; init; } = new ManifestEgressPolicyStage();

    /// <summary>Deploys <paramref name="spec"/> on <paramref name="cluster"/> into a namespace of its own, probes it, and removes what was applied.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message names the setting), or the vehicle is not a cluster vehicle.</exception>
    public static OperatorRun Deploy(HarnessCluster cluster, OperatorSpec spec, OperatorProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(spec);
        return OnCluster(cluster, new DeployStage(cluster, spec), options);
    }

    /// <summary>Probes an operator already running on <paramref name="cluster"/> (release qualification); nothing of it is changed.</summary>
    /// <exception cref="ArgumentException">The options are invalid, the lookup names neither a Deployment nor a selector, or the vehicle is not a cluster vehicle.</exception>
    public static OperatorRun Find(HarnessCluster cluster, OperatorLookup lookup, OperatorProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(lookup);
        lookup.Validate();
        return OnCluster(cluster, new DiscoverStage(cluster, lookup), options);
    }

    /// <summary>
    /// Without a cluster: runs the operator's pod spec from its manifests in a local container (the docker vehicle),
    /// with NetworkPolicy read from the manifests and modelled by Docker networks. A local approximation; the access
    /// matrix and the API probes are not part of it.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid, or the lookup has no manifests.</exception>
    public static OperatorRun Local(OperatorLookup lookup, OperatorProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        ArgumentNullException.ThrowIfNull(options);
        lookup.Validate();
        if (lookup.Manifests.IsEmpty)
        {
            throw new ArgumentException("the docker vehicle reads the operator's pod spec from its manifests: give operator.manifests (or --manifests).", nameof(lookup));
        }
        options.Validate();
        var docker = new LocalDocker();
        return new OperatorRun(new ManifestStage(lookup), new LocalVantageStage(docker, options.ExtraEgressTargets), new DockerVehicleStage(docker, options.GivenIdentity), null,
            options with { Vehicle = VehicleKind.Docker }, docker)
        {
            RightsStage = new DeclaredRightsStage(null, options.DeclaredRights),
        };
    }

    private static OperatorRun OnCluster(HarnessCluster cluster, IOperatorStage locate, OperatorProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!options.Vehicle.OnCluster())
        {
            throw new ArgumentException($"the {options.Vehicle.Name()} vehicle runs without a cluster; use OperatorRun.Local.", nameof(options));
        }
        return new OperatorRun(locate, new ClusterVantageStage(cluster, options.ExtraEgressTargets), new ClusterVehicleStage(cluster, options.Vehicle, options.GivenIdentity), new AccessStage(cluster), options)
        {
            PayloadStage = new PayloadStage(cluster, options),
            WebhookStage = new WebhookTlsStage(cluster, options),
            RightsStage = new DeclaredRightsStage(cluster, options.DeclaredRights),
            EgressPolicyStage = new ClusterEgressPolicyStage(cluster.Client),
            LeaseClient = cluster.Client,
            Verified = cluster.VerifiedAsync,
        };
    }

    /// <summary>
    /// Runs every stage and tears down what they started. Progress and timings go to <paramref name="session"/>.
    /// Stages start as soon as what they need exists: the vantage with the deploy (and the cluster's verification,
    /// when still under way); a twin pod as soon as the manifests are applied, beside the rollout; the access matrix
    /// beside the probes. The verdict still waits for all of them: for the verification, the rollout and the matrix.
    /// The first stage to fail stops the others, and its error is the one thrown.
    /// </summary>
    /// <exception cref="Clusters.PrerequisiteException">Docker, the probe agent or the probe image is missing.</exception>
    /// <exception cref="Clusters.ClusterVerificationException">The cluster does not enforce what it promises (verified beside the run).</exception>
    /// <exception cref="ManifestException">A manifest cannot be read.</exception>
    /// <exception cref="TargetNotFoundException">The operator is not there.</exception>
    /// <exception cref="AgentFailedException">An agent produced no report.</exception>
    public async Task<OperatorRunResult> RunAsync(RunSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var clock = session.Clock;
        var teardown = new Stack<IAsyncDisposable>();
        if (environment is not null)
        {
            teardown.Push(environment);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(session.Cancellation);
        var stages = new StageGroup(session, stop);
        OperatorRunResult result;
        OperatorUnderTest? located = null;
        try
        {
            if (LeaseClient is not null)
            {
                // Before anything is created, and released after everything is removed: while it is renewed, no other
                // run's sweep touches this run's objects; once it lapses (a killed run), they are leftovers.
                teardown.Push(await SessionLease.AcquireAsync(LeaseClient, session.Id, session.Log, session.Time, session.Cancellation).ConfigureAwait(false));
            }
            var verified = Verified is null ? null : stages.Watch(Verified(stages.Session.Cancellation));
            var locating = stages.Watch(locate.LocateAsync(stages.Session));
            teardown.Push(StageGroup.DisposeWhenDone(locating, l => l.Teardown));
            var vantageStarting = stages.Watch(clock.TimeAsync(RunPhase.Sink, () => vantage.StartAsync(stages.Session, stages.Watch(Then(locating, l => l.Operator)))));
            teardown.Push(StageGroup.DisposeWhenDone(vantageStarting, v => v));

            var found = await locating.ConfigureAwait(false);
            var op = located = found.Operator;
            var running = stages.Watch(found.Running ?? Task.FromResult(op));
            await session.LogAsync($"operator: {op}").ConfigureAwait(false);

            // The access matrix needs only the operator's account: it runs beside the sink, the vehicle and the probes
            // (the chain the run waits on), and its answers are logged after the probes'. It creates nothing to tear down.
            var asked = access is null ? null : stages.Watch(clock.TimeAsync(RunPhase.AccessMatrix, async () =>
                (await access.AskAsync(stages.Session, op, options.OtherNamespace).ConfigureAwait(false),
                 await access.ForeignTokensAsync(stages.Session, await running.ConfigureAwait(false)).ConfigureAwait(false))));
            // The declared rights need only the applied RBAC: beside the probes too; they create nothing.
            var rightsChecked = RightsStage is null ? null : stages.Watch(clock.TimeAsync(RunPhase.DeclaredRights, () => RightsStage.JudgeAsync(stages.Session, op)));
            var vehicleStarting = stages.Watch(clock.TimeAsync(RunPhase.Vehicle, async () =>
                await vehicle.StartAsync(stages.Session, vehicle.NeedsRunningPod || TwinPod.CouldRepelTheOperator(op.Target) ? await running.ConfigureAwait(false) : op, vantageStarting).ConfigureAwait(false)));
            var vehicleDisposal = StageGroup.DisposeWhenDone(vehicleStarting, v => v as IAsyncDisposable);
            teardown.Push(vehicleDisposal);
            // The payload inventory needs the operator running (it waits for what the operator makes to settle), not the
            // probes: it goes on beside them. The harness's own pods carry their role label, so none is taken for payload.
            async Task<Payload.PayloadReport> InventoryAsync(IPayloadStage stage)
            {
                var runningOp = await running.ConfigureAwait(false);
                return await clock.TimeAsync(RunPhase.Payload, () => stage.InventoryAsync(stages.Session, runningOp)).ConfigureAwait(false);
            }
            var inventoried = PayloadStage is null ? null : stages.Watch(InventoryAsync(PayloadStage));
            result = await ProbeAsync(stages.Session, op, running, vantageStarting, vehicleStarting, vehicleDisposal, asked, verified, inventoried).ConfigureAwait(false);
            if (rightsChecked is not null)
            {
                var rights = await rightsChecked.ConfigureAwait(false);
                await session.LogAsync($"  {(rights.Tested ? StatusLabel(rights.Status) : "UNTESTED"),-12} {"rights.declared",-32} {rights.Evidence.FirstOrDefault()}").ConfigureAwait(false);
                result = result with { Report = result.Report with { DeclaredRights = rights } };
            }
        }
        catch (Exception e)
        {
            // Every stage still under way is stopped and settled before teardown; the first failure is the one to report.
            var first = await stages.StopAsync(e).ConfigureAwait(false);
            if (first is PodSecurityRefusedException refused && located is not null && !session.Cancellation.IsCancellationRequested)
            {
                // The refusal is the verdict: the checks it names fail with the server's words; what needs no pod still runs.
                result = await RefusedAsync(session, located, refused.Refusal).ConfigureAwait(false);
            }
            else
            {
                if (!ReferenceEquals(first, e))
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                }
                throw;
            }
        }
        finally
        {
            await TearDownAsync(teardown, clock).ConfigureAwait(false);
        }
        // After teardown, so the report's timings include it.
        return result with { Report = result.Report with { Timings = clock.Timings } };
    }

    /// <summary>
    /// Egress denial probes that were allowed while the policies in force deny the outside, repeated until the
    /// observation matches (the network plugin may program a new pod's policies a moment after it starts, as Kubernetes
    /// allows), within <see cref="OperatorProbeOptions.EnforcementWindowMs"/>; what the first attempt saw and how long
    /// enforcement took go into the notes. With the outside open, or nothing allowed, the first run stands.
    /// </summary>
    internal static async Task<ProbeRunReport> EnforcementSettledAsync(RunSession session, ProbePlan plan, ProbeRunReport first, NetworkPolicies.EgressReach policy,
        int windowMs, Func<ProbePlan, CancellationToken, Task<ProbeRunReport>> rerun)
    {
        bool Racing(ProbeResult r) => r.Probe.Check == HardeningCheck.EgressDenied && r.Probe.Expectation.ExpectDenied && r.Status == ProbeStatus.Failed;
        var racing = first.Results.Where(Racing).Select(r => r.Probe.Id).ToHashSet(StringComparer.Ordinal);
        if (racing.Count == 0 || policy.Status != NetworkPolicies.EgressReachStatus.Closed || windowMs == 0)
        {
            return first;
        }
        var window = TimeSpan.FromMilliseconds(windowMs);
        var started = session.Time.GetUtcNow();
        var results = first.Results.ToDictionary(r => r.Probe.Id, StringComparer.Ordinal);
        await session.LogAsync($"egress: {string.Join(", ", racing.Order(StringComparer.Ordinal))} allowed although the policies in force deny the outside; repeating for up to {window.TotalSeconds:0.#} s while the network plugin enforces them").ConfigureAwait(false);
        var attempts = 1;
        while (racing.Count > 0 && session.Time.GetUtcNow() - started < window)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), session.Time, session.Cancellation).ConfigureAwait(false);
            var again = await rerun(plan.Where(p => racing.Contains(p.Id)), session.Cancellation).ConfigureAwait(false);
            attempts++;
            foreach (var r in again.Results)
            {
                results[r.Probe.Id] = r;
                if (!Racing(r))
                {
                    racing.Remove(r.Probe.Id);
                }
            }
        }
        var took = session.Time.GetUtcNow() - started;
        var note = racing.Count == 0
            ? $"egress: enforcement took {took.TotalSeconds:0.0} s after the first probes ({attempts} attempts): the network plugin had not yet programmed the pod's policies when it started, which Kubernetes allows; every denial probe now matches the policies in force"
            : $"egress: {string.Join(", ", racing.Order(StringComparer.Ordinal))} still allowed after the enforcement window ({window.TotalSeconds:0.#} s, {attempts} attempts) although the policies in force deny the outside: the network plugin does not enforce them";
        await session.LogAsync(note).ConfigureAwait(false);
        return first with
        {
            Results = [.. first.Results.Select(r => results[r.Probe.Id])],
            Notes = first.Notes.Add(note),
            Duration = first.Duration + took,
        };
    }

    /// <summary>
    /// The report of a run whose operator PodSecurity refused: no probe ran (there is no pod to run them in), the access
    /// matrix and the policies in force are still asked (they need only the account and the namespace).
    /// </summary>
    private async Task<OperatorRunResult> RefusedAsync(RunSession session, OperatorUnderTest op, PodSecurityRefusal refusal)
    {
        await session.LogAsync($"  {"FAIL",-12} {"podsecurity.admission",-32} {refusal.Evidence}").ConfigureAwait(false);
        ImmutableArray<AccessAnswer> answers = [];
        if (access is not null)
        {
            answers = await access.AskAsync(session, op, options.OtherNamespace).ConfigureAwait(false);
            await LogAnswersAsync(session, answers).ConfigureAwait(false);
        }
        var egressPolicy = await EgressPolicyStage.AnalyzeAsync(session, op, options.DeclaredEgress).ConfigureAwait(false);
        var probes = new ProbeRunReport([], options.Vehicle.Name(), [$"no probe ran: {refusal.Evidence}"], session.Time.GetUtcNow(), TimeSpan.Zero);
        return new OperatorRunResult(new OperatorHardeningReport(op.Target, probes, answers, op.UnpinnedImages)
        {
            EgressPolicy = egressPolicy,
            PodSecurityRefusal = refusal,
        }, op, null);
    }

    /// <summary>The cluster's verification, when it runs beside this run (<see cref="HarnessCluster.VerifiedAsync"/>); none when done before.</summary>
    internal Func<CancellationToken, Task>? Verified { get; init; }

    private static async Task<TOut> Then<TIn, TOut>(Task<TIn> task, Func<TIn, TOut> select) => select(await task.ConfigureAwait(false));

    private async Task<OperatorRunResult> ProbeAsync(RunSession session, OperatorUnderTest op, Task<OperatorUnderTest> running, Task<EgressVantage> vantageStarting,
        Task<IProbeVehicle> vehicleStarting, IAsyncDisposable vehicleDisposal, Task<(ImmutableArray<AccessAnswer> Answers, ImmutableArray<Preflight.Finding> ForeignTokens)>? asked, Task? verified,
        Task<Payload.PayloadReport>? inventoried)
    {
        var clock = session.Clock;
        var outside = await vantageStarting.ConfigureAwait(false);

        var egressPolicy = await EgressPolicyStage.AnalyzeAsync(session, op, options.DeclaredEgress).ConfigureAwait(false);
        await session.LogAsync($"  {egressPolicy.Status.ToString().ToUpperInvariant(),-12} {"egress.policies-in-force",-32} {egressPolicy.Evidence.FirstOrDefault()}").ConfigureAwait(false);

        var plan = options.Adjust(StandardProbes.Create(options.StandardOptions(outside.Targets, options.Vehicle, access is not null, op.Target.PodSpec, op.Target.Container)));
        var inside = await vehicleStarting.ConfigureAwait(false);
        ProbeRunReport probes;
        try
        {
            probes = await clock.TimeAsync(RunPhase.Probes, async () =>
            {
                var first = await ProbeRunner.RunAsync(plan, inside, outside.Control, access is null ? null : new KubernetesAccess(), ct: session.Cancellation).ConfigureAwait(false);
                return await EnforcementSettledAsync(session, plan, first, egressPolicy, options.EnforcementWindowMs, (p, t) => ProbeRunner.RunAsync(p, inside, outside.Control, ct: t)).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        finally
        {
            // Removed as soon as the probes are done (the teardown would remove it otherwise, later).
            await vehicleDisposal.DisposeAsync().ConfigureAwait(false);
        }
        if (verified is not null)
        {
            // No verdict stands on a cluster that has not shown it enforces PodSecurity and NetworkPolicy.
            await verified.ConfigureAwait(false);
        }
        await session.LogAsync($"{probes.Results.Count} probes in {probes.Duration.TotalSeconds:0.0} s").ConfigureAwait(false);
        foreach (var r in probes.Results)
        {
            await session.LogAsync($"  {StatusLabel(r.Status),-12} {r.Probe.Id,-32} {r.Verdict}").ConfigureAwait(false);
        }

        // The verdict is about the operator as it runs: its rollout must have succeeded, and the report names its pod.
        op = await running.ConfigureAwait(false);
        ImmutableArray<AccessAnswer> answers = [];
        ImmutableArray<Preflight.Finding> foreignTokens = [];
        if (asked is not null)
        {
            (answers, foreignTokens) = await asked.ConfigureAwait(false);
            await LogAnswersAsync(session, answers).ConfigureAwait(false);
        }
        Payload.PayloadReport? payload = null;
        if (inventoried is not null)
        {
            payload = await inventoried.ConfigureAwait(false);
            await session.LogAsync($"  {(payload.Tested ? StatusLabel(payload.Status) : "UNTESTED"),-12} {"payload",-32} {payload.Evidence.FirstOrDefault()}").ConfigureAwait(false);
        }
        Webhooks.WebhookTlsReport? webhookTls = null;
        if (WebhookStage is not null)
        {
            webhookTls = await clock.TimeAsync(RunPhase.WebhookTls, () => WebhookStage.CheckAsync(session, op, outside)).ConfigureAwait(false);
            await session.LogAsync($"  {(webhookTls.Tested ? StatusLabel(webhookTls.Status) : "UNTESTED"),-12} {"webhook.tls",-32} {webhookTls.Evidence.FirstOrDefault()}").ConfigureAwait(false);
        }
        return new OperatorRunResult(new OperatorHardeningReport(op.Target, probes, answers, op.UnpinnedImages)
        {
            EgressCaveats = outside.Caveats,
            EgressPolicy = egressPolicy,
            Payload = payload,
            WebhookTls = webhookTls,
            ForeignTokens = foreignTokens,
        }, op, outside.Approximation);
    }

    private static async Task LogAnswersAsync(RunSession session, ImmutableArray<AccessAnswer> answers)
    {
        foreach (var a in answers)
        {
            await session.LogAsync($"  {StatusLabel(a.Status),-12} {a.Question.Id,-32} {a.Question.Description}: {a.Evidence}").ConfigureAwait(false);
        }
    }

    /// <summary>The column label of a status in progress lines.</summary>
    public static string StatusLabel(Verdicts.ProbeStatus status) => status switch
    {
        Verdicts.ProbeStatus.Passed => "PASS",
        Verdicts.ProbeStatus.Failed => "FAIL",
        _ => "INCONCLUSIVE",
    };

    private static async Task TearDownAsync(Stack<IAsyncDisposable> teardown, PhaseClock clock)
    {
        if (teardown.Count == 0)
        {
            return;
        }
        await clock.TimeAsync(RunPhase.Teardown, async () =>
        {
            List<Exception>? errors = null;
            while (teardown.TryPop(out var item))
            {
                try
                {
                    await item.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    (errors ??= []).Add(e);
                }
            }
            if (errors is not null)
            {
                throw new AggregateException("tearing down the run failed; resources carrying its session label may remain", errors);
            }
        }).ConfigureAwait(false);
    }
}

/// <summary>How to find an operator that is already running, or whose manifests are given (for a local run).</summary>
public sealed record OperatorLookup
{
    /// <summary>Its namespace (default <c>default</c>, or the manifests' namespace for a local run).</summary>
    public string? Namespace { get; init; }

    /// <summary>Its Deployment (or, in manifests, any workload) by name.</summary>
    public string? Deployment { get; init; }

    /// <summary>Or a label selector for its pods (<c>app=widget,tier=control</c>).</summary>
    public string? Selector { get; init; }

    /// <summary>The container to probe; by default the annotated default container or the only one.</summary>
    public string? Container { get; init; }

    /// <summary>Its manifests (files or folders): RBAC is read from them; a local run reads the pod spec from them.</summary>
    public ImmutableArray<string> Manifests { get; init; } = [];

    /// <summary>How a Helm chart among <see cref="Manifests"/> is rendered.</summary>
    public HelmOptions Helm { get; init; } = HelmOptions.Default;

    /// <summary>The manifests, loaded as a deploy loads them (<see cref="OperatorDeployment.LoadManifestsAsync"/>).</summary>
    internal Task<(List<ManifestDocument> Documents, ImmutableArray<string> Notes)> LoadAsync(TextWriter log) => OperatorDeployment.LoadManifestsAsync(Manifests, Helm, log);

    /// <inheritdoc/>
    public override string ToString() => Evidence.RecordText.Format(this);

    /// <summary>Checks that exactly one of <see cref="Deployment"/> and <see cref="Selector"/> is given.</summary>
    /// <exception cref="ArgumentException">Neither or both.</exception>
    public void Validate()
    {
        if ((Deployment is null) == (Selector is null))
        {
            throw new ArgumentException("the operator is named by exactly one of deployment (a name) and selector (pod labels).");
        }
    }
}
