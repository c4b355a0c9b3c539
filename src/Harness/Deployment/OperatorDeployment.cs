// Deployment: applying the operator's manifests into a namespace of the run, waiting for the rollout, removing exactly what was applied.
using Harness.Runs;
using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Kubernetes;
using Harness.Manifests;
using Harness.Vehicles;
using Harness.Waits;
using k8s;
using k8s.Models;

namespace Harness.Deployment;

/// <summary>The operator to deploy and probe.</summary>
public sealed record OperatorSpec
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>Manifest files or folders (multi-document YAML, rendered Helm or kustomize output).</summary>
    public required ImmutableArray<string> Manifests { get; init; }

    /// <summary>The Deployment (or StatefulSet, DaemonSet) that runs the operator.</summary>
    public required string Workload { get; init; }

    /// <summary>The container to probe; by default the annotated default container or the only one.</summary>
    public string? Container { get; init; }

    /// <summary>
    /// Images built on this machine: loaded into kind and K3s before applying; on a cluster the harness did not create
    /// they are expected to be on its nodes already, and a pod that cannot get one fails the deployment with its name.
    /// </summary>
    public ImmutableArray<string> LocalImages { get; init; } = [];

    /// <summary>
    /// Images to replace in every pod template before applying (as kustomize's <c>images:</c>), from the manifests'
    /// reference to the one to run: an operator build with the probe agent inside for the direct-exec vehicle, a digest.
    /// </summary>
    public ImmutableDictionary<string, string> Images { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>How a Helm chart among <see cref="Manifests"/> is rendered (release, values files, <c>--set</c>).</summary>
    public HelmOptions Helm { get; init; } = HelmOptions.Default;

    /// <summary>The namespace to deploy into; by default <c>harness-{workload}-{session}</c>.</summary>
    public string? Namespace { get; init; }

    /// <summary>Bound on the rollout.</summary>
    public TimeSpan RolloutTimeout { get; init; } = TimeSpan.FromMinutes(3);
}

/// <summary>
/// A deployed operator: what was applied and where it runs; disposing it removes what the harness created. Applied
/// first (<see cref="OperatorDeployment.ApplyAsync"/>): its pod template is known at once, its running pod once
/// <see cref="RolloutAsync"/> has seen the rollout through.
/// </summary>
internal sealed class DeployedOperator : IAsyncDisposable
{
    private readonly IKubernetes client;
    private readonly TextWriter log;
    private readonly Func<CancellationToken, Task<OperatorTarget>> rollout;
    private OperatorTarget? running;
    private int disposed;

    internal DeployedOperator(IKubernetes client, OperatorTarget template, ImmutableArray<AppliedObject> applied, IReadOnlyList<ManifestDocument> manifests, TextWriter log,
        Func<CancellationToken, Task<OperatorTarget>> rollout)
    {
        this.client = client;
        this.log = log;
        this.rollout = rollout;
        Template = template;
        Applied = applied;
        Manifests = manifests;
    }

    /// <summary>The operator as its applied pod template says (no pod yet): enough for a twin pod, the access matrix and the policies.</summary>
    public OperatorTarget Template { get; }

    /// <summary>The operator, resolved to a running pod.</summary>
    /// <exception cref="InvalidOperationException">Before <see cref="RolloutAsync"/> has finished.</exception>
    public OperatorTarget Target => running ?? throw new InvalidOperationException("the operator has not rolled out yet: await RolloutAsync first.");

    /// <summary>What was applied.</summary>
    public ImmutableArray<AppliedObject> Applied { get; }

    /// <summary>How the manifests were read (rendered, expanded, files left out).</summary>
    public ImmutableArray<string> InputNotes { get; init; } = [];

    /// <summary>The manifests as loaded.</summary>
    public IReadOnlyList<ManifestDocument> Manifests { get; }

    /// <summary>Waits for the rollout and resolves the running pod (<see cref="Target"/>).</summary>
    /// <exception cref="WaitTimeoutException">The rollout did not finish; the message has the pods' states and events.</exception>
    /// <exception cref="DeploymentException">A node cannot get an image.</exception>
    public async Task<OperatorTarget> RolloutAsync(CancellationToken ct)
    {
        running ??= await rollout(ct).ConfigureAwait(false);
        return running;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            await ManifestApplier.DeleteCreatedAsync(client, Applied, log).ConfigureAwait(false);
        }
    }
}

/// <summary>The operator could not be deployed for a reason the user must act on (an image its nodes cannot get); the message says what to do.</summary>
/// <param name="image">The image concerned, when one is.</param>
/// <param name="message">What happened and what to do.</param>
public sealed class DeploymentException(string? image, string message) : Exception(message)
{
    /// <summary>The image the nodes could not get, if that is the failure.</summary>
    public string? Image { get; } = image;
}

/// <summary>Deploys an operator from its manifests into its own namespace and waits for it to roll out.</summary>
internal static class OperatorDeployment
{
    /// <summary>Loads local images, applies the manifests, waits for the rollout and resolves the running pod.</summary>
    /// <exception cref="ManifestException">A manifest cannot be read, or names a kind the cluster does not serve.</exception>
    /// <exception cref="TargetNotFoundException">The workload is not among the manifests, or its container cannot be chosen.</exception>
    /// <exception cref="WaitTimeoutException">The rollout did not finish; the message has the pods' states and events.</exception>
    public static async Task<DeployedOperator> DeployAsync(HarnessCluster cluster, OperatorSpec spec, SessionId session, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        var deployed = await ApplyAsync(cluster, spec, session, log, time, ct).ConfigureAwait(false);
        try
        {
            await deployed.RolloutAsync(ct).ConfigureAwait(false);
            return deployed;
        }
        catch
        {
            await deployed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Loads local images and applies the manifests; returns as soon as the API server holds them, with the workload's
    /// pod template as the target. The rollout is awaited separately (<see cref="DeployedOperator.RolloutAsync"/>), so what
    /// needs only the template (a twin pod, the access matrix) starts while the operator's pod is still being scheduled.
    /// </summary>
    /// <exception cref="ManifestException">A manifest cannot be read, or names a kind the cluster does not serve.</exception>
    /// <exception cref="TargetNotFoundException">The workload is not among the manifests, or its container cannot be chosen.</exception>
    public static async Task<DeployedOperator> ApplyAsync(HarnessCluster cluster, OperatorSpec spec, SessionId session, TextWriter? log = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(spec);
        log ??= TextWriter.Null;
        var (documents, notes) = await LoadManifestsAsync(spec.Manifests, spec.Helm, log).ConfigureAwait(false);
        var workloadDoc = documents.FirstOrDefault(d => d.Name == spec.Workload && d.Kind is "Deployment" or "StatefulSet" or "DaemonSet")
            ?? throw new TargetNotFoundException($"no Deployment, StatefulSet or DaemonSet named \"{spec.Workload}\" in {string.Join(", ", spec.Manifests)}; they have {string.Join(", ", documents.Where(d => PodTemplates.TryGet(d.Object, out _, out _)).Select(d => d.DisplayName))}.");
        var ns = spec.Namespace ?? RunNames.WithSuffix($"harness-{spec.Workload}", session.Value, 63);
        foreach (var image in spec.LocalImages)
        {
            if (cluster.CanLoadImages)
            {
                await cluster.LoadImageAsync(image, ct).ConfigureAwait(false);
            }
            else
            {
                await log.WriteLineAsync($"image {image}: not loaded ({cluster.Name} is not a cluster the harness runs); expected to be present on its nodes").ConfigureAwait(false);
            }
        }
        if (!spec.Images.IsEmpty)
        {
            documents = [.. ReplaceImages(documents, spec.Images)];
        }
        if (ApiServerPolicy.IsNeeded(documents))
        {
            var endpoints = await ApiServerPolicy.DiscoverAsync(cluster.Client, ct).ConfigureAwait(false);
            documents = [.. ApiServerPolicy.Render(documents, endpoints)];
            await log.WriteLineAsync($"API server egress rendered for {string.Join(", ", endpoints.Select(e => $"{e.Address}:{e.Port}"))}").ConfigureAwait(false);
        }
        var plan = ManifestPlan.Build(documents, new Placement(ns, session.Value, workloadDoc.Namespace));
        // What later stages read (RBAC, NetworkPolicy, webhooks, CRDs) is what the cluster holds: the placed objects.
        var placed = Placed(plan);
        // Recorded as applied, before each request: a failure or cancellation half-way removes exactly what was sent.
        var applied = new List<AppliedObject>();
        try
        {
            await ManifestApplier.ApplyAsync(cluster.Client, plan, applied, session, log, time, ct).ConfigureAwait(false);
            var placedWorkload = placed.First(d => d.Ref == workloadDoc.Ref && d.Namespace == ns);
            var template = TargetDiscovery.FromWorkload(placedWorkload.Object!, spec.Container, ns);
            async Task<OperatorTarget> RollOut(CancellationToken t)
            {
                var pod = await WaitForRolloutAsync(cluster.Client, ns, placedWorkload, spec.RolloutTimeout, spec.LocalImages, cluster.Name, time, t).ConfigureAwait(false);
                return TargetDiscovery.FromWorkload(pod, template.Container, ns) with { Workload = workloadDoc.Ref, PodMetadata = PodTemplateMetadata(workloadDoc) ?? pod.Metadata };
            }
            return new DeployedOperator(cluster.Client, template, [.. applied], placed, log, RollOut) { InputNotes = notes };
        }
        catch
        {
            await ManifestApplier.DeleteCreatedAsync(cluster.Client, applied, log).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// An operator's manifests, loaded (kustomize trees and charts rendered, bundles expanded, the harness's own files left
    /// out); how they were read goes to <paramref name="log"/> as <c>note:</c> lines and comes back for the report.
    /// </summary>
    /// <exception cref="ManifestException">A manifest cannot be read or rendered.</exception>
    internal static async Task<(List<ManifestDocument> Documents, ImmutableArray<string> Notes)> LoadManifestsAsync(IEnumerable<string> manifests, HelmOptions helm, TextWriter log)
    {
        var notes = new List<string>();
        var paths = manifests.ToList();
        var documents = paths.SelectMany(m => ManifestLoader.LoadPath(m, notes, helm)).ToList();
        // An OLM bundle is installed into a namespace OLM is told, never its CSV's own: the release namespace when one
        // is given, else the only Namespace the other manifests declare (a bundle shipped with its namespace's labels and
        // policies), else one of the run's own (the placement maps the placeholder like any namespace). Across paths, as
        // ManifestLoader.BundleInstall does within one.
        if (helm.Namespace is null && documents.Any(d => d.Namespace == OlmInstall.UnknownNamespace) && ManifestLoader.OnlyDeclaredNamespace(documents) is { } only)
        {
            notes.Clear();
            documents = [.. paths.SelectMany(m => ManifestLoader.LoadPath(m, notes, helm, new OlmInstall { Namespace = only }))];
        }
        foreach (var note in notes)
        {
            await log.WriteLineAsync($"note: {note}").ConfigureAwait(false);
        }
        return (documents, [.. notes]);
    }

    /// <summary>The documents with every container image in <paramref name="images"/> replaced; the inputs are not changed. Pure.</summary>
    public static IReadOnlyList<ManifestDocument> ReplaceImages(IReadOnlyList<ManifestDocument> documents, IReadOnlyDictionary<string, string> images)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(images);
        return [.. documents.Select(d =>
        {
            static IEnumerable<V1Container> All(V1PodSpec s) => (s.InitContainers ?? Enumerable.Empty<V1Container>()).Concat(s.Containers ?? Enumerable.Empty<V1Container>());
            if (d.Object is null || !PodTemplates.TryGet(d.Object, out _, out var original)
                || !All(original).Any(c => c.Image is not null && images.ContainsKey(c.Image)))
            {
                return d;
            }
            // A fresh copy from the document's own text: the caller's objects stay as they were.
            var copy = ManifestLoader.LoadText(d.Text, d.Path).Single().Object!;
            PodTemplates.TryGet(copy, out _, out var spec);
            foreach (var c in All(spec!))
            {
                if (c.Image is not null && images.TryGetValue(c.Image, out var replacement))
                {
                    c.Image = replacement;
                }
            }
            return d with { Object = copy };
        })];
    }

    private static V1ObjectMeta? PodTemplateMetadata(ManifestDocument workload) =>
        PodTemplates.TryGet(workload.Object, out var metadata, out _) ? metadata : null;

    /// <summary>Whether a Deployment has finished rolling out, and if not, why (pure).</summary>
    public static (bool Done, string Why) RolloutStatus(V1Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var want = deployment.Spec?.Replicas ?? 1;
        var s = deployment.Status;
        if (s is null || (s.ObservedGeneration ?? 0) < (deployment.Metadata?.Generation ?? 0))
        {
            return (false, "the controller has not observed the latest generation");
        }
        if ((s.Conditions ?? []).FirstOrDefault(c => c.Type == "Progressing") is { Reason: "ProgressDeadlineExceeded" } stuck)
        {
            return (false, $"progress deadline exceeded: {stuck.Message}");
        }
        if ((s.UpdatedReplicas ?? 0) < want)
        {
            return (false, $"{s.UpdatedReplicas ?? 0} of {want} replicas updated");
        }
        if ((s.Replicas ?? 0) > (s.UpdatedReplicas ?? 0))
        {
            return (false, $"{s.Replicas - s.UpdatedReplicas} old replicas pending termination");
        }
        if ((s.AvailableReplicas ?? 0) < want)
        {
            return (false, $"{s.AvailableReplicas ?? 0} of {want} updated replicas available");
        }
        return (true, "rolled out");
    }

    /// <summary>
    /// The first container whose image its node cannot get, as a deployment failure that names the image and what to do;
    /// null when none. Pure. <c>ErrImagePull</c> counts only for local images (a registry may recover); a back-off, a
    /// "never pull" refusal and an invalid name count for every image.
    /// </summary>
    public static DeploymentException? ImageFailure(IEnumerable<V1Pod> pods, IReadOnlyCollection<string> localImages, string cluster)
    {
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(localImages);
        foreach (var pod in pods)
        {
            var statuses = (pod.Status?.InitContainerStatuses ?? []).Concat(pod.Status?.ContainerStatuses ?? []);
            foreach (var status in statuses)
            {
                if (status.State?.Waiting is not { Reason: { } reason } waiting)
                {
                    continue;
                }
                var image = (pod.Spec?.InitContainers ?? []).Concat(pod.Spec?.Containers ?? []).FirstOrDefault(c => c.Name == status.Name)?.Image ?? status.Image;
                var local = localImages.Contains(image, StringComparer.Ordinal);
                var fatal = reason is "ErrImageNeverPull" or "ImagePullBackOff" or "InvalidImageName" || (reason == "ErrImagePull" && local);
                if (!fatal)
                {
                    continue;
                }
                var what = $"pod {pod.Metadata?.Name} container \"{status.Name}\": {reason}{(string.IsNullOrEmpty(waiting.Message) ? "" : $" ({waiting.Message})")}";
                return new DeploymentException(image, local
                    ? $"image {image}: the nodes of {cluster} do not have it ({what}). On a cluster the harness did not create, local images must already be on every node: import them there (e.g. `ctr -n k8s.io images import`), or push them to a registry the cluster pulls from and reference them by digest."
                    : $"image {image}: the nodes of {cluster} cannot get it ({what}). Check the image name, that the registry is reachable from the nodes, and the pod's imagePullSecrets.");
            }
        }
        return null;
    }

    /// <summary>
    /// A PodSecurity refusal of the workload's pods, from its controller's <c>FailedCreate</c> events (the ReplicaSet of a
    /// Deployment is named after it; a StatefulSet or DaemonSet is the workload itself). Pure.
    /// </summary>
    internal static Verdicts.PodSecurityRefusal? PodSecurityRefusal(ManifestDocument workload, IEnumerable<Corev1Event> events)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(events);
        var refused = events.Where(e => e.Reason == "FailedCreate" && Verdicts.PodSecurityRefusal.IsRefusal(e.Message)
                && e.InvolvedObject?.Name is { } owner
                && (owner == workload.Name || (e.InvolvedObject.Kind == "ReplicaSet" && IsReplicaSetOf(owner, workload.Name))))
            .OrderByDescending(e => e.LastTimestamp ?? e.EventTime ?? e.Metadata?.CreationTimestamp)
            .FirstOrDefault();
        return refused is null ? null : new Verdicts.PodSecurityRefusal($"{refused.InvolvedObject.Kind} {refused.InvolvedObject.Name} (the operator's own pods)", refused.Message);
    }

    // A Deployment's ReplicaSet is named NAME-HASH, the pod-template hash having no dash: "greeter-7c9d" is not "greeter-operator"'s.
    private static bool IsReplicaSetOf(string replicaSet, string deployment) =>
        replicaSet.Length > deployment.Length + 1 && replicaSet.StartsWith(deployment + "-", StringComparison.Ordinal)
        && replicaSet.AsSpan(deployment.Length + 1).IndexOf('-') < 0;

    private static async Task<V1Pod> WaitForRolloutAsync(IKubernetes client, string ns, ManifestDocument workload, TimeSpan timeout, IReadOnlyCollection<string> localImages, string cluster, TimeProvider? time, CancellationToken ct)
    {
        var selector = workload.Object switch
        {
            V1Deployment d => d.Spec.Selector,
            V1StatefulSet s => s.Spec.Selector,
            V1DaemonSet ds => ds.Spec.Selector,
            _ => null,
        };
        var labelSelector = Labels.Selector(selector);
        var seen = await BoundedWait.UntilAsync(
            $"{workload.Kind} {ns}/{workload.Name} to roll out",
            async t =>
            {
                // The harness's own pods (a twin pod carries the operator's labels, and starts beside the rollout) are not the operator's.
                var pods = Pods.NotHarness((await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: labelSelector, cancellationToken: t).ConfigureAwait(false)).Items);
                if (ImageFailure(pods, localImages, cluster) is { } failure)
                {
                    throw failure; // waiting longer cannot help
                }
                if (Pods.StartFailure(pods, (time ?? TimeProvider.System).GetUtcNow()) is { } cannotStart)
                {
                    throw new DeploymentException(null, $"{workload.Kind} {ns}/{workload.Name} cannot roll out: {cannotStart}. Check the container's command and the objects its pod refers to.");
                }
                var events = (await client.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: t).ConfigureAwait(false)).Items;
                if (PodSecurityRefusal(workload, events) is { } refused)
                {
                    throw new Verdicts.PodSecurityRefusedException(refused); // its controller will be refused again: the refusal is the verdict
                }
                var status = workload.Kind == "Deployment"
                    ? RolloutStatus(await client.AppsV1.ReadNamespacedDeploymentAsync(workload.Name, ns, cancellationToken: t).ConfigureAwait(false))
                    : (pods.Count > 0 && pods.All(Pods.IsServing), "pods ready");
                return (Status: status, Pods: pods, Events: events);
            },
            x => x.Status.Item1 && x.Pods.Any(Pods.IsServing),
            x => $"{x.Status.Item2}; {Pods.Describe(x.Pods, x.Events)}",
            timeout, TimeSpan.FromSeconds(2), time: time, ct: ct).ConfigureAwait(false);
        return seen.Pods.First(Pods.IsServing);
    }

    /// <summary>The planned objects as manifest documents (their source file and line kept), generated namespaces left out. Pure.</summary>
    internal static IReadOnlyList<ManifestDocument> Placed(IReadOnlyList<PlannedObject> plan) =>
    [
        .. plan.Where(p => p.Source.Line > 0 || p.Source.Path != "(generated)")
            .Select(p => ManifestLoader.LoadText(p.Json, p.Source.Path).Single() with { Line = p.Source.Line }),
    ];
}
