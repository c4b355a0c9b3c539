using Harness.Manifests;
using Harness.Rbac;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Rbac;

public sealed class AccessReviewMatrixTests
{
    private static readonly ServiceAccountRef Account = new("greeter-system", "greeter-operator");

    [Fact]
    public void Build_AsksEveryQuestionTheIssueLists()
    {
        var ids = AccessReviewMatrix.Build(Account, "kube-system").Select(q => q.Id);

        ids.Should().BeEquivalentTo(
        [
            "sar.secrets.get", "sar.secrets.list", "sar.secrets.watch", "sar.secrets.list.cluster", "sar.pods.create.other", "sar.pods.exec",
            "sar.crds.create", "sar.netpol.create.other", "sar.webhooks.mutating.patch", "sar.webhooks.validating.patch", "sar.namespaces.patch",
            "sar.impersonate.users", "sar.impersonate.serviceaccounts", "sar.clusterroles.bind", "sar.clusterroles.escalate",
        ]);
        AccessReviewMatrix.Build(Account, "kube-system").Single(q => q.Id == "sar.pods.create.other").Attributes.NamespaceProperty.Should().Be("kube-system");
    }

    [Fact]
    public void Review_AsksAsTheServiceAccountWithItsGroups()
    {
        var review = AccessReviewMatrix.Review(Account, new V1ResourceAttributes { Verb = "list", Resource = "secrets" });

        review.Spec.User.Should().Be("system:serviceaccount:greeter-system:greeter-operator");
        review.Spec.Groups.Should().Equal("system:serviceaccounts", "system:serviceaccounts:greeter-system", "system:authenticated");
    }

    [Theory]
    [InlineData(false, "", true, ProbeStatus.Passed)]
    [InlineData(true, "", true, ProbeStatus.Failed)]
    [InlineData(false, "webhook authorizer unavailable", true, ProbeStatus.Inconclusive)]
    [InlineData(false, "", false, ProbeStatus.Inconclusive)]
    public void Judge_DeniedPassesAllowedFailsErrorsAndFailedControlsAreInconclusive(bool allowed, string error, bool control, ProbeStatus expected)
    {
        var question = AccessReviewMatrix.Build(Account, "x")[0];

        var answer = AccessReviewMatrix.Judge(question, new V1SubjectAccessReviewStatus { Allowed = allowed, EvaluationError = error, Reason = allowed ? "RBAC: allowed by RoleBinding" : "" }, control);

        answer.Status.Should().Be(expected);
        answer.Evidence.Should().StartWith(allowed ? "allowed" : "denied");
    }

    [Fact]
    public void ControlFrom_HardenedSample_IsItsFirstGrantAskedInTheDeployedNamespace()
    {
        var model = RbacModel.From(ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened")));

        var control = AccessReviewMatrix.ControlFrom(model, Account, "harness-op-1");

        control.Should().BeEquivalentTo(new V1ResourceAttributes { Verb = "get", Group = "demo.harness.dev", Resource = "greetings", NamespaceProperty = "harness-op-1" });
    }

    [Fact]
    public void ControlFrom_WeakSample_SkipsWildcardRules()
    {
        var model = RbacModel.From(ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/weak")));

        var control = AccessReviewMatrix.ControlFrom(model, new ServiceAccountRef("greeter-weak", "greeter-operator"), "harness-weak-1");

        control!.Resource.Should().Be("configmaps");
        control.Verb.Should().Be("get");
    }
}
