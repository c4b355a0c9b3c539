using Harness.Manifests;
using Harness.Preflight;
using Harness.Webhooks;

namespace Harness.Tests.Webhooks;

public sealed class WebhookAnalyzerTests
{
    private const string Backend = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: op, namespace: ops}
        spec:
          selector: {matchLabels: {app: op}}
          template:
            metadata: {labels: {app: op}}
            spec: {containers: [{name: c, image: i}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: op-webhook, namespace: ops}
        spec:
          selector: {app: op}
          ports: [{port: 443, targetPort: 9443}]
        ---

        """;

    private static string Webhook(string clientConfig, string annotations = "{}", string kind = "ValidatingWebhookConfiguration") => $$"""
        apiVersion: admissionregistration.k8s.io/v1
        kind: {{kind}}
        metadata: {name: op, annotations: {{annotations}}}
        webhooks:
          - name: validate.op.dev
            admissionReviewVersions: [v1]
            sideEffects: None
            clientConfig: {{clientConfig}}
        """;

    private static IReadOnlyList<Finding> Analyze(string yaml) => WebhookAnalyzer.Analyze(ManifestLoader.LoadText(yaml, "webhooks.yaml"), "ops");

    [Fact]
    public void AWebhookWithItsServicePortBackendAndInjectedCa_HasNoFinding() =>
        Analyze(Backend + Webhook("{service: {name: op-webhook, namespace: ops, path: /validate}}", "{cert-manager.io/inject-ca-from: ops/op-cert}")).Should().BeEmpty();

    [Fact]
    public void NoCaBundleAndNoInjector_IsAnError_NamingTheControllersItKnows()
    {
        var finding = Analyze(Backend + Webhook("{service: {name: op-webhook, namespace: ops}}")).Should().ContainSingle().Subject;

        finding.Should().Match<Finding>(f => f.Id == WebhookAnalyzer.CaBundleMissing && f.Severity == FindingSeverity.Error && f.Subject == "ValidatingWebhookConfiguration op webhook validate.op.dev");
        finding.Message.Should().Contain("cert-manager.io/inject-ca-from");
    }

    [Fact]
    public void AServiceOrPortNotInTheManifests_IsAnError()
    {
        Analyze(Webhook("{service: {name: gone, namespace: ops}, caBundle: Y2E=}", kind: "MutatingWebhookConfiguration"))
            .Should().ContainSingle(f => f.Id == WebhookAnalyzer.ServiceMissing).Which.Message.Should().Contain("Service ops/gone");
        Analyze(Backend + Webhook("{service: {name: op-webhook, namespace: ops, port: 8443}, caBundle: Y2E=}"))
            .Should().ContainSingle(f => f.Id == WebhookAnalyzer.PortMissing).Which.Message.Should().Contain("port 8443").And.Contain("which has 443");
    }

    [Fact]
    public void AServiceSelectingNothing_AndAUrlWebhook_AreWarnings()
    {
        var unbacked = Backend.Replace("selector: {app: op}", "selector: {app: other}", StringComparison.Ordinal);
        Analyze(unbacked + Webhook("{service: {name: op-webhook, namespace: ops}, caBundle: Y2E=}"))
            .Should().ContainSingle().Which.Should().Match<Finding>(f => f.Id == WebhookAnalyzer.NoBackend && f.Severity == FindingSeverity.Warning);
        Analyze(Webhook("{url: 'https://hooks.example/validate', caBundle: Y2E=}"))
            .Should().ContainSingle().Which.Id.Should().Be(WebhookAnalyzer.UrlClient);
    }

    [Fact]
    public void Preflight_ReportsWebhookFindingsWithTheirFileAndLine()
    {
        var report = PreflightAnalyzer.Analyze(ManifestLoader.LoadText(Backend + Webhook("{service: {name: op-webhook, namespace: ops}}"), "webhooks.yaml"), new PreflightOptions { DefaultNamespace = "ops" });

        report.Findings.Should().Contain(f => f.Id == WebhookAnalyzer.CaBundleMissing && f.Path == "webhooks.yaml" && f.Line > 1);
        report.Passed.Should().BeFalse();
    }
}
