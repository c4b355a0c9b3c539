using System.Collections.Immutable;
using k8s;
using System.Text.Json.Nodes;
using Harness.Probes;
using Harness.Qualification;
using Harness.Rbac;
using Harness.Runs;
using Harness.Verdicts;

namespace Harness.Tests.Rbac;

/// <summary>
/// Issue #27 item 5: the checklist's <c>rights-declared</c> item, judged live on the loopback API server: an excess the
/// authorizer allows fails it; an authorizer that allows nothing cannot pass it (its control fails); untested without a
/// rights file.
/// </summary>
public sealed class RightsDeclaredTests
{
    private static readonly ServiceAccountRef Operator = new("greeter-system", "greeter-operator");

    private static async Task<OperatorRights> HardenedLockAsync()
    {
        var (exit, locked, errors) = await CliRunner.RunAsync("rights", "lock", RepoPaths.File("fixtures/sample-operator/hardened"));
        exit.Should().Be(0, errors);
        return DeclaredRights.Parse(locked, "rights.yaml");
    }

    [Fact]
    public async Task Judge_ABindingAddedOnTheCluster_FailsTheItem_WithTheBindingAndTheControl()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        LiveRightsTests.Seed(api);
        using var client = api.Client();

        var report = await LiveRights.JudgeAsync(client, await HardenedLockAsync(), Operator, ct);

        report.Status.Should().Be(ProbeStatus.Failed, string.Join("\n", report.Evidence));
        report.Evidence.Should().Contain(e => e.Contains("RIGHTS-EXCESS", StringComparison.Ordinal) && e.Contains("via ClusterRoleBinding ops-debug-greeter", StringComparison.Ordinal));
        report.Controls.Should().ContainSingle().Which.Should().StartWith("control held: a declared, granted right");
        var item = Checklist.Build([], [], new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, null) { DeclaredRights = report }).Single(i => i.Id == "rights-declared");
        item.Status.Should().Be(ChecklistStatus.Failed);
        item.Controls.Should().Equal(report.Controls);
    }

    [Fact]
    public async Task Judge_NothingBeyondTheDeclaration_Passes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        LiveRightsTests.Seed(api);
        using var client = api.Client();
        await client.RbacAuthorizationV1.DeleteClusterRoleBindingAsync("ops-debug-greeter", cancellationToken: ct);

        var report = await LiveRights.JudgeAsync(client, await HardenedLockAsync(), Operator, ct);

        report.Status.Should().Be(ProbeStatus.Passed, string.Join("\n", report.Evidence));
        report.Evidence[0].Should().Be("ServiceAccount greeter-system/greeter-operator: no right on the cluster beyond rights.yaml");
    }

    [Fact]
    public async Task Judge_AnAuthorizerThatAllowsNothing_IsInconclusive_NotAPass()
    {
        // The false pass this control exists for: every excess is "not confirmed" when no review is ever allowed.
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        LiveRightsTests.Seed(api);
        api.Created = (_, obj) =>
        {
            if ((string?)obj["kind"] == "SubjectAccessReview")
            {
                obj["status"] = new JsonObject { ["allowed"] = false, ["reason"] = "webhook authorizer unavailable" };
            }
        };
        using var client = api.Client();

        var report = await LiveRights.JudgeAsync(client, await HardenedLockAsync(), Operator, ct);

        report.Status.Should().Be(ProbeStatus.Inconclusive, string.Join("\n", report.Evidence));
        report.Controls.Single().Should().StartWith("control FAILED").And.Contain("webhook authorizer unavailable");
        Checklist.Build([], [], new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, null) { DeclaredRights = report })
            .Single(i => i.Id == "rights-declared").Status.Should().Be(ChecklistStatus.Inconclusive);
    }

    [Fact]
    public void Checklist_WithoutARightsFile_IsUntested_AndWithoutACluster_SaysSo()
    {
        var inputs = new ChecklistInputs("restricted", [], ImmutableDictionary<string, string>.Empty, null);

        var untested = Checklist.Build([], [], inputs with { DeclaredRights = DeclaredRightsReport.Untested }).Single(i => i.Id == "rights-declared");
        var local = Checklist.Build([], [], inputs).Single(i => i.Id == "rights-declared");

        untested.Status.Should().Be(ChecklistStatus.Skipped);
        untested.Evidence.Single().Should().StartWith("no rights file was given");
        local.Status.Should().Be(ChecklistStatus.Skipped);
        local.Evidence.Should().Contain(e => e.Contains("needs a cluster", StringComparison.Ordinal));
        var report = new OperatorHardeningReport(new Harness.Vehicles.OperatorTarget("ns", new Harness.Manifests.WorkloadRef("Deployment", "op"), "c", "op", new(), new(), null),
            new ProbeRunReport([], "twin-pod", [], DateTimeOffset.UnixEpoch, TimeSpan.Zero), [], []) { DeclaredRights = DeclaredRightsReport.Untested };
        report[HardeningCheck.RightsDeclared].Tested.Should().BeFalse("the xUnit fact skips with the reason");
    }

    [Fact]
    public async Task InRunNamespace_ReadsTheManifestsNamespaceAsTheRuns()
    {
        var declared = await HardenedLockAsync();
        var inRun = new ServiceAccountRef("harness-greeter-operator-run1", "greeter-operator");

        var (mapped, note) = DeclaredRightsStage.InRunNamespace(declared, inRun);

        mapped.Accounts.Single().Account.Should().Be(inRun);
        mapped.Accounts.Single().Rules.Select(r => r.Namespace).Distinct().Should().Equal("harness-greeter-operator-run1");
        note.Should().Be("rights.yaml declares greeter-system/greeter-operator; read for harness-greeter-operator-run1, where the run deployed the operator");
        DeclaredRightsStage.InRunNamespace(declared, Operator).Note.Should().BeNull("found as declared: nothing to read differently");
    }
}
