using System.Collections.Immutable;
using System.Text.Json;
using System.Xml.Linq;
using Harness.Probes;
using Harness.Protocol;
using Harness.Qualification;
using Harness.Verdicts;

namespace Harness.Tests.Qualification;

/// <summary>
/// Issue #12, item 5: the report mutation matrix. From a report where every item was tested and passed, one input at a
/// time is made weaker; each row says exactly which banner, exit code and status word every format must show. No row
/// but the baseline may say "every item was tested and passed".
/// </summary>
public sealed class ReportMutationMatrixTests
{
    private const string AllPassed = "QUALIFIED: every item was tested and passed";

    private static readonly ProbePlan Plan = StandardProbes.Create(new StandardProbeOptions
    {
        EgressTargets = [new EgressTarget("sink", "172.30.0.2", "harness-sink", 8080, "tok")],
    });

    private static ProbeResult Classify(string id, StepResult attempt, StepResult? control) =>
        Classifier.ClassifyOne(Plan.Probes.Single(p => p.Id == id), attempt, control);

    private static readonly StepResult WriteOk = new() { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Succeeded, Detail = "wrote /tmp" };

    private static readonly Harness.NetworkPolicies.EgressReach ClosedPolicies = new(Harness.NetworkPolicies.EgressReachStatus.Closed, [], ["no rule in force allows an address outside the cluster"]);

    private static ChecklistInputs Inputs => new("restricted", [], ImmutableDictionary<string, string>.Empty.Add("op@sha256:1", "verified"), null);

    private static ChecklistItem Item(string id, ChecklistStatus status = ChecklistStatus.Passed) => new(id, $"item {id}", status, [$"{id}: evidence"], [], 5);

    private static QualificationReport Baseline() => new(
        new QualificationContext("Deployment demo/op", "kind harness-1", "twin-pod", "test"),
        DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(1),
        [.. Checklist.ItemIds.Select(id => Item(id))],
        [.. CheckOutcome.Mission.Select(c => new CheckOutcome(c, ProbeStatus.Passed, [$"{c}: passed"]))],
        [], [], []);

    /// <summary>The baseline, with the egress probes denied (control held) and <paramref name="policy"/> in force beside a default deny.</summary>
    private static QualificationReport EgressOpenedBy(string policy)
    {
        var probe = Classify("egress.sink.tcp", new() { Id = "egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.TimedOut, Data = new Dictionary<string, string> { ["stage"] = "connect" } },
            new() { Id = "control.egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.Succeeded });
        var policies = Harness.Manifests.ManifestLoader.LoadText(policy, "p.yaml").Select(d => (k8s.Models.V1NetworkPolicy)d.Object!).ToList();
        var reach = Harness.NetworkPolicies.EgressReachAnalyzer.Analyze(policies, "sc-system", new Dictionary<string, string> { ["app"] = "sample-controller" },
            Harness.Tests.NetworkPolicies.EgressReachTests.Kind);
        var item = Checklist.Build([probe], [], Inputs with { EgressPolicy = reach }).Single(i => i.Id == "egress-default-deny");
        var mission = Harness.Runs.EgressPolicyVerdict.Combine(CheckOutcome.Of(HardeningCheck.EgressDenied, [probe]), reach);
        mission.Status.Should().Be(ProbeStatus.Failed, "the probes passed; the policy in force decides");
        return Replace(Baseline(), item) with { Mission = [.. Baseline().Mission.Select(m => m.Check == HardeningCheck.EgressDenied ? mission : m)] };
    }

    private static QualificationReport Replace(QualificationReport r, ChecklistItem item) =>
        r with { Checklist = [.. r.Checklist.Select(i => i.Id == item.Id ? item : i)] };

    /// <summary>One row: a weakened input, and what every format must say.</summary>
    public sealed record Row(string Name, Func<QualificationReport> Report, int Exit, string Banner, string Item, string Status);

    public static TheoryData<string> Rows() => [.. Matrix.Select(r => r.Name)];

    private static readonly ImmutableArray<Row> Matrix =
    [
        new("baseline: everything tested and passed", Baseline, 0, AllPassed, "rootfs-readonly", "PASS"),
        new("a skipped item (no cosign)", () => Replace(Baseline(), Item("images-signed", ChecklistStatus.Skipped)),
            3, "NOT QUALIFIED: 1 items untested (images-signed)", "images-signed", "SKIPPED"),
        new("an unpinned image with requireDigest off", () => Replace(Baseline(),
                Checklist.Build([], [], Inputs with { UnpinnedImages = ["op:dev"], RequireDigest = false }).Single(i => i.Id == "images-pinned")),
            3, "NOT QUALIFIED: 1 items untested (images-pinned)", "images-pinned", "SKIPPED"),
        new("egress approximated (docker vehicle)", () => Replace(Baseline(), Checklist.Build(
                [Classify("egress.sink.tcp", new() { Id = "egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.TimedOut, Data = new Dictionary<string, string> { ["stage"] = "connect" } },
                    new() { Id = "control.egress.sink.tcp", Kind = StepKinds.Tcp, Outcome = StepOutcomes.Succeeded })],
                [], Inputs with
                {
                    Approximations = ImmutableDictionary<string, string>.Empty.Add("egress-default-deny", "NetworkPolicy from the manifests"),
                    EgressPolicy = ClosedPolicies,
                })
                .Single(i => i.Id == "egress-default-deny")) with { Approximation = "docker vehicle, no cluster" },
            3, "LOCAL APPROXIMATION (docker vehicle, no cluster), not a cluster verdict: NOT QUALIFIED: 1 items untested (egress-default-deny)", "egress-default-deny", "APPROXIMATED"),
        // Issue #21: the probes to an in-cluster (or private-network) sink are denied, and a rule in force opens the internet.
        new("egress probes denied, 0.0.0.0/0 except the cluster's ranges in force", () => EgressOpenedBy(Harness.Tests.NetworkPolicies.EgressReachTests.AllButTheCluster),
            1, "NOT QUALIFIED: EgressDenied, egress-default-deny failed", "egress-default-deny", "FAIL"),
        new("egress probes denied, 0.0.0.0/0 except the private ranges in force", () => EgressOpenedBy(Harness.Tests.NetworkPolicies.EgressReachTests.AllButPrivate),
            1, "NOT QUALIFIED: EgressDenied, egress-default-deny failed", "egress-default-deny", "FAIL"),
        new("a failed control", () => Replace(Baseline(), Checklist.Build(
                [Classify("fs.root", new() { Id = "fs.root", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Failed, Errno = "EROFS" },
                    new() { Id = "control.fs.writable", Kind = StepKinds.FileWrite, Outcome = StepOutcomes.Failed, Errno = "EROFS", Detail = "no emptyDir at /tmp" })],
                [], Inputs).Single(i => i.Id == "rootfs-readonly")),
            2, "INCONCLUSIVE: rootfs-readonly could not be proven", "rootfs-readonly", "INCONCLUSIVE"),
        new("an inconclusive probe", () => Replace(Baseline(), Checklist.Build(
                [Classify("kernel.setuid", new() { Id = "kernel.setuid", Kind = StepKinds.Kernel, Outcome = StepOutcomes.Error, Detail = "kernel helper missing" },
                    new() { Id = "control.kernel.setuid-self", Kind = StepKinds.Kernel, Outcome = StepOutcomes.Succeeded })],
                [], Inputs).Single(i => i.Id == "no-privilege-escalation")),
            2, "INCONCLUSIVE: no-privilege-escalation could not be proven", "no-privilege-escalation", "INCONCLUSIVE"),
        new("an untested mission check (no API server)", () => Baseline() with
            {
                Mission = [.. Baseline().Mission.Select(m => m.Check == HardeningCheck.SecretsNotReadable ? CheckOutcome.Of(m.Check, []) : m)],
            },
            3, "NOT QUALIFIED: 1 items untested (SecretsNotReadable)", "SecretsNotReadable", "UNTESTED"),
        new("a waived skipped item", () => Replace(Baseline(), Item("images-signed", ChecklistStatus.Skipped)) with { Waived = ["images-signed"] },
            0, "QUALIFIED WITH WAIVERS: every other item was tested and passed; waived: images-signed", "images-signed", "SKIPPED (WAIVED)"),
        new("a waived failure stays a failure", () => Replace(Baseline(), Item("seccomp", ChecklistStatus.Failed)) with { Waived = ["seccomp"] },
            1, "NOT QUALIFIED: seccomp failed", "seccomp", "FAIL"),
    ];

    [Theory]
    [MemberData(nameof(Rows))]
    public void EveryFormat_SaysExactlyWhatWasProven(string name)
    {
        var row = Matrix.Single(r => r.Name == name);
        var report = row.Report();

        // The outcome
        report.ExitCode.Should().Be(row.Exit, name);
        report.Verdict.Should().Be(row.Banner, name);
        if (row.Exit != 0 || report.Waived.Length > 0)
        {
            report.Verdict.Should().NotContain("every item was tested and passed");
        }

        // Markdown
        var markdown = ReportWriters.Markdown(report);
        markdown.Should().Contain($"**{row.Banner}** (exit code {row.Exit})");
        markdown.Should().Contain(report.Checklist.Any(i => i.Id == row.Item)
            ? $"(`{row.Item}`) | {row.Status} |"
            : $"| {row.Item} | {row.Status} |");

        // JSON
        using var json = JsonDocument.Parse(ReportWriters.Json(report));
        json.RootElement.GetProperty("exitCode").GetInt32().Should().Be(row.Exit);
        json.RootElement.GetProperty("verdict").GetString().Should().Be(row.Banner);
        var element = json.RootElement.GetProperty("checklist").EnumerateArray().Concat(json.RootElement.GetProperty("mission").EnumerateArray())
            .Single(e => (e.TryGetProperty("id", out var id) ? id : e.GetProperty("check")).GetString() == row.Item);
        element.GetProperty("statusText").GetString().Should().Be(row.Status);

        // JUnit: a pass only for PASS; failures, errors and skips otherwise
        var testcase = XDocument.Parse(ReportWriters.JUnit(report)).Descendants("testcase").Single(c => (string?)c.Attribute("name") == row.Item);
        var expected = row.Status switch
        {
            "PASS" => null,
            "FAIL" => "failure",
            "INCONCLUSIVE" => "error",
            _ => "skipped",
        };
        testcase.Elements().Select(e => e.Name.LocalName).Where(n => n != "system-out").Should().Equal(expected is null ? [] : [expected]);
        if (expected == "skipped")
        {
            ((string?)testcase.Element("skipped")!.Attribute("message")).Should().StartWith(row.Status + ":");
        }

        // HTML
        var html = ReportWriters.Html(report);
        html.Should().Contain($"id=\"verdict\">{System.Net.WebUtility.HtmlEncode(row.Banner)}</div>");
        html.Should().Contain($">{row.Status}</span>");
    }
}
