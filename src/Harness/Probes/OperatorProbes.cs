using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Rbac;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Probes;

/// <summary>Options for probing an operator on a cluster.</summary>
public sealed record OperatorProbeOptions
{
    /// <summary>The vehicle (twin pod by default).</summary>
    public ClusterVehicleKind Vehicle { get; init; } = ClusterVehicleKind.TwinPod;

    /// <summary>Egress targets besides the harness's sink (real destinations for qualification; only when asked).</summary>
    public ImmutableArray<EgressTarget> ExtraEgressTargets { get; init; } = [];

    /// <summary>Namespace used for the "elsewhere" questions (pods, NetworkPolicies in another namespace).</summary>
    public string OtherNamespace { get; init; } = "kube-system";

    /// <summary>Session id.</summary>
    public required string Session { get; init; }
}

/// <summary>Everything learned about one operator on a cluster.</summary>
/// <param name="Target">The operator.</param>
/// <param name="Probes">Probe results from inside its security context.</param>
/// <param name="Access">The SubjectAccessReview answers for its ServiceAccount.</param>
/// <param name="UnpinnedImages">Images not pinned by digest.</param>
public sealed record OperatorHardeningReport(OperatorTarget Target, ProbeRunReport Probes, ImmutableArray<AccessAnswer> Access, ImmutableArray<string> UnpinnedImages)
{
    /// <summary>The outcome of one check.</summary>
    public CheckOutcome this[HardeningCheck check] => CheckOutcome.Of(check, Probes.Results, Access);

    /// <summary>The mission's four checks.</summary>
    public ImmutableArray<CheckOutcome> Mission => [.. CheckOutcome.Mission.Select(c => this[c])];
}

/// <summary>Runs the probe catalog and the access matrix against a deployed operator.</summary>
public static class OperatorProbes
{
    /// <summary>Starts the vehicle, runs every probe (egress to the sink, filesystem, process, kernel, API with the pod's token) and asks the access matrix.</summary>
    /// <exception cref="AgentFailedException">The agent did not produce a report.</exception>
    public static async Task<OperatorHardeningReport> RunAsync(HarnessCluster cluster, DeployedOperator op, ClusterEgressSink sink, OperatorProbeOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(op);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        var probeImage = cluster.ProbeImage ?? throw HarnessCluster.NoProbeImage();
        await using var vehicle = await ClusterVehicles.StartAsync(options.Vehicle, cluster.Client, op.Target, probeImage, options.Session, ct: ct).ConfigureAwait(false);
        var outside = new KubernetesVehicle(cluster.Client, sink.ControlNamespace, sink.ControlPod, "agent", "control-pod", []);
        var plan = StandardProbes.Create(new StandardProbeOptions
        {
            EgressTargets = [sink.Http, sink.Https, .. options.ExtraEgressTargets],
            IncludeKubernetesApi = true,
            OtherNamespace = options.OtherNamespace,
        });
        var probes = await ProbeRunner.RunAsync(plan, vehicle, outside, new Protocol.KubernetesAccess(), ct: ct).ConfigureAwait(false);

        var account = new ServiceAccountRef(op.Target.Namespace, op.Target.ServiceAccount);
        // The manifests may name another namespace than the one the harness deployed into: RBAC is read in their terms.
        var manifestsNamespace = op.Manifests.FirstOrDefault(d => d.DisplayName == op.Target.Workload)?.Namespace ?? "default";
        var manifestsAccount = new ServiceAccountRef(manifestsNamespace, op.Target.ServiceAccount);
        var control = AccessReviewMatrix.ControlFrom(RbacModel.From(op.Manifests, manifestsAccount.Namespace), manifestsAccount, op.Target.Namespace);
        var access = await AccessReviewMatrix.AskAsync(cluster.Client, account, options.OtherNamespace, control, ct).ConfigureAwait(false);
        return new OperatorHardeningReport(op.Target, probes, access, op.UnpinnedImages);
    }
}
