using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Docker;
using Harness.Images;
using Harness.Manifests;
using Harness.NetworkPolicies;
using Harness.PodSecurity;
using Harness.Probes;
using Harness.Rbac;
using Harness.Vehicles;
using k8s;
using k8s.Models;

namespace Harness.Runs;

/// <summary>The operator a stage found, and what removes whatever the stage created for it (null when nothing).</summary>
internal sealed record LocatedOperator(OperatorUnderTest Operator, IAsyncDisposable? Teardown)
{
    /// <summary>
    /// The operator once its pod runs (resolved to that pod), when <see cref="Operator"/> is only its pod template (a
    /// deploy: applied, still rolling out); null when <see cref="Operator"/> already is the running operator.
    /// </summary>
    public Task<OperatorUnderTest>? Running { get; init; }
}

/// <summary>Stage 1: find (or deploy) the operator under test.</summary>
internal interface IOperatorStage
{
    Task<LocatedOperator> LocateAsync(RunSession session);
}

/// <summary>Stage 2: the egress destinations and the control that proves them reachable. Started beside stage 1: a stage that needs the operator awaits it.</summary>
internal interface IVantageStage
{
    Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op);
}

/// <summary>Stage 3: the vehicle that carries the agent into the operator's security context (disposed after the probes).</summary>
internal interface IVehicleStage
{
    /// <summary>Whether the vehicle goes into the operator's running pod (else the pod template is enough, and it starts during the rollout).</summary>
    bool NeedsRunningPod { get; }

    /// <summary>Started beside stage 2: a vehicle that needs the vantage (its networks) awaits it.</summary>
    Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage);
}

/// <summary>Stage 4: what the operator's ServiceAccount may do, and which other accounts' tokens its pod holds, asked of the API server.</summary>
internal interface IAccessStage
{
    Task<ImmutableArray<AccessAnswer>> AskAsync(RunSession session, OperatorUnderTest op, string otherNamespace);

    Task<ImmutableArray<Preflight.Finding>> ForeignTokensAsync(RunSession session, OperatorUnderTest op);
}

/// <summary>Stage 5: what the operator created for its custom resources, and the verdict on that payload.</summary>
internal interface IPayloadStage
{
    Task<Payload.PayloadReport> InventoryAsync(RunSession session, OperatorUnderTest op);
}

/// <summary>
/// Deploys the operator from its manifests: located as soon as they are applied (its pod template), running once its
/// rollout is seen through, which goes on beside the next stages; teardown removes what was applied.
/// </summary>
internal sealed class DeployStage(HarnessCluster cluster, OperatorSpec spec) : IOperatorStage
{
    public async Task<LocatedOperator> LocateAsync(RunSession session)
    {
        var deployed = await session.Clock.TimeAsync(RunPhase.Deploy,
            () => OperatorDeployment.ApplyAsync(cluster, spec, session.Id, session.Log, session.Time, session.Cancellation)).ConfigureAwait(false);
        try
        {
            var enforce = await ClusterStages.NamespaceEnforceAsync(cluster.Client, deployed.Template.Namespace, session.Cancellation).ConfigureAwait(false);
            OperatorUnderTest At(OperatorTarget target) =>
                new(target, deployed.Manifests, [.. ContainerImages.Images(target.PodSpec)], enforce) { InputNotes = deployed.InputNotes };
            var running = session.Clock.TimeAsync(RunPhase.Rollout, async () => At(await deployed.RolloutAsync(session.Cancellation).ConfigureAwait(false)));
            return new LocatedOperator(At(deployed.Template), deployed) { Running = running };
        }
        catch
        {
            await deployed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <summary>Finds an operator already running on the cluster; its manifests, when given, are only read.</summary>
internal sealed class DiscoverStage(HarnessCluster cluster, OperatorLookup lookup) : IOperatorStage
{
    public async Task<LocatedOperator> LocateAsync(RunSession session)
    {
        var (documents, notes) = await lookup.LoadAsync(session.Log).ConfigureAwait(false);
        var target = await TargetDiscovery.FindAsync(cluster.Client, lookup.Namespace ?? "default", lookup.Deployment, lookup.Selector, lookup.Container, session.Cancellation).ConfigureAwait(false);
        var enforce = await ClusterStages.NamespaceEnforceAsync(cluster.Client, target.Namespace, session.Cancellation).ConfigureAwait(false);
        return new LocatedOperator(new OperatorUnderTest(target, documents, [.. ContainerImages.Images(target.PodSpec)], enforce) { InputNotes = notes }, null);
    }
}

/// <summary>Reads the operator's workload from its manifests (a local run: nothing is deployed).</summary>
internal sealed class ManifestStage(OperatorLookup lookup) : IOperatorStage
{
    public async Task<LocatedOperator> LocateAsync(RunSession session)
    {
        var (documents, notes) = await lookup.LoadAsync(session.Log).ConfigureAwait(false);
        var workload = FindWorkload(documents, lookup);
        var target = TargetDiscovery.FromWorkload(workload.Object!, lookup.Container, lookup.Namespace ?? "default");
        var images = documents.Select(d => PodTemplates.TryGet(d.Object, out _, out var s) ? s : null).Where(s => s is not null)
            .SelectMany(s => ContainerImages.Images(s!)).Distinct(StringComparer.Ordinal);
        return new LocatedOperator(new OperatorUnderTest(target, documents, [.. images], NamespaceEnforce(documents, target.Namespace)) { InputNotes = notes }, null);
    }

    /// <summary>The workload named by the lookup among the documents. Pure.</summary>
    /// <exception cref="TargetNotFoundException">None matches; the message lists the workloads there are.</exception>
    internal static ManifestDocument FindWorkload(IReadOnlyList<ManifestDocument> documents, OperatorLookup lookup)
    {
        var workloads = documents.Where(d => PodTemplates.TryGet(d.Object, out _, out _) && d.Kind != "Pod").ToList();
        var where = string.Join(", ", lookup.Manifests);
        if (lookup.Deployment is { } name)
        {
            return workloads.FirstOrDefault(d => d.Name == name)
                ?? throw new TargetNotFoundException($"no workload named \"{name}\" in {where}; they have {string.Join(", ", workloads.Select(w => w.DisplayName).DefaultIfEmpty("none"))}.");
        }
        var selector = Labels.Parse(lookup.Selector ?? "");
        return workloads.FirstOrDefault(d => PodTemplates.TryGet(d.Object, out var m, out _) && Labels.Matches(new V1LabelSelector { MatchLabels = selector }, m?.Labels))
            ?? throw new TargetNotFoundException($"no workload in {where} has pod labels matching \"{lookup.Selector}\".");
    }

    /// <summary>The enforce label of the manifests' Namespace object for <paramref name="ns"/>: null when the manifests have none, "" when unlabelled. Pure.</summary>
    internal static string? NamespaceEnforce(IReadOnlyList<ManifestDocument> documents, string ns) =>
        documents.FirstOrDefault(d => d.Kind == "Namespace" && d.Name == ns)?.Object?.Metadata?.Labels is { } labels
            ? (labels.TryGetValue(PodSecurityEvaluator.EnforceLabel, out var l) ? l : "")
            : null;
}

/// <summary>The vantage a cluster offers (<see cref="EgressVantage.StartAsync"/>).</summary>
internal sealed class ClusterVantageStage(HarnessCluster cluster, ImmutableArray<EgressTarget> userTargets) : IVantageStage
{
    /// <summary>
    /// Needs nothing of the operator: it starts with the deploy. Without destinations of the run's own, the cluster's
    /// shared vantage (started once for every run on the cluster); with them, one of the run's own, proven for them.
    /// </summary>
    public Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op) => userTargets.IsEmpty
        ? cluster.SharedVantageAsync(session.Log, session.Cancellation)
        : EgressVantage.StartAsync(cluster, session.Id, userTargets, session.Log, session.Cancellation);
}

/// <summary>The local vantage: the manifests' NetworkPolicy decides whether the vehicle joins the sink's network.</summary>
internal sealed class LocalVantageStage(LocalDocker docker, ImmutableArray<EgressTarget> userTargets) : IVantageStage
{
    public async Task<EgressVantage> StartAsync(RunSession session, Task<OperatorUnderTest> op)
    {
        var (host, image) = await docker.GetAsync(session).ConfigureAwait(false);
        // The sink stands for the internet: the vehicle joins its network when a rule of the manifests opens the outside.
        var egressOpen = EgressPolicyVerdict.FromManifests(await op.ConfigureAwait(false)).Status == EgressReachStatus.Open;
        return await EgressVantage.StartLocalAsync(host, image, egressOpen, userTargets, session.Log, session.Cancellation).ConfigureAwait(false);
    }
}

/// <summary>A twin pod, an ephemeral container or direct exec on the cluster.</summary>
internal sealed class ClusterVehicleStage(HarnessCluster cluster, VehicleKind kind, ContainerIdentity? given = null) : IVehicleStage
{
    /// <summary>A twin pod is cloned from the pod template; an ephemeral container and direct exec go into the running pod.</summary>
    public bool NeedsRunningPod => kind != VehicleKind.TwinPod;

    /// <summary>Needs nothing of the vantage: it starts beside the sink.</summary>
    public async Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
    {
        var probeImage = cluster.ProbeImage ?? throw HarnessCluster.NoProbeImage();
        await session.LogAsync($"vehicle: {kind.Name()} for pod {op.Target.PodName ?? "(none yet)"}, container {op.Target.Container}").ConfigureAwait(false);
        return await ClusterVehicles.StartAsync(kind, cluster.Client, op.Target, probeImage, session.Id, given, session.Time, session.Cancellation).ConfigureAwait(false);
    }
}

/// <summary>A local container from the operator's pod spec, on the networks the local vantage chose.</summary>
internal sealed class DockerVehicleStage(LocalDocker docker, ContainerIdentity? given = null) : IVehicleStage
{
    public bool NeedsRunningPod => false;

    /// <summary>Learns the operator's ids beside the vantage's start; joins the vantage's networks.</summary>
    public async Task<IProbeVehicle> StartAsync(RunSession session, OperatorUnderTest op, Task<EgressVantage> vantage)
    {
        var (host, image) = await docker.GetAsync(session).ConfigureAwait(false);
        // The operator's own ids, from its own image (or given): the probe image's would decide the uid- and gid-dependent verdicts.
        var (identity, why) = given is not null ? (given, null)
            : ContainerIdentity.FromSpec(op.Target.PodSpec, op.Target.Container) is { GroupsKnown: true } fixedBySpec ? (fixedBySpec, null)
            : await DockerVehicle.LearnIdentityAsync(host, op.Target.PodSpec, op.Target.Container, ProbeArtifacts.Locate().KernelHelperPath, session.Cancellation).ConfigureAwait(false);
        await session.LogAsync(identity is not null ? $"identity: {identity}" : $"identity: not learned ({why})").ConfigureAwait(false);
        // The probe image is the container's root filesystem, as in a twin pod.
        var spec = ContainerRunSpec.FromPodSpec(op.Target.PodSpec, op.Target.Container, image, identity, why) with { Networks = (await vantage.ConfigureAwait(false)).VehicleNetworks };
        await session.LogAsync($"vehicle: docker, container \"{op.Target.Container}\" of {op.Target.Workload}").ConfigureAwait(false);
        return await DockerVehicle.StartAsync(host, spec, ct: session.Cancellation).ConfigureAwait(false);
    }
}

/// <summary>The SubjectAccessReview matrix for the operator's ServiceAccount, with a control derived from its manifests' RBAC.</summary>
internal sealed class AccessStage(HarnessCluster cluster) : IAccessStage
{
    public Task<ImmutableArray<AccessAnswer>> AskAsync(RunSession session, OperatorUnderTest op, string otherNamespace)
    {
        var target = op.Target;
        var account = new ServiceAccountRef(target.Namespace, target.ServiceAccount);
        // The manifests may name another namespace than the one the harness deployed into: RBAC is read in their terms.
        var manifestsAccount = new ServiceAccountRef(op.WorkloadDocument?.Namespace ?? target.Namespace, target.ServiceAccount);
        var control = AccessReviewMatrix.ControlFrom(RbacModel.From(op.Manifests, manifestsAccount.Namespace), manifestsAccount, target.Namespace);
        return AccessReviewMatrix.AskAsync(cluster.Client, account, otherNamespace, control, session.Cancellation);
    }

    /// <summary>The running pod's mounted Secrets that are another account's token (type and annotation read from the API server; their data is never kept).</summary>
    public Task<ImmutableArray<Preflight.Finding>> ForeignTokensAsync(RunSession session, OperatorUnderTest op) =>
        ClusterStages.ForeignTokenMountsAsync(cluster.Client, op.Target, session.Cancellation);
}

/// <summary>The payload inventory on the cluster (<see cref="Payload.PayloadInventory"/>).</summary>
internal sealed class PayloadStage(HarnessCluster cluster, OperatorProbeOptions options) : IPayloadStage
{
    public Task<Payload.PayloadReport> InventoryAsync(RunSession session, OperatorUnderTest op) =>
        Payload.PayloadInventory.TakeAsync(cluster.Client, op, TimeSpan.FromSeconds(options.PayloadWaitSeconds), options.PayloadFieldManagers, session);
}

/// <summary>
/// The operator's account against its declared rights: on the cluster (<see cref="LiveRights.JudgeAsync"/>, every binding
/// that reaches it), or, without one, against its manifests' RBAC (a local run; the checklist marks it approximated).
/// Creates nothing.
/// </summary>
internal sealed class DeclaredRightsStage(HarnessCluster? cluster, OperatorRights? declared)
{
    public async Task<DeclaredRightsReport> JudgeAsync(RunSession session, OperatorUnderTest op)
    {
        if (declared is null)
        {
            return DeclaredRightsReport.Untested;
        }
        var account = new ServiceAccountRef(op.Target.Namespace, op.Target.ServiceAccount);
        var (inRun, note) = InRunNamespace(declared, account);
        var report = cluster is not null
            ? await LiveRights.JudgeAsync(cluster.Client, inRun, account, session.Cancellation).ConfigureAwait(false)
            : FromManifests(inRun, op, account);
        return note is null ? report : report with { Evidence = [note, .. report.Evidence] };
    }

    /// <summary>The offline check (<c>harness rights check --rights FILE DIR</c>) for the operator's account. Pure.</summary>
    internal static DeclaredRightsReport FromManifests(OperatorRights declared, OperatorUnderTest op, ServiceAccountRef account)
    {
        var findings = DeclaredRights.Check(declared, RbacModel.From(op.Manifests, op.Target.Namespace), [account]);
        var excess = findings.Count(f => f.Id == "RIGHTS-EXCESS");
        var file = Path.GetFileName(declared.Path);
        return new DeclaredRightsReport(excess > 0 ? Verdicts.ProbeStatus.Failed : Verdicts.ProbeStatus.Passed,
        [
            excess == 0 ? $"ServiceAccount {account}: the manifests grant no right beyond {file}" : $"ServiceAccount {account}: the manifests grant {excess} rights beyond {file}",
            .. findings.Select(f => $"{f.Id}: {f.Subject} {f.Message} ({f.Location})"),
        ]) { Findings = findings };
    }

    /// <summary>
    /// The declaration in the run's terms: when it declares the operator's account only in another namespace (its
    /// manifests' own, which the run deployed into a namespace of its own), that namespace is read as the run's. Pure.
    /// </summary>
    internal static (OperatorRights Declared, string? Note) InRunNamespace(OperatorRights declared, ServiceAccountRef account)
    {
        if (declared.Accounts.Any(a => a.Account == account))
        {
            return (declared, null);
        }
        var elsewhere = declared.Accounts.Where(a => a.Account.Name == account.Name).Select(a => a.Account.Namespace).Distinct(StringComparer.Ordinal).ToList();
        return elsewhere.Count == 1
            ? (DeclaredRights.InNamespace(declared, elsewhere[0], account.Namespace), $"{Path.GetFileName(declared.Path)} declares {elsewhere[0]}/{account.Name}; read for {account.Namespace}, where the run deployed the operator")
            : (declared, null);
    }
}

/// <summary>The webhooks' TLS from the cluster vantage (<see cref="Webhooks.WebhookTls"/>).</summary>
internal sealed class WebhookTlsStage(HarnessCluster cluster, OperatorProbeOptions options)
{
    public Task<Webhooks.WebhookTlsReport> CheckAsync(RunSession session, OperatorUnderTest op, EgressVantage vantage) =>
        Webhooks.WebhookTls.CheckAsync(cluster.Client, op, vantage.Control, options.NetworkTimeoutMs, session);
}

/// <summary>Helpers the cluster stages share.</summary>
internal static class ClusterStages
{
    /// <summary>Which Secrets the operator's pod mounts are ServiceAccount tokens of another account, as the API server holds them.</summary>
    public static async Task<ImmutableArray<Preflight.Finding>> ForeignTokenMountsAsync(IKubernetes client, OperatorTarget target, CancellationToken ct)
    {
        var secrets = new Dictionary<string, (string? Type, string? Account)>(StringComparer.Ordinal);
        foreach (var (_, name) in ServiceAccounts.TokenExposureAnalyzer.MountedSecrets(target.PodSpec).DistinctBy(m => m.Secret))
        {
            try
            {
                var secret = await client.CoreV1.ReadNamespacedSecretAsync(name, target.Namespace, cancellationToken: ct).ConfigureAwait(false);
                // Only the type and the account annotation are kept; the token never leaves this method.
                secrets[name] = (secret.Type, secret.Metadata?.Annotations is { } a && a.TryGetValue(ServiceAccounts.TokenExposureAnalyzer.TokenAccountAnnotation, out var account) ? account : null);
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                // Not there: the pod would not start with it; nothing to judge.
            }
        }
        return ServiceAccounts.TokenExposureAnalyzer.ForeignTokenMounts(target.PodSpec, $"Pod {target.Namespace}/{target.PodName ?? target.Workload.ToString()}", secrets);
    }

    /// <summary>The namespace's enforce label, "" when it has none.</summary>
    public static async Task<string> NamespaceEnforceAsync(IKubernetes client, string ns, CancellationToken ct)
    {
        var found = await client.CoreV1.ReadNamespaceAsync(ns, cancellationToken: ct).ConfigureAwait(false);
        return found.Metadata.Labels is { } l && l.TryGetValue(PodSecurityEvaluator.EnforceLabel, out var level) ? level : "";
    }
}

/// <summary>The local Docker engine and the probe image built on it, for a local run: connected once, on first use.</summary>
internal sealed class LocalDocker : IAsyncDisposable
{
    private readonly Lock gate = new();
    private Task<(DockerHost Host, string Image)>? ready;
    private DockerHost? host;

    /// <summary>The engine and the probe image; the vantage and the vehicle ask at the same time, and share one connection and one build.</summary>
    public Task<(DockerHost Host, string Image)> GetAsync(RunSession session)
    {
        lock (gate)
        {
            return ready ??= ConnectAsync(session);
        }
    }

    private async Task<(DockerHost Host, string Image)> ConnectAsync(RunSession session)
    {
        host = await HarnessCluster.ConnectDockerAsync(session.Id, "The docker vehicle runs the pod spec in a local container.", session.Cancellation).ConfigureAwait(false);
        try
        {
            return (host, await ProbeImage.BuildAsync(host, ProbeArtifacts.Locate(), session.Cancellation).ConfigureAwait(false));
        }
        catch (FileNotFoundException e)
        {
            throw new PrerequisiteException("probe agent", e.Message, "Build it with `bash eng/build-probe.sh`.", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (host is not null)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }
    }
}
