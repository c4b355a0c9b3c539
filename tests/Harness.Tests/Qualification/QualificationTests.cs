using Harness.Vehicles;
using System.Collections.Immutable;
using System.Text.Json;
using System.Xml.Linq;
using Harness.Probes;
using Harness.Qualification;
using Harness.Tests.Docker;
using Harness.Verdicts;

namespace Harness.Tests.Qualification;

/// <summary>Real qualifications of the sample operator through the docker vehicle, run once and shared.</summary>
public sealed class QualifyFixture(DockerFixture docker) : IAsyncLifetime
{
    public QualificationReport? Hardened { get; private set; }

    public QualificationReport? Weak { get; private set; }

    public DockerFixture Docker => docker;

    public async ValueTask InitializeAsync()
    {
        if (docker.Unavailable is not null)
        {
            return;
        }
        var ct = TestContext.Current.CancellationToken;
        QualifyRequest Request(string variant) => new()
        {
            Scenario = new QualificationScenario { Path = "test", Name = variant, Deployment = "greeter-operator", Manifests = [RepoPaths.File($"fixtures/sample-operator/{variant}")], Vehicle = VehicleKind.Docker },
        };
        Hardened = await Qualifier.RunAsync(Request("hardened"), TextWriter.Null, ct);
        Weak = await Qualifier.RunAsync(Request("weak"), TextWriter.Null, ct);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class QualificationTests(QualifyFixture q) : IClassFixture<QualifyFixture>
{
    private static readonly ImmutableArray<string> ChecklistIds =
    [
        "namespace-psa", "rootfs-readonly", "capabilities-dropped", "no-privilege-escalation", "seccomp", "non-root",
        "egress-default-deny", "serviceaccount-least-privilege", "serviceaccount-token", "images-pinned", "images-signed", "webhook-ca-patch", "api-quarantine", "payload-separation", "webhook-tls", "rights-declared",
    ];

    private static Task<(int Exit, string Out, string Err)> Cli(params string[] args) => CliRunner.RunAsync(args);

    [Fact]
    public void Docker_HardenedSample_PassesAllButTheUnpinnedLocalImage_AndSaysWhatItCouldNotTest()
    {
        q.Docker.Require();
        var report = q.Hardened!;

        report.Checklist.Select(i => i.Id).Should().Equal(ChecklistIds);
        report.Checklist.Where(i => i.Status == ChecklistStatus.Failed).Select(i => i.Id).Should().Equal("images-pinned");
        report.Checklist.Where(i => i.Status == ChecklistStatus.Skipped).Select(i => i.Id).Should().BeEquivalentTo(["serviceaccount-least-privilege", "serviceaccount-token", "images-signed", "webhook-ca-patch", "api-quarantine", "payload-separation", "webhook-tls", "rights-declared"]);
        report.Checklist.Single(i => i.Id == "payload-separation").Evidence.Should().Contain(e => e.Contains("no manifest grant lets the operator create workloads outside its namespace", StringComparison.Ordinal),
            "untested without a cluster, and the report says what the manifests did show");
        report.Checklist.Single(i => i.Id == "egress-default-deny").Status.Should().Be(ChecklistStatus.Approximated, "NetworkPolicy was read from the manifests, not enforced");
        report.Mission.Select(m => (m.Check, m.Status, m.Tested)).Should().Equal(
            (HardeningCheck.EgressDenied, ProbeStatus.Passed, true), (HardeningCheck.RootFilesystemReadOnly, ProbeStatus.Passed, true),
            (HardeningCheck.PrivilegeEscalationDenied, ProbeStatus.Passed, true), (HardeningCheck.SecretsNotReadable, ProbeStatus.Inconclusive, false));
        report.ExitCode.Should().Be(1);
        report.Verdict.Should().Be("LOCAL APPROXIMATION (docker vehicle, no cluster), not a cluster verdict: NOT QUALIFIED: images-pinned failed");
        report.Notes.Should().Contain(n => n.Contains("egress default-deny", StringComparison.Ordinal));
    }

    [Fact]
    public void Docker_WeakSample_FailsEveryItemItCanJudge()
    {
        q.Docker.Require();
        var report = q.Weak!;

        report.Checklist.Where(i => i.Status == ChecklistStatus.Failed).Select(i => i.Id).Should().BeEquivalentTo(
            ["namespace-psa", "rootfs-readonly", "capabilities-dropped", "no-privilege-escalation", "seccomp", "non-root", "egress-default-deny", "serviceaccount-token", "images-pinned", "webhook-ca-patch", "api-quarantine", "payload-separation"]);
        report.Checklist.Single(i => i.Id == "payload-separation").Evidence.Should().Contain(e => e.Contains("RBAC-PODS-ELSEWHERE", StringComparison.Ordinal),
            "the weak RBAC lets the operator put pods in any namespace, whatever Pod Security it enforces");
        report.Checklist.Single(i => i.Id == "serviceaccount-token").Evidence.Should().Contain(e => e.Contains("SA-LEGACY-TOKEN", StringComparison.Ordinal),
            "the weak manifests carry a legacy token Secret: failed without a cluster");
        report.Checklist.Single(i => i.Id == "api-quarantine").Evidence.Should().Contain(e => e.Contains("RBAC-KUBE-SYSTEM", StringComparison.Ordinal) && e.Contains("rbac.yaml", StringComparison.Ordinal),
            "without a cluster the manifests' RBAC already breaks the quarantine, with the file it is in");
        report.Checklist.Single(i => i.Id == "webhook-ca-patch").Evidence.Should().Contain(e => e.Contains("mutating webhook configurations", StringComparison.Ordinal));
        report.Mission.Where(m => m.Tested).Should().HaveCount(3).And.OnlyContain(m => m.Status == ProbeStatus.Failed);
        report.Mission.Single(m => !m.Tested).Check.Should().Be(HardeningCheck.SecretsNotReadable, "it needs an API server, and the report says so instead of dropping it");
    }

    public static TheoryData<string> ShippedShapes => ["kustomize", "chart", "bundle"];

    [Theory]
    [MemberData(nameof(ShippedShapes))]
    public async Task Docker_TheSampleAsShipped_QualifiesAsThePlainHardenedManifestsDo(string shape)
    {
        // Issue #25: the kustomize tree, the chart and the OLM bundle of the hardened sample, through the docker vehicle.
        q.Docker.Require();
        var shared = RepoPaths.File("fixtures/sample-operator/shared");
        var scenario = new QualificationScenario
        {
            Path = "test", Name = shape, Deployment = "greeter-operator", Vehicle = VehicleKind.Docker,
            Manifests = shape switch
            {
                "kustomize" => [shared, SampleOperator.SampleLayoutsTests.Kustomized],
                "chart" => [shared, SampleOperator.SampleLayoutsTests.Chart],
                _ => [shared, .. SampleOperator.SampleLayoutsTests.Bundled],
            },
            Helm = SampleOperator.SampleLayoutsTests.ChartOptions,
        };

        var report = await Qualifier.RunAsync(new QualifyRequest { Scenario = scenario }, TextWriter.Null, TestContext.Current.CancellationToken);

        static IEnumerable<(string, ChecklistStatus)> Items(QualificationReport r) => r.Checklist.Select(i => (i.Id, i.Status));
        Items(report).Should().Equal(Items(q.Hardened!));
        report.Mission.Select(m => (m.Check, m.Status, m.Tested)).Should().Equal(q.Hardened!.Mission.Select(m => (m.Check, m.Status, m.Tested)));
        report.Verdict.Should().Be(q.Hardened!.Verdict);
        if (shape == "bundle")
        {
            report.Notes.Should().Contain(n => n.Contains("read as the 4 objects OLM would create from it (deployed without OLM", StringComparison.Ordinal), "the report says the bundle was expanded, not installed by OLM");
        }
    }

    [Fact]
    public void Writers_RecordedWeakReport_AgreeAcrossFormats()
    {
        q.Docker.Require();
        var report = q.Weak!;

        var markdown = ReportWriters.Markdown(report);
        markdown.Should().StartWith("# Qualification of Deployment/greeter-operator in greeter-weak").And.Contain("| Read-only root filesystem, with an explicit writable emptyDir (`rootfs-readonly`) | FAIL |");

        using var json = JsonDocument.Parse(ReportWriters.Json(report));
        json.RootElement.GetProperty("exitCode").GetInt32().Should().Be(1);
        json.RootElement.GetProperty("checklist").EnumerateArray().Select(i => i.GetProperty("id").GetString()).Should().Equal(ChecklistIds);
        var fsRoot = json.RootElement.GetProperty("probes").EnumerateArray().Single(p => p.GetProperty("id").GetString() == "fs.root");
        fsRoot.GetProperty("status").GetString().Should().Be("Failed");
        fsRoot.GetProperty("control").GetProperty("succeeded").GetBoolean().Should().BeTrue();
        fsRoot.GetProperty("observed").GetString().Should().StartWith("the probe process itself", "every verdict names what it observed");
        fsRoot.GetProperty("data").GetProperty("file").GetString().Should().StartWith("/.harness-probe-");

        var junit = XDocument.Parse(ReportWriters.JUnit(report));
        junit.Declaration!.Encoding.Should().Be("utf-8", "the file is UTF-8: a reader trusting the declaration must not be told otherwise");
        var checklist = junit.Root!.Elements("testsuite").Single(s => (string?)s.Attribute("name") == "checklist");
        ((int)checklist.Attribute("tests")!).Should().Be(16);
        ((int)checklist.Attribute("failures")!).Should().Be(12, "the weak sample fails twelve items: api-quarantine and payload-separation from its RBAC, serviceaccount-token from its legacy token Secret");
        checklist.Elements("testcase").Single(c => (string?)c.Attribute("name") == "rootfs-readonly").Element("failure")!.Value.Should().Contain("fs.root: Failed");
    }

    [Fact]
    public void Writers_Timings_AppearInEveryFormat()
    {
        var report = new QualificationReport(
            new QualificationContext("Deployment demo/op", "Existing staging", "twin-pod", "test"),
            DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(10.5),
            [new ChecklistItem("rootfs-readonly", "Read-only root filesystem", ChecklistStatus.Passed, ["fs.root: Passed"], [], 12)],
            [], [], [], [Harness.Clusters.EgressVantage.InClusterCaveat("10.244.0.9", "harness-sink-1")])
        {
            Timings = [new(Harness.Runs.RunPhase.Cluster, TimeSpan.FromSeconds(1.25)), new(Harness.Runs.RunPhase.Deploy, TimeSpan.FromSeconds(4.5)), new(Harness.Runs.RunPhase.Probes, TimeSpan.FromSeconds(3.125))],
        };

        ReportWriters.Markdown(report).Should().Contain("## Timings").And.Contain("| Deploy | 4.50 |").And.Contain("do not prove that traffic leaving the cluster is blocked");
        using var json = JsonDocument.Parse(ReportWriters.Json(report));
        json.RootElement.GetProperty("timings").EnumerateArray().Select(t => $"{t.GetProperty("phase").GetString()}={t.GetProperty("seconds").GetDouble()}")
            .Should().Equal("Cluster=1.25", "Deploy=4.5", "Probes=3.125");
        var junit = XDocument.Parse(ReportWriters.JUnit(report));
        junit.Descendants("property").Should().Contain(p => (string?)p.Attribute("name") == "timing.Probes" && (string?)p.Attribute("value") == "3.125");
        ReportWriters.Html(report).Should().Contain("<tr class=\"timing\"><td>Cluster</td><td>1.25</td></tr>");
        report.ToString().Should().Contain("Timings = [Cluster 1.25 s, Deploy 4.50 s, Probes 3.13 s]").And.NotContain("System.Collections");
    }

    [Fact]
    public void Writers_RedactSecretsInEveryFormat_AndInconclusiveIsAnErrorWithExitCode2()
    {
        const string Token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        var report = new QualificationReport(
            new QualificationContext("Deployment demo/op", "kind harness-1", "twin-pod", "test"),
            DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3),
            [
                new ChecklistItem("rootfs-readonly", "Read-only root filesystem", ChecklistStatus.Passed, ["fs.root: Passed"], ["fs.root: the agent can create files in /tmp (held)"], 12),
                new ChecklistItem("serviceaccount-least-privilege", "ServiceAccount least privilege", ChecklistStatus.Inconclusive, [$"api.secrets.namespace: Inconclusive - Bearer {Token} was refused with a timeout"], [], 3000),
            ],
            [new CheckOutcome(HardeningCheck.SecretsNotReadable, ProbeStatus.Inconclusive, [$"token {Token}"])],
            [], [], [$"note with {Token}"]);

        report.ExitCode.Should().Be(2);
        report.Verdict.Should().Be("INCONCLUSIVE: SecretsNotReadable, serviceaccount-least-privilege could not be proven");
        foreach (var text in new[] { ReportWriters.Markdown(report), ReportWriters.Json(report), ReportWriters.JUnit(report), ReportWriters.Html(report) })
        {
            text.Should().NotContain(Token).And.Contain("[REDACTED]");
        }
        var junit = XDocument.Parse(ReportWriters.JUnit(report));
        junit.Descendants("testcase").Single(c => (string?)c.Attribute("name") == "serviceaccount-least-privilege").Element("error").Should().NotBeNull();
        ReportWriters.Html(report).Should().NotContainAny(["<link", "src=\"http", "href=\"http", "@import"], "the page is self-contained");
    }

    [Fact]
    public async Task Html_RecordedReport_RendersInHeadlessChromium()
    {
        q.Docker.Require();
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(chromium is null && Environment.GetEnvironmentVariable("HARNESS_REQUIRE_BROWSER") != "1", "Chromium is not installed (apt-get install chromium)");
        chromium.Should().NotBeNull("HARNESS_REQUIRE_BROWSER=1");
        var dir = Directory.CreateTempSubdirectory("harness-html-");
        try
        {
            var paths = await ReportWriters.WriteAllAsync(q.Weak!, dir.FullName, ct: TestContext.Current.CancellationToken);
            var html = paths.Single(p => p.EndsWith(".html", StringComparison.Ordinal));
            var png = Path.Combine(dir.FullName, "report.png");

            var dom = await Run(chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", $"file://{html}");
            await Run(chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600", $"--screenshot={png}", $"file://{html}");

            dom.Should().Contain("<title>rendered: 16 items, 4 checks</title>", "the page's script ran over the rendered table");
            var bytes = await File.ReadAllBytesAsync(png, TestContext.Current.CancellationToken);
            bytes.AsSpan(1, 3).ToArray().Should().Equal("PNG"u8.ToArray());
            var width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4));
            var height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4));
            (width, height).Should().Be((1280, 1600));
            bytes.Length.Should().BeGreaterThan(50_000, "a page with tables and coloured badges, not a blank screen");
            TestContext.Current.AddAttachment("qualification.png", bytes, "image/png");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<string> Run(string file, params string[] args)
    {
        var result = await Harness.Processes.ProcessRunner.RunAsync(file, args, TimeSpan.FromSeconds(90), ct: TestContext.Current.CancellationToken);
        result.ExitCode.Should().Be(0, result.Stderr);
        return result.Stdout;
    }

    [Fact]
    public async Task Cli_DockerScenario_WritesFourReportsAndNamesWhatItDidNotTest()
    {
        q.Docker.Require();
        var dir = Directory.CreateTempSubdirectory("harness-qualify-");
        try
        {
            var (exit, output, error) = await Cli("qualify", "--scenario", RepoPaths.File("fixtures/scenarios/greeter-docker.yaml"), "--output", dir.FullName);

            exit.Should().Be(3, output + error);
            output.Should().Contain("22 probes in").And.Contain("  PASS         fs.root").And.NotContain("every check passed")
                .And.EndWith("LOCAL APPROXIMATION (docker vehicle, no cluster), not a cluster verdict: NOT QUALIFIED: 11 items untested (SecretsNotReadable, egress-default-deny, serviceaccount-least-privilege, serviceaccount-token, images-pinned, images-signed, webhook-ca-patch, api-quarantine, payload-separation, webhook-tls, rights-declared)" + Environment.NewLine);
            Directory.GetFiles(dir.FullName).Select(Path.GetFileName).Should().BeEquivalentTo(ReportWriters.FileNames);
            (await File.ReadAllTextAsync(Path.Combine(dir.FullName, "qualification.md"), TestContext.Current.CancellationToken))
                .Should().Contain("| Images pinned by digest (`images-pinned`) | SKIPPED |").And.Contain("not required here (imagePolicy.requireDigest: false)");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Cli_DockerScenarioWithWaivers_QualifiesAndNamesEveryWaiver()
    {
        q.Docker.Require();
        var dir = Directory.CreateTempSubdirectory("harness-qualify-");
        try
        {
            var (exit, output, error) = await Cli("qualify", "--scenario", RepoPaths.File("fixtures/scenarios/greeter-docker.yaml"), "--output", dir.FullName,
                "--waive", "SecretsNotReadable,egress-default-deny,serviceaccount-least-privilege,serviceaccount-token,images-pinned,images-signed,webhook-ca-patch,api-quarantine,payload-separation,webhook-tls,rights-declared");

            exit.Should().Be(0, output + error);
            output.Should().EndWith("not a cluster verdict: QUALIFIED WITH WAIVERS: every other item was tested and passed; waived: SecretsNotReadable, egress-default-deny, serviceaccount-least-privilege, serviceaccount-token, images-pinned, images-signed, webhook-ca-patch, api-quarantine, payload-separation, webhook-tls, rights-declared" + Environment.NewLine);
            (await File.ReadAllTextAsync(Path.Combine(dir.FullName, "qualification.md"), TestContext.Current.CancellationToken)).Should().Contain("| APPROXIMATED (WAIVED) |");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Cli_WeakSampleByFlags_ExitsOne()
    {
        q.Docker.Require();
        var dir = Directory.CreateTempSubdirectory("harness-qualify-");
        try
        {
            var (exit, output, _) = await Cli("qualify", "--vehicle", "docker", "--manifests", RepoPaths.File("fixtures/sample-operator/weak"), "--deployment", "greeter-operator", "--output", dir.FullName);

            exit.Should().Be(1);
            output.Should().Contain("  FAIL         fs.root").And.Contain("NOT QUALIFIED: EgressDenied, RootFilesystemReadOnly, PrivilegeEscalationDenied, namespace-psa, rootfs-readonly");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(new[] { "qualify", "--kubeconfig", "/nonexistent/kubeconfig", "--deployment", "op", "--probe-image", "reg/probe@sha256:1" }, "harness: kubeconfig: no file at /nonexistent/kubeconfig.")]
    [InlineData(new[] { "qualify", "--kubeconfig", "/nonexistent/kubeconfig", "--deployment", "op" }, "harness: probe image: an existing cluster cannot see images on this machine.")]
    [InlineData(new[] { "qualify", "--vehicle", "docker", "--manifests", "/nonexistent", "--deployment", "op" }, "harness: /nonexistent: no such file or folder.")]
    [InlineData(new[] { "qualify", "--vehicle", "docker", "--manifests", "fixtures/sample-operator/hardened", "--deployment", "nope" }, "harness: no workload named \"nope\"")]
    [InlineData(new[] { "qualify", "--namespace", "x" }, "harness: qualify needs the operator: --deployment NAME or --selector LABELS")]
    [InlineData(new[] { "qualify", "--deployment", "op", "--vehicle", "sidecar" }, "harness: --vehicle must be twin-pod, ephemeral-container, direct-exec or docker, got 'sidecar'")]
    [InlineData(new[] { "qualify", "--deployment", "op", "--cluster", "minikube" }, "harness: --cluster must be kind, got 'minikube'")]
    [InlineData(new[] { "qualify", "--scenario", "/nonexistent.yaml" }, "harness: /nonexistent.yaml: no such scenario file.")]
    public async Task Cli_NoClusterOrBadInput_ExitsTwoWithThePreciseReason(string[] args, string message)
    {
        var fixedArgs = args.Select(a => a.StartsWith("fixtures/", StringComparison.Ordinal) ? RepoPaths.File(a) : a).ToArray();

        var (exit, _, error) = await Cli(fixedArgs);

        exit.Should().Be(2);
        error.Should().StartWith(message);
    }

    [Fact]
    public async Task Cli_QualifyHelp_DocumentsEveryOptionAndExitsZero()
    {
        var (exit, output, error) = await Cli("qualify", "--help");

        exit.Should().Be(0, error);
        output.Should().Contain("--kubeconfig <PATH>").And.Contain("--vehicle <twin-pod|ephemeral-container|direct-exec|docker>").And.Contain("--waive")
            .And.Contain("Exit 0 every item tested and passed");
    }

    [Fact]
    public async Task Cli_Version_AndCompletions_AnswerFromTheCommandTree()
    {
        var (exit, output, _) = await Cli("--version");
        exit.Should().Be(0);
        output.Should().StartWith(Qualifier.Version);

        (_, output, _) = await Cli("[suggest:3]", "qua");
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Should().Equal("qualify");
        (_, output, _) = await Cli("[suggest:22]", "preflight . --format s");
        output.Should().Contain("sarif");
        (exit, output, _) = await Cli("completion", "bash");
        exit.Should().Be(0);
        output.Should().Contain("complete -o default -F _harness_complete harness").And.Contain("[suggest:");
    }

    [Fact]
    public async Task Cli_NoArguments_PrintsTheCommandsAndExitsTwo()
    {
        var (exit, output, _) = await Cli();

        exit.Should().Be(2);
        output.Should().Contain("preflight").And.Contain("qualify").And.Contain("kind-config").And.Contain("build-image").And.Contain("bench");
    }
}
