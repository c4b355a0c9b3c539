using Harness.Deployment;
using Harness.Qualification;
using Harness.Xunit;

namespace Harness.Scenarios;

/// <summary>
/// Issue #36: the shapes of real operators' install files that ended runs on a real cluster, each reproduced on the
/// live cluster with the hardened sample changed in that one way. Every one reaches a verdict (or, for an operator that
/// cannot start, says so at once); none ends in an abort.
/// </summary>
public sealed class RealOperatorShapes(HarnessClusterFixture live, ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("harness-shapes-");

    public void Dispose() => dir.Delete(recursive: true);

    /// <summary>The hardened sample with its Deployment changed by <paramref name="change"/>, and <paramref name="extra"/> documents first.</summary>
    private QualificationScenario Scenario(Func<string, string> change, string extra = "")
    {
        var manifests = Directory.CreateDirectory(Path.Combine(dir.FullName, "manifests"));
        foreach (var file in new[] { "shared/crd.yaml", "shared/greeting.yaml", "hardened/namespace.yaml", "hardened/rbac.yaml", "hardened/networkpolicy.yaml" })
        {
            File.Copy(SampleOperator.RepoPath($"fixtures/sample-operator/{file}"), Path.Combine(manifests.FullName, file.Replace('/', '-')));
        }
        var deployment = change(File.ReadAllText(SampleOperator.RepoPath("fixtures/sample-operator/hardened/deployment.yaml")));
        // Extra documents before the Deployment, as the install files had them.
        File.WriteAllText(Path.Combine(manifests.FullName, "install.yaml"), extra.Length == 0 ? deployment : extra + "\n---\n" + deployment);
        return new QualificationScenario
        {
            Path = Path.Combine(dir.FullName, "scenario.yaml"),
            Name = "shape",
            Deployment = "greeter-operator",
            Container = "operator",
            Manifests = [manifests.FullName],
            LocalImages = [SampleOperator.Image],
        };
    }

    [Fact]
    public async Task OwnPodsRefusedByPodSecurity_TheRefusalIsTheVerdict_Exit1()
    {
        // A PostgreSQL operator without allowPrivilegeEscalation: false: `violates PodSecurity "restricted:latest"`.
        var cluster = live.Require();
        var scenario = Scenario(d => d.Replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", StringComparison.Ordinal));
        using var log = new StringWriter();

        var report = await Qualifier.RunOnClusterAsync(cluster, scenario, log, TestContext.Current.CancellationToken);

        output.WriteLine(log.ToString());
        report.ExitCode.Should().Be(1);
        var items = report.Checklist.ToDictionary(i => i.Id);
        items["namespace-psa"].Status.Should().Be(ChecklistStatus.Failed);
        items["namespace-psa"].Evidence.Should().Contain(e => e.Contains("violates PodSecurity \"restricted:", StringComparison.Ordinal) && e.Contains("allowPrivilegeEscalation != false", StringComparison.Ordinal));
        items["no-privilege-escalation"].Status.Should().Be(ChecklistStatus.Failed);
        items["serviceaccount-least-privilege"].Status.Should().Be(ChecklistStatus.Passed, "the access matrix still ran: it needs no pod");
    }

    [Fact]
    public async Task ACommandThatDoesNotExist_IsSaidAtOnce_NamingThePodContainerAndReason()
    {
        // A kubebuilder manager whose /manager is not in the image: RunContainerError, not a 180 s rollout timeout.
        var cluster = live.Require();
        var scenario = Scenario(d => d.Replace("args: [run]", "command: [/manager]\n          args: [run]", StringComparison.Ordinal));

        var act = () => Qualifier.RunOnClusterAsync(cluster, scenario, TextWriter.Null, TestContext.Current.CancellationToken);

        var error = (await act.Should().ThrowAsync<DeploymentException>()).Which;
        output.WriteLine(error.Message);
        error.Message.Should().Contain("container \"operator\" cannot start").And.Contain("/manager");
    }

    [Fact]
    public async Task AMutatingWebhookMatchingDeployments_IsAppliedAfterTheDeployment_AndTheRunReachesAVerdict()
    {
        // Applied first, it blocked the operator's own Deployment: `failed calling webhook "mdeployment-v1.kb.io"`.
        var cluster = live.Require();
        var scenario = Scenario(d => d, """
            apiVersion: admissionregistration.k8s.io/v1
            kind: MutatingWebhookConfiguration
            metadata:
              name: greeter-mutating
            webhooks:
              - name: mdeployment-v1.kb.io
                admissionReviewVersions: [v1]
                sideEffects: None
                failurePolicy: Fail
                clientConfig:
                  service: {name: greeter-webhook, namespace: greeter-system, path: /mutate-apps-v1-deployment, port: 443}
                rules:
                  - apiGroups: [apps]
                    apiVersions: [v1]
                    operations: [CREATE, UPDATE]
                    resources: [deployments]
            """);
        using var log = new StringWriter();

        var report = await Qualifier.RunOnClusterAsync(cluster, scenario, log, TestContext.Current.CancellationToken);

        output.WriteLine(log.ToString());
        report.ExitCode.Should().BeOneOf([0, 1, 2, 3], "a verdict, whatever it is");
        report.Checklist.Single(i => i.Id == "webhook-tls").Status.Should().Be(ChecklistStatus.Failed, "its Service does not exist: nothing serves the webhook");
        log.ToString().IndexOf("applied Deployment", StringComparison.Ordinal).Should().BeLessThan(log.ToString().IndexOf("applied MutatingWebhookConfiguration", StringComparison.Ordinal));
    }
}
