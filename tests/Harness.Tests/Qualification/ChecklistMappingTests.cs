using Harness.Probes;
using Harness.Qualification;
using Harness.Rbac;
using Harness.Verdicts;

namespace Harness.Tests.Qualification;

/// <summary>The checklist is a view of what probes and questions declare (issue #13, item 3): no probe falls out of it.</summary>
public sealed class ChecklistMappingTests
{
    private static readonly ProbePlan Plan = Harness.Tests.Probes.TestPlans.Standard;

    [Theory]
    [InlineData("fs.root", "rootfs-readonly")]
    [InlineData("fs.writable", "rootfs-readonly")]
    [InlineData("fs.serviceaccount", "rootfs-readonly")]
    [InlineData("proc.non-root", "non-root")]
    [InlineData("proc.capabilities", "capabilities-dropped")]
    [InlineData("proc.no-new-privs", "no-privilege-escalation")]
    [InlineData("proc.seccomp", "seccomp")]
    [InlineData("kernel.setuid", "no-privilege-escalation")]
    [InlineData("kernel.setgid", "no-privilege-escalation,non-root")]
    [InlineData("kernel.raw-socket", "no-privilege-escalation,capabilities-dropped")]
    [InlineData("egress.sink.tcp", "egress-default-deny")]
    [InlineData("dns.cluster", "egress-default-deny")]
    [InlineData("api.self", "egress-default-deny")]
    [InlineData("api.secrets.cluster", "serviceaccount-least-privilege")]
    [InlineData("api.pod.privileged", "no-privilege-escalation")]
    public void Probe_DeclaresTheChecklistItemsItCountsFor(string probe, string items)
    {
        Plan.Probes.Single(p => p.Id == probe).Items.Select(i => i.Id()).Should().Equal(items.Split(','));
    }

    [Fact]
    public void EveryStandardProbeAndQuestion_CountsForAtLeastOneItem_AndEveryIdIsKnown()
    {
        Plan.Probes.Should().OnlyContain(p => !p.Items.IsEmpty, "a probe no checklist item reads is a probe no report shows");
        var questions = AccessReviewMatrix.Build(new ServiceAccountRef("ns", "sa"), "kube-system");
        questions.Should().OnlyContain(q => !q.Items.IsEmpty);
        questions.Where(q => q.Id.StartsWith("sar.webhooks", StringComparison.Ordinal)).Should().OnlyContain(q => q.Items.SequenceEqual(new[] { HardeningItem.WebhookCaPatch }));
        Checklist.ItemIds.Should().Equal("namespace-psa", "rootfs-readonly", "capabilities-dropped", "no-privilege-escalation", "seccomp", "non-root",
            "egress-default-deny", "serviceaccount-least-privilege", "serviceaccount-token", "images-pinned", "images-signed", "webhook-ca-patch", "api-quarantine", "payload-separation", "webhook-tls", "rights-declared");
        HardeningItems.All.Select(i => i.Title()).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void UserProbe_WithoutItems_CountsForItsChecksItem()
    {
        var custom = Plan.Probes.Single(p => p.Id == "egress.sink.tcp") with { Id = "egress.lab.custom" };

        custom.Items.Should().Equal(HardeningItem.EgressDefaultDeny);
        (custom with { Items = [HardeningItem.Seccomp] }).Items.Should().Equal(HardeningItem.Seccomp);
    }

    [Fact]
    public void ApiQuarantine_FailsOnAManifestGrantWithoutACluster_AndPassesOnlyWhenEveryQuestionIsDenied()
    {
        static ChecklistItem Item(IReadOnlyList<AccessAnswer> access, params string[] grants) =>
            Checklist.Build([], access, new ChecklistInputs("restricted", [], System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, "n/a")
            {
                ManifestFindings = grants.Length == 0 ? System.Collections.Immutable.ImmutableDictionary<HardeningItem, System.Collections.Immutable.ImmutableArray<string>>.Empty
                    : System.Collections.Immutable.ImmutableDictionary<HardeningItem, System.Collections.Immutable.ImmutableArray<string>>.Empty.Add(HardeningItem.ApiQuarantine, [.. grants]),
            })
                .Single(i => i.Id == "api-quarantine");
        var questions = AccessReviewMatrix.Quarantine("demo", "kube-system");

        Item([]).Status.Should().Be(ChecklistStatus.Skipped, "nothing tested it");
        Item([], "ServiceAccount demo/op can read ConfigMaps in kube-system").Should().Match<ChecklistItem>(i => i.Status == ChecklistStatus.Failed && i.Evidence.Any(e => e.Contains("kube-system", StringComparison.Ordinal)));
        Item([.. questions.Select(q => new AccessAnswer(q, ProbeStatus.Passed, "denied"))]).Status.Should().Be(ChecklistStatus.Passed);
        Item([.. questions.Select((q, n) => new AccessAnswer(q, n == 3 ? ProbeStatus.Failed : ProbeStatus.Passed, n == 3 ? "allowed" : "denied"))]).Status.Should().Be(ChecklistStatus.Failed);
        Item([.. questions.Select(q => new AccessAnswer(q, ProbeStatus.Inconclusive, "control failed"))]).Status.Should().Be(ChecklistStatus.Inconclusive);
    }
}

/// <summary>Issue #23 item 8: a live check's controls are those it reports as controls, never lines that merely use the word.</summary>
public sealed class LiveCheckControlsTests
{
    [Fact]
    public void WebhookTls_ControlsComeFromTheReportsControls_NotFromEvidenceWording()
    {
        var report = new Harness.Webhooks.WebhookTlsReport(ProbeStatus.Inconclusive,
            ["ValidatingWebhookConfiguration w/x (https://x.ns.svc:443/): the Service answered the control but not the attempt: ETIMEDOUT"])
        {
            Controls = ["ValidatingWebhookConfiguration w/x: control held: 10.96.0.10:443 answered TLS and refused the name webhook-name-check.harness.invalid"],
        };

        var item = Checklist.Build([], [], new ChecklistInputs("restricted", [], System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, null) { WebhookTls = report }).Single(i => i.Id == "webhook-tls");

        item.Status.Should().Be(ChecklistStatus.Inconclusive);
        item.Controls.Should().Equal(report.Controls);
        item.Evidence.Should().Equal(report.Evidence);
    }

    [Fact]
    public void Verdict_WhenItemsFail_AlsoNamesWhatCouldNotBeProven()
    {
        var failed = new ChecklistItem("images-pinned", "t", ChecklistStatus.Failed, ["x is not pinned"], [], 0);
        var unproven = new ChecklistItem("webhook-tls", "t", ChecklistStatus.Inconclusive, ["the Service answered the control but not the attempt"], [], 0);

        var report = new QualificationReport(new QualificationContext("op", "c", "twin-pod", "0"), DateTimeOffset.UnixEpoch, TimeSpan.Zero, [failed, unproven], [], [], [], []);

        report.Verdict.Should().Be("NOT QUALIFIED: images-pinned failed; webhook-tls could not be proven");
    }
}
