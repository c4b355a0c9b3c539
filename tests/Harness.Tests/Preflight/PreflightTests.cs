using Harness.Preflight;
using System.Text.Json;

namespace Harness.Tests.Preflight;

public sealed class PreflightTests
{
    private static readonly string Hardened = RepoPaths.File("fixtures/sample-operator/hardened");
    private static readonly string Weak = RepoPaths.File("fixtures/sample-operator/weak");

    private static Task<(int Exit, string Out, string Err)> Cli(params string[] args) => CliRunner.RunAsync(args);

    [Fact]
    public void Run_HardenedSample_PassesWithOnlyTheUnpinnedLocalImageAsWarning()
    {
        var report = PreflightAnalyzer.Run(Hardened, new PreflightOptions());

        report.Passed.Should().BeTrue(PreflightAnalyzer.RenderText(report));
        report.Findings.Select(f => f.Id).Should().Equal("IMAGE-NOT-PINNED");
    }

    [Fact]
    public void Run_WeakSample_FindsEveryWeaknessEachForItsOwnReason()
    {
        var report = PreflightAnalyzer.Run(Weak, new PreflightOptions());
        var byId = report.Findings.ToLookup(f => f.Id);

        report.Passed.Should().BeFalse();
        report.ExitCode.Should().Be(1);
        byId["PSA"].Select(f => f.Message).Should().BeEquivalentTo(
        [
            "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"operator\" must set securityContext.allowPrivilegeEscalation=false)",
            "violates PodSecurity \"restricted:latest\": runAsNonRoot != true (pod or container \"operator\" must set securityContext.runAsNonRoot=true)",
            "violates PodSecurity \"restricted:latest\": runAsUser=0 (pod must not set runAsUser=0)",
            "violates PodSecurity \"restricted:latest\": seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")",
            "violates PodSecurity \"restricted:latest\": unrestricted capabilities (container \"operator\" must set securityContext.capabilities.drop=[\"ALL\"]; container \"operator\" must not include \"NET_ADMIN\", \"SYS_ADMIN\" in securityContext.capabilities.add)",
        ]);
        report.Findings.Where(f => f.Severity == FindingSeverity.Error).Select(f => f.Id).Distinct().Should().BeEquivalentTo(
        [
            "PSA", "NETPOL-EGRESS-OPEN", "RBAC-WILDCARD", "RBAC-SECRETS", "RBAC-ESCALATE", "RBAC-BIND", "RBAC-IMPERSONATE", "RBAC-POD-EXEC",
            "RBAC-PODS-ELSEWHERE", "RBAC-WEBHOOKS", "RBAC-CRDS", "RBAC-NETPOL-ELSEWHERE", "RBAC-NAMESPACES",
            "RBAC-CRDS-CHANGE", "RBAC-KUBE-SYSTEM", "RBAC-SECRETS-WRITE", "SA-LEGACY-TOKEN",
        ]);
        report.Findings.Where(f => f.Severity == FindingSeverity.Warning).Select(f => f.Id).Should().BeEquivalentTo(
            ["IMAGE-NOT-PINNED", "ROOTFS-WRITABLE", "NETPOL-INGRESS-OPEN", "NS-PSA-LABEL"]);
    }

    [Fact]
    public void Run_WeakSampleAtBaseline_KeepsOnlyTheBaselineViolations()
    {
        var report = PreflightAnalyzer.Run(Path.Combine(Weak, "deployment.yaml"), new PreflightOptions { Level = Harness.PodSecurity.PodSecurityLevel.Baseline });

        report.Findings.Where(f => f.Id == "PSA").Select(f => f.Message).Should().BeEquivalentTo(
            "violates PodSecurity \"baseline:latest\": non-default capabilities (container \"operator\" must not include \"NET_ADMIN\", \"SYS_ADMIN\" in securityContext.capabilities.add)",
            "violates PodSecurity \"baseline:latest\": seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")");
    }

    [Fact]
    public async Task Preflight_Cli_ExitsZeroOnTheHardenedSample()
    {
        var (exit, output, _) = await Cli("preflight", Hardened);

        exit.Should().Be(0, output);
        output.Should().Contain("0 errors, 1 warnings: PASS");
    }

    [Fact]
    public async Task Preflight_CliJson_GivesOneObjectPerFileWithPathAllowedAndViolations()
    {
        var (exit, output, _) = await Cli("preflight", Weak, "--format", "json", "--version", "v1.34");

        exit.Should().Be(1);
        using var json = JsonDocument.Parse(output);
        var files = json.RootElement.EnumerateArray().ToList();
        files.Select(f => Path.GetFileName(f.GetProperty("path").GetString())).Should().Equal("deployment.yaml", "namespace.yaml", "rbac.yaml");
        var deployment = files[0];
        deployment.GetProperty("allowed").GetBoolean().Should().BeFalse();
        deployment.GetProperty("version").GetString().Should().Be("v1.34");
        deployment.GetProperty("violations").EnumerateArray().Select(v => v.GetProperty("message").GetString())
            .Should().Contain(m => m!.StartsWith("violates PodSecurity \"restricted:v1.34\": runAsUser=0", StringComparison.Ordinal));
        files[1].GetProperty("allowed").GetBoolean().Should().BeTrue("a namespace label is a warning");
        files[1].GetProperty("warnings").GetArrayLength().Should().Be(1);
    }

    [Theory]
    [InlineData(new[] { "preflight" }, "Required argument 'PATH' missing for command: 'preflight'")]
    [InlineData(new[] { "preflight", "x", "y" }, "Unrecognized command or argument 'y'")]
    [InlineData(new[] { "preflight", ".", "--level", "strict" }, "--level must be baseline or restricted")]
    [InlineData(new[] { "preflight", ".", "--version", "2.0" }, "--version must be latest or v1.MINOR")]
    [InlineData(new[] { "preflight", ".", "--format", "xml" }, "--format must be text, json or sarif, got 'xml'")]
    [InlineData(new[] { "preflight", ".", "--levle", "baseline" }, "'--levle' was not matched. Did you mean one of the following?\n--level")]
    [InlineData(new[] { "preflight", "/nonexistent.yaml" }, "/nonexistent.yaml: no such file or folder")]
    public async Task Preflight_BadInput_ExitsTwoAndSaysWhy(string[] args, string message)
    {
        var (exit, output, error) = await Cli(args);

        exit.Should().Be(2);
        output.Should().BeEmpty();
        error.ReplaceLineEndings("\n").Should().StartWith("harness: ").And.Contain(message);
    }

    [Fact]
    public async Task Preflight_Sarif_HasARulePerCheckAndAResultAtEachFileAndLine()
    {
        var (exit, output, _) = await Cli("preflight", Weak, "--format", "sarif");

        exit.Should().Be(1, "the weak sample violates");
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        root.GetProperty("version").GetString().Should().Be("2.1.0");
        root.GetProperty("$schema").GetString().Should().Contain("sarif-2.1.0");
        var run = root.GetProperty("runs").EnumerateArray().Single();
        var rules = run.GetProperty("tool").GetProperty("driver").GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("id").GetString()).ToList();
        var results = run.GetProperty("results").EnumerateArray().ToList();
        var report = PreflightAnalyzer.Run(Weak, new PreflightOptions());

        rules.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(report.Findings.Select(f => f.Id).Distinct());
        results.Should().HaveCount(report.Findings.Length);
        foreach (var (result, finding) in results.Zip(report.Findings))
        {
            result.GetProperty("ruleId").GetString().Should().Be(finding.Id);
            rules[result.GetProperty("ruleIndex").GetInt32()].Should().Be(finding.Id);
            result.GetProperty("level").GetString().Should().Be(finding.Severity == FindingSeverity.Error ? "error" : "warning");
            var location = result.GetProperty("locations")[0].GetProperty("physicalLocation");
            var uri = location.GetProperty("artifactLocation").GetProperty("uri").GetString()!;
            Path.GetFileName(Uri.UnescapeDataString(uri)).Should().Be(Path.GetFileName(finding.Path));
            location.GetProperty("region").GetProperty("startLine").GetInt32().Should().Be(finding.Line);
            location.GetProperty("region").GetProperty("startColumn").GetInt32().Should().Be(1);
            result.GetProperty("partialFingerprints").GetProperty("harnessFinding/v1").GetString().Should().HaveLength(32);
        }
    }

    [Fact]
    public void Sarif_Fingerprint_IsTheRuleObjectAndLocation_NotTheWording()
    {
        // Issue #37 item 5: fingerprints held the message, so code scanning closed and reopened alerts whose wording moved.
        var finding = new Finding("WEBHOOK-CABUNDLE-MISSING", FindingSeverity.Error, "ValidatingWebhookConfiguration x", "clientConfig.caBundle is empty (a, b)", "config/webhook/manifests.yaml", 12);

        Sarif.Fingerprint(finding with { Message = "clientConfig.caBundle is empty (b, a)" }).Should().Be(Sarif.Fingerprint(finding));
        Sarif.Fingerprint(finding with { Line = 40 }).Should().NotBe(Sarif.Fingerprint(finding), "another rule of the same object is another finding");
        Sarif.Fingerprint(finding with { Subject = "ValidatingWebhookConfiguration y" }).Should().NotBe(Sarif.Fingerprint(finding));
    }

    [Fact]
    public void CaBundleMissing_NamesTheInjectionAnnotationsInOneOrder_AndNotTheHarnesssOwn()
    {
        var docs = Harness.Manifests.ManifestLoader.LoadText("""
            apiVersion: admissionregistration.k8s.io/v1
            kind: ValidatingWebhookConfiguration
            metadata: {name: v}
            webhooks:
              - name: v.example.com
                admissionReviewVersions: [v1]
                sideEffects: None
                clientConfig: {service: {name: s, namespace: n, path: /v}}
            """, "webhook.yaml");

        var message = Harness.Webhooks.WebhookAnalyzer.Analyze(docs).Single(f => f.Id == "WEBHOOK-CABUNDLE-MISSING").Message;

        message.Should().Contain("(cert-manager.io/inject-ca-from, cert-manager.io/inject-ca-from-secret, service.beta.openshift.io/inject-cabundle)")
            .And.NotContain("harness.dev");
    }

    [Fact]
    public void Sarif_PathsUnderTheRootAreRelativeToSrcRoot()
    {
        var report = PreflightAnalyzer.Run(Weak, new PreflightOptions());
        using var json = JsonDocument.Parse(Sarif.Render(report, "9.9.9", RepoPaths.Root));
        var run = json.RootElement.GetProperty("runs")[0];
        var artifact = run.GetProperty("results")[0].GetProperty("locations")[0].GetProperty("physicalLocation").GetProperty("artifactLocation");

        artifact.GetProperty("uri").GetString().Should().StartWith("fixtures/sample-operator/weak/");
        artifact.GetProperty("uriBaseId").GetString().Should().Be("%SRCROOT%");
        run.GetProperty("originalUriBaseIds").GetProperty("%SRCROOT%").GetProperty("uri").GetString().Should().StartWith("file:///").And.EndWith("/");
        run.GetProperty("tool").GetProperty("driver").GetProperty("version").GetString().Should().Be("9.9.9");
    }

    [Fact]
    public async Task Preflight_MalformedManifest_ExitsTwoNamingFileAndLine()
    {
        var dir = Directory.CreateTempSubdirectory("harness-preflight-");
        try
        {
            var file = Path.Combine(dir.FullName, "broken.yaml");
            await File.WriteAllTextAsync(file, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n spec: {}\n", TestContext.Current.CancellationToken);

            var (exit, _, error) = await Cli("preflight", dir.FullName);

            exit.Should().Be(2);
            error.Should().MatchRegex($@"^harness: {System.Text.RegularExpressions.Regex.Escape(file)}:5:\d+: ");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
