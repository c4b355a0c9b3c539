using System.Collections.Immutable;
using Harness.Deployment;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Scenarios;

/// <summary>
/// The sample operator (fixtures/sample-operator): its images are built by `bash eng/build-sample-operator.sh`
/// (harness.local/greeter-operator:dev, and the same operator with the probe agent inside for direct exec).
/// </summary>
internal static class SampleOperator
{
    public const string Image = "harness.local/greeter-operator:dev";

    /// <summary>The operator with /probe/agent in its image: what the direct-exec vehicle needs.</summary>
    public const string ProbedImage = "harness.local/greeter-operator-probed:dev";

    public static OperatorSpec Spec(string variant, VehicleKind vehicle = VehicleKind.TwinPod)
    {
        ImmutableArray<string> manifests = variant switch
        {
            "weak-emptydir" => [RepoPath("fixtures/sample-operator/shared"), RepoPath("fixtures/sample-operator/weak/namespace.yaml"), RepoPath("fixtures/sample-operator/weak/rbac.yaml"), RepoPath("fixtures/sample-operator/weak-emptydir")],
            "hardened-nobody" => [RepoPath("fixtures/sample-operator/shared"), RepoPath("fixtures/sample-operator/hardened/namespace.yaml"), RepoPath("fixtures/sample-operator/hardened/rbac.yaml"),
                RepoPath("fixtures/sample-operator/hardened/networkpolicy.yaml"), RepoPath("fixtures/sample-operator/hardened-nobody")],
            _ => [RepoPath("fixtures/sample-operator/shared"), RepoPath($"fixtures/sample-operator/{variant}")],
        };
        var direct = vehicle == VehicleKind.DirectExec;
        return new OperatorSpec
        {
            Manifests = manifests,
            Workload = "greeter-operator",
            LocalImages = [direct ? ProbedImage : Image],
            Images = direct ? ImmutableDictionary<string, string>.Empty.Add(Image, ProbedImage) : ImmutableDictionary<string, string>.Empty,
        };
    }

    public static string RepoPath(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Harness.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }
        throw new FileNotFoundException("repository root (Harness.sln) not found above the test binaries");
    }
}

/// <summary>A sample variant through one vehicle.</summary>
public abstract class GreeterFixture(HarnessClusterFixture cluster, IMessageSink log, string variant, VehicleKind vehicle) : OperatorFixture(cluster, log)
{
    protected override OperatorSpec Operator => SampleOperator.Spec(variant, vehicle);

    protected override OperatorProbeOptions ProbeOptions() => base.ProbeOptions() with
    {
        Vehicle = vehicle,
        // The hardened sample's rights, locked (`harness rights lock`): its account is held to them on the cluster.
        DeclaredRights = variant == "hardened" ? Harness.Rbac.DeclaredRights.Load(SampleOperator.RepoPath("fixtures/sample-operator/rights.yaml")) : null,
    };
}

public sealed class HardenedGreeterFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened", VehicleKind.TwinPod);

public sealed class HardenedGreeterEphemeralFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened", VehicleKind.EphemeralContainer);

public sealed class HardenedGreeterDirectExecFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened", VehicleKind.DirectExec);

public sealed class WeakGreeterFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak", VehicleKind.TwinPod);

public sealed class WeakGreeterEphemeralFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak", VehicleKind.EphemeralContainer);

public sealed class WeakGreeterDirectExecFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak", VehicleKind.DirectExec);

public sealed class WeakEmptyDirGreeterFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak-emptydir", VehicleKind.TwinPod);

public sealed class WeakEmptyDirGreeterEphemeralFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak-emptydir", VehicleKind.EphemeralContainer);

public sealed class WeakEmptyDirGreeterDirectExecFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "weak-emptydir", VehicleKind.DirectExec);

public sealed class NobodyGreeterFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened-nobody", VehicleKind.TwinPod);

public sealed class NobodyGreeterEphemeralFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened-nobody", VehicleKind.EphemeralContainer);

public sealed class NobodyGreeterDirectExecFixture(HarnessClusterFixture c, IMessageSink l) : GreeterFixture(c, l, "hardened-nobody", VehicleKind.DirectExec);

/// <summary>The hardened sample passes the four checks, through every vehicle: the three-line user test.</summary>
public sealed class HardenedGreeterHardening : OperatorHardeningTests<HardenedGreeterFixture>;

/// <summary>The hardened sample passes the opt-in facts too: quarantined in the API, a pod-bound, short-lived token.</summary>
public sealed class HardenedGreeterExtendedHardening : OperatorExtendedHardeningTests<HardenedGreeterFixture>;

public sealed class HardenedGreeterHardeningByEphemeralContainer : OperatorHardeningTests<HardenedGreeterEphemeralFixture>;

public sealed class HardenedGreeterHardeningByDirectExec : OperatorHardeningTests<HardenedGreeterDirectExecFixture>;

/// <summary>
/// A weak sample fails each check, each for its own reason, whatever the vehicle: the harness catches what it claims to
/// catch, and no vehicle reports its own security context as the operator's (issue #16).
/// </summary>
public abstract class WeakGreeterIsCaught<TFixture> : IClassFixture<TFixture>
    where TFixture : GreeterFixture
{
    private static async Task<OperatorHardeningReport> ReportAsync() =>
        (await TestContext.Current.GetFixture<TFixture>() ?? throw new InvalidOperationException($"{typeof(TFixture).Name} is not a fixture of this class")).RequireReport();

    /// <summary>The ids of <see cref="WeakSampleCatches.Failed"/>.</summary>
    public static TheoryData<string> Weaknesses => [.. WeakSampleCatches.Failed.Select(f => f.Id)];

    [Theory]
    [MemberData(nameof(Weaknesses))]
    public async Task EachWeakness_FailsTheCheckItIsDeclaredFor(string id)
    {
        var report = await ReportAsync();
        // The check comes from the declaration the run carries (the probe's or the question's), never from this test.
        var check = report.Probes.Results.FirstOrDefault(r => r.Probe.Id == id)?.Probe.Check
            ?? report.Access.FirstOrDefault(a => a.Question.Id == id)?.Question.Check
            ?? throw new InvalidOperationException($"{id} is neither a probe nor an access question of this run");
        report[check].Should().Fail($"{id}: Failed", WeakSampleCatches.Failed.Single(f => f.Id == id).Why);
    }
}

public sealed class WeakGreeterIsCaughtByTwinPod : WeakGreeterIsCaught<WeakGreeterFixture>;

/// <summary>The weak operator runs a privileged presenter Pod under its own account for each Greeting: the payload inventory catches it (#15).</summary>
public sealed class WeakGreeterPayloadIsCaught(WeakGreeterFixture fixture) : IClassFixture<WeakGreeterFixture>
{
    [Fact]
    public void Payload_APrivilegedPresenterUnderTheOperatorsAccount()
    {
        var check = fixture.RequireReport()[HardeningCheck.PayloadSeparated];
        check.Should().Fail("PAYLOAD-POD-SECURITY: Pod ", "the presenter Pod is privileged and runs as root");
        check.Should().Fail("PAYLOAD-OPERATOR-ACCOUNT: Pod ", "it runs under greeter-operator");
        check.Should().Fail("control held", "the operator reconciled the Greeting");
    }

    [Fact]
    public void WebhookTls_DoesNotApply_TheSampleHasNoWebhook() =>
        fixture.RequireReport()[HardeningCheck.WebhookTlsVerified].Tested.Should().BeFalse();
}

public sealed class WeakGreeterIsCaughtByEphemeralContainer : WeakGreeterIsCaught<WeakGreeterEphemeralFixture>;

public sealed class WeakGreeterIsCaughtByDirectExec : WeakGreeterIsCaught<WeakGreeterDirectExecFixture>;

/// <summary>With an emptyDir at /tmp every filesystem control holds: only observing the operator's own root can fail it.</summary>
public sealed class WeakEmptyDirGreeterIsCaughtByTwinPod : WeakGreeterIsCaught<WeakEmptyDirGreeterFixture>;

public sealed class WeakEmptyDirGreeterIsCaughtByEphemeralContainer : WeakGreeterIsCaught<WeakEmptyDirGreeterEphemeralFixture>;

public sealed class WeakEmptyDirGreeterIsCaughtByDirectExec : WeakGreeterIsCaught<WeakEmptyDirGreeterDirectExecFixture>;

/// <summary>
/// Issue #22: the monitoring-operator shape (runAsUser 65534 only, gid and groups from the image, no volumes, read-only
/// root) through each cluster vehicle, with the verdict each can honestly give: the twin pod and direct exec run with the
/// operator's own ids and pass; no vehicle fails a uid-, gid- or group-dependent check on an identity that is not the
/// operator's.
/// </summary>
public abstract class NobodyGreeterIsJudgedOnItsOwnIds<TFixture>(bool mustPass) : IClassFixture<TFixture>
    where TFixture : GreeterFixture
{
    private static async Task<OperatorHardeningReport> ReportAsync() =>
        (await TestContext.Current.GetFixture<TFixture>() ?? throw new InvalidOperationException($"{typeof(TFixture).Name} is not a fixture of this class")).RequireReport();

    [Theory]
    [InlineData(HardeningCheck.RootFilesystemReadOnly)]
    [InlineData(HardeningCheck.PrivilegeEscalationDenied)]
    public async Task NoVolumesAndAnImageGid_PassOrAtMostStayUnproven(HardeningCheck check)
    {
        var outcome = (await ReportAsync())[check];
        if (mustPass)
        {
            outcome.Should().Pass();
        }
        else
        {
            outcome.Status.Should().NotBe(Verdicts.ProbeStatus.Failed, string.Join("; ", outcome.Evidence));
        }
    }

    [Fact]
    public async Task TheSetgidVerdict_IsNeverTakenOnAnotherIdentity()
    {
        var setgid = (await ReportAsync()).Probes.Results.Single(r => r.Probe.Id == "kernel.setgid");
        setgid.Status.Should().NotBe(Verdicts.ProbeStatus.Failed, setgid.Explanation);
    }
}

public sealed class NobodyGreeterByTwinPod() : NobodyGreeterIsJudgedOnItsOwnIds<NobodyGreeterFixture>(mustPass: true)
{
    [Fact]
    public async Task TheTwinSaysWhoseIdsItRanWithAndWhereTheyCameFrom()
    {
        var report = (await TestContext.Current.GetFixture<NobodyGreeterFixture>())!.RequireReport();
        report.Probes.Notes.Should().Contain(n => n.Contains("runs with the operator's ids, uid 65534, gid 65534, groups [", StringComparison.Ordinal)
            && n.Contains("2000", StringComparison.Ordinal) && n.Contains("learned from the operator's image", StringComparison.Ordinal));
    }
}

public sealed class NobodyGreeterByEphemeralContainer() : NobodyGreeterIsJudgedOnItsOwnIds<NobodyGreeterEphemeralFixture>(mustPass: false);

public sealed class NobodyGreeterByDirectExec() : NobodyGreeterIsJudgedOnItsOwnIds<NobodyGreeterDirectExecFixture>(mustPass: true);
