using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;
using Harness.ServiceAccounts;

namespace Harness.Tests.ServiceAccounts;

public sealed class TokenExposureAnalyzerTests
{
    private static IReadOnlyList<Finding> Analyze(string yaml)
    {
        var documents = ManifestLoader.LoadText(yaml, "sa.yaml");
        return TokenExposureAnalyzer.Analyze(documents, RbacModel.From(documents, "demo"), "demo");
    }

    private const string Granted = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: op, namespace: demo}
        rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: op, namespace: demo}
        subjects: [{kind: ServiceAccount, name: op, namespace: demo}]
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: op}
        ---

        """;

    private static string Pod(string volumes = "[]", string extra = "", string account = "op") => $$"""
        apiVersion: v1
        kind: Pod
        metadata: {name: p, namespace: demo}
        spec:
          serviceAccountName: {{account}}
        {{extra}}  containers: [{name: c, image: i}]
          volumes: {{volumes}}
        """;

    [Fact]
    public void LegacyTokenSecret_IsAnError_NamingItsAccount()
    {
        var findings = Analyze(Granted + """
            apiVersion: v1
            kind: Secret
            metadata: {name: op-token, namespace: demo, annotations: {kubernetes.io/service-account.name: op}}
            type: kubernetes.io/service-account-token
            """);

        findings.Should().ContainSingle().Which.Should().Match<Finding>(f => f.Id == TokenExposureAnalyzer.LegacyToken && f.Severity == FindingSeverity.Error
            && f.Subject == "Secret demo/op-token" && f.Message.Contains("for op", StringComparison.Ordinal) && f.Line > 1);
    }

    [Fact]
    public void MountingAnotherAccountsToken_IsAnError_ButItsOwnIsOnlyLegacy()
    {
        var secret = """
            apiVersion: v1
            kind: Secret
            metadata: {name: admin-token, namespace: demo, annotations: {kubernetes.io/service-account.name: admin}}
            type: kubernetes.io/service-account-token
            ---

            """;
        var findings = Analyze(Granted + secret + Pod("[{name: t, secret: {secretName: admin-token}}]"));

        findings.Select(f => f.Id).Should().BeEquivalentTo([TokenExposureAnalyzer.LegacyToken, TokenExposureAnalyzer.ForeignToken]);
        findings.Single(f => f.Id == TokenExposureAnalyzer.ForeignToken).Message.Should().Contain("admin-token of ServiceAccount admin, not its own (op)");
    }

    [Fact]
    public void LongProjectedLifetime_IsAWarning_AndADayIsAccepted()
    {
        Analyze(Granted + Pod("[{name: t, projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 604800}}]}}]"))
            .Should().ContainSingle(f => f.Id == TokenExposureAnalyzer.LongLivedToken).Which.Severity.Should().Be(FindingSeverity.Warning);
        Analyze(Granted + Pod("[{name: t, projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 86400}}]}}]"))
            .Should().BeEmpty();
    }

    [Fact]
    public void TokenForAnAccountGrantedNothing_IsAWarning_UnlessAutomountIsOff()
    {
        Analyze(Pod(account: "idle")).Should().ContainSingle(f => f.Id == TokenExposureAnalyzer.UnusedAutomount)
            .Which.Message.Should().Contain("ServiceAccount idle").And.Contain("automountServiceAccountToken: false");
        Analyze(Pod(account: "idle", extra: "  automountServiceAccountToken: false\n")).Should().BeEmpty();
        Analyze("""
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: idle, namespace: demo}
            automountServiceAccountToken: false
            ---

            """ + Pod(account: "idle")).Should().BeEmpty("the account turns it off");
    }

    [Fact]
    public void Samples_TheWeakHasALegacyToken_TheHardenedNothing()
    {
        PreflightAnalyzer.Run(RepoPaths.File("fixtures/sample-operator/hardened"), new PreflightOptions()).Findings
            .Should().NotContain(f => f.Id.StartsWith("SA-", StringComparison.Ordinal));
        PreflightAnalyzer.Run(RepoPaths.File("fixtures/sample-operator/weak"), new PreflightOptions()).Findings
            .Should().Contain(f => f.Id == TokenExposureAnalyzer.LegacyToken && f.Subject == "Secret greeter-weak/greeter-operator-token");
    }
}
