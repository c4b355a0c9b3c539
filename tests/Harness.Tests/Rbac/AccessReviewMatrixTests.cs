using k8s.Models;
using Harness.Manifests;
using Harness.Rbac;
using Harness.Verdicts;

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
            "sar.quarantine.vap.create", "sar.quarantine.vapb.create", "sar.quarantine.webhooks.validating.create", "sar.quarantine.webhooks.mutating.create",
            "sar.quarantine.namespace-labels.other", "sar.quarantine.roles.other", "sar.quarantine.rolebindings.other", "sar.quarantine.clusterroles.create",
            "sar.quarantine.clusterrolebindings.create", "sar.quarantine.crds.foreign", "sar.quarantine.crds.foreign.patch", "sar.quarantine.kube-system.configmaps", "sar.quarantine.kube-system.secrets",
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

    [Fact]
    public void Quarantine_QuestionsAskAboutOtherNamespacesAForeignCrdAndKubeSystem_AndCountForTheQuarantineItem()
    {
        var questions = AccessReviewMatrix.Quarantine("demo", "elsewhere").ToDictionary(q => q.Id);

        questions.Values.Should().OnlyContain(q => q.Check == Harness.Probes.HardeningCheck.ApiQuarantined && q.Items.SequenceEqual(new[] { Harness.Probes.HardeningItem.ApiQuarantine }));
        questions["sar.quarantine.namespace-labels.other"].Attributes.Name.Should().Be("elsewhere");
        questions["sar.quarantine.roles.other"].Attributes.NamespaceProperty.Should().Be("elsewhere");
        questions["sar.quarantine.crds.foreign"].Attributes.Name.Should().Be(AccessReviewMatrix.ForeignCrd).And.EndWith(".invalid", "a name no operator can own");
        questions["sar.quarantine.kube-system.secrets"].Attributes.Should().Match<k8s.Models.V1ResourceAttributes>(a => a.NamespaceProperty == "kube-system" && a.Verb == "get" && a.Resource == "secrets");
        questions["sar.quarantine.vap.create"].Attributes.Group.Should().Be("admissionregistration.k8s.io");
    }

    /// <summary>
    /// A loopback authorizer that answers as the API server does, judging each SubjectAccessReview by the sample's own
    /// RBAC manifests: the weak sample's account breaks the quarantine where its ClusterRole says, the hardened one nowhere.
    /// </summary>
    [Theory]
    [InlineData("weak", "greeter-weak")]
    [InlineData("hardened", "greeter-system")]
    public async Task AskAsync_AgainstALoopbackAuthorizer_JudgesTheQuarantineByTheGrants(string variant, string ns)
    {
        var documents = Harness.Manifests.ManifestLoader.LoadPath(RepoPaths.File($"fixtures/sample-operator/{variant}"));
        var model = RbacModel.From(documents, ns);
        var account = new ServiceAccountRef(ns, "greeter-operator");
        using var server = new LoopbackHttpServer(request =>
        {
            if (request.Method != "POST" || request.Path != "/apis/authorization.k8s.io/v1/subjectaccessreviews")
            {
                return (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}""");
            }
            var review = k8s.KubernetesJson.Deserialize<V1SubjectAccessReview>(request.Body);
            review.Spec.User.Should().Be(account.UserName);
            var a = review.Spec.ResourceAttributes;
            var allowed = a is not null && model.Allows(account, a.Verb, a.Group ?? "", a.Resource, a.NamespaceProperty, a.Subresource, a.Name);
            review.Status = new V1SubjectAccessReviewStatus
            {
                Allowed = allowed,
                Reason = allowed ? $"RBAC: allowed by ClusterRoleBinding \"greeter-operator-{variant}\" of ClusterRole \"greeter-operator-{variant}\" to ServiceAccount \"greeter-operator/{ns}\"" : "",
            };
            return (201, k8s.KubernetesJson.Serialize(review));
        });

        var control = AccessReviewMatrix.ControlFrom(model, account, ns);
        control.Should().NotBeNull("each sample grants its account something to prove the questions reach it");
        var answers = await AccessReviewMatrix.AskAsync(server.Client(), account, "kube-system", control, TestContext.Current.CancellationToken);
        var quarantine = answers.Where(x => x.Question.Check == Harness.Probes.HardeningCheck.ApiQuarantined).ToDictionary(x => x.Question.Id, x => x.Status);

        quarantine.Should().HaveCount(AccessReviewMatrix.Quarantine(ns, "kube-system").Length);
        if (variant == "hardened")
        {
            quarantine.Values.Should().OnlyContain(st => st == Harness.Verdicts.ProbeStatus.Passed);
        }
        else
        {
            quarantine.Where(kv => kv.Value == Harness.Verdicts.ProbeStatus.Failed).Select(kv => kv.Key).Should().BeEquivalentTo(
                ["sar.quarantine.namespace-labels.other", "sar.quarantine.crds.foreign", "sar.quarantine.kube-system.configmaps", "sar.quarantine.kube-system.secrets"],
                "its ClusterRole patches namespaces, updates CRDs and reads ConfigMaps and Secrets everywhere, and nothing else the quarantine asks");
        }
    }
}
