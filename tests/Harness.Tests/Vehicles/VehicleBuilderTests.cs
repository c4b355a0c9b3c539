using Harness.Runs;
using Harness.Manifests;
using Harness.PodSecurity;
using Harness.Vehicles;
using k8s;
using k8s.Models;

namespace Harness.Tests.Vehicles;

public sealed class VehicleBuilderTests
{
    private static V1Deployment Deployment(string path) =>
        (V1Deployment)ManifestLoader.LoadPath(RepoPaths.File(path)).Single(d => d.Kind == "Deployment").Object!;

    private static readonly TwinPodOptions Options = new() { ProbeImage = "harness.local/probe:abc", Session = SessionId.Parse("s1") };

    private static IEnumerable<string> Violations(V1ObjectMeta meta, V1PodSpec spec) =>
        PodSecurityEvaluator.Evaluate(meta, spec, PodSecurityLevel.Restricted, PolicyVersion.Latest).Violations.Select(v => v.CheckId);

    [Fact]
    public void TargetDiscovery_ComplexOperator_UsesTheDefaultContainerAnnotation()
    {
        var target = TargetDiscovery.FromWorkload(Deployment("fixtures/manifests/complex-operator.yaml"));

        target.Should().Match<OperatorTarget>(t => t.Namespace == "widgets" && t.Workload == new WorkloadRef("Deployment", "widget-operator")
            && t.Container == "manager" && t.ServiceAccount == "widget-operator" && t.PodName == null);
    }

    [Fact]
    public void TargetDiscovery_UnknownOrAmbiguousContainer_ListsTheContainers()
    {
        var deployment = Deployment("fixtures/manifests/complex-operator.yaml");
        deployment.Spec.Template.Spec.Containers.Add(new V1Container { Name = "proxy", Image = "x" });
        deployment.Spec.Template.Metadata.Annotations.Clear();

        FluentActions.Invoking(() => TargetDiscovery.FromWorkload(deployment, "mgr")).Should().Throw<TargetNotFoundException>()
            .WithMessage("Deployment widgets/widget-operator has no container \"mgr\"; its containers are \"manager\", \"proxy\".");
        FluentActions.Invoking(() => TargetDiscovery.FromWorkload(deployment)).Should().Throw<TargetNotFoundException>()
            .WithMessage("*has containers \"manager\", \"proxy\"; name the one to probe*");
    }

    [Fact]
    public void TwinPod_ComplexOperator_KeepsTheSecurityContextAndSwapsEveryImage()
    {
        var deployment = Deployment("fixtures/manifests/complex-operator.yaml");
        var before = KubernetesJson.Serialize(deployment);
        var target = TargetDiscovery.FromWorkload(deployment);

        var twin = TwinPod.Build(target, Options);

        KubernetesJson.Serialize(deployment).Should().Be(before, "the builder never changes the caller's objects");
        twin.Metadata.Name.Should().Be("widget-operator-harness-twin-s1");
        twin.Metadata.NamespaceProperty.Should().Be("widgets");
        twin.Metadata.OwnerReferences.Should().BeNull();
        twin.Metadata.Labels.Should().Contain("app.kubernetes.io/name", "widget-operator").And.Contain(SessionLabels.Role, "twin").And.NotContainKey("pod-template-hash");
        twin.Metadata.Annotations.Should().ContainKey("kubectl.kubernetes.io/default-container");
        twin.Spec.ServiceAccountName.Should().Be("widget-operator");
        twin.Spec.AutomountServiceAccountToken.Should().BeFalse();
        KubernetesJson.Serialize(twin.Spec.SecurityContext).Should().Be(KubernetesJson.Serialize(deployment.Spec.Template.Spec.SecurityContext));
        KubernetesJson.Serialize(twin.Spec.Volumes.Where(v => v.Name != TwinPod.ScratchVolume)).Should().Be(KubernetesJson.Serialize(deployment.Spec.Template.Spec.Volumes), "the projected token volume comes along");
        twin.Spec.Volumes.Should().ContainSingle(v => v.Name == TwinPod.ScratchVolume, "the harness's own scratch for the filesystem control; the root filesystem is unchanged");
        twin.Spec.Tolerations.Should().ContainSingle();
        twin.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution.Should().BeNull();
        twin.Spec.RestartPolicy.Should().Be("Never");

        var all = twin.Spec.InitContainers.Concat(twin.Spec.Containers).ToList();
        all.Should().OnlyContain(c => c.Image == "harness.local/probe:abc" && c.LivenessProbe == null && c.ReadinessProbe == null && c.Lifecycle == null && c.Args == null);
        twin.Spec.InitContainers.Single(c => c.Name == "wait-for-crds").Command.Should().Equal("/probe/agent", "version");
        twin.Spec.InitContainers.Single(c => c.Name == "config-reloader").Command.Should().Equal("/probe/agent", "idle");
        var manager = twin.Spec.Containers.Single();
        manager.Command.Should().Equal("/probe/agent", "idle");
        KubernetesJson.Serialize(manager.SecurityContext).Should().Be(KubernetesJson.Serialize(deployment.Spec.Template.Spec.Containers[0].SecurityContext));
        manager.VolumeMounts.Select(m => m.MountPath).Should().Equal("/tmp", "/etc/widget", "/var/run/secrets/kubernetes.io/serviceaccount", Harness.Images.ProbeImageLayout.Scratch);
        manager.Env.Should().ContainSingle(e => e.Name == "WATCH_NAMESPACE");
    }

    [Theory]
    [InlineData("fixtures/manifests/complex-operator.yaml")]
    [InlineData("fixtures/sample-operator/hardened")]
    [InlineData("fixtures/sample-operator/weak")]
    public void TwinPod_AddsNoPodSecurityViolationOfItsOwn(string path)
    {
        var deployment = Deployment(path);
        var target = TargetDiscovery.FromWorkload(deployment);

        var twin = TwinPod.Build(target, Options);

        Violations(twin.Metadata, twin.Spec).Should().BeEquivalentTo(Violations(deployment.Spec.Template.Metadata, deployment.Spec.Template.Spec),
            "the twin is exactly as compliant as the operator: never less (it would be rejected), never more (it would hide a weakness)");
    }

    [Fact]
    public void TwinPod_Identity_IsAppliedExplicitly_AndTheHarnessScratchIsMounted()
    {
        var hardened = TargetDiscovery.FromWorkload(Deployment("fixtures/sample-operator/hardened"));
        var silent = hardened with { PodSpec = TwinPod.Clone(hardened.PodSpec) };
        silent.PodSpec.SecurityContext.RunAsUser = null;
        silent.PodSpec.SecurityContext.RunAsGroup = null;

        var twin = TwinPod.Build(silent, Options with { Identity = new ContainerIdentity(65534, 65534, [2000, 65534], "learned") }).Spec;

        var container = twin.Containers.Single(c => c.Name == silent.Container);
        container.SecurityContext.RunAsUser.Should().Be(65534);
        container.SecurityContext.RunAsGroup.Should().Be(65534, "the probe image has no group for 65534: without it the runtime would give gid 0");
        twin.SecurityContext.SupplementalGroups.Should().Contain(2000);
        twin.Volumes.Should().Contain(v => v.Name == TwinPod.ScratchVolume && v.EmptyDir != null);
        container.VolumeMounts.Should().Contain(m => m.Name == TwinPod.ScratchVolume && m.MountPath == Harness.Images.ProbeImageLayout.Scratch);
        var plain = TwinPod.Build(hardened, Options).Spec;
        plain.SecurityContext.RunAsUser.Should().Be(65532, "without an identity the spec's own ids stay");
        plain.Containers[0].SecurityContext.RunAsUser.Should().BeNull();
    }

    [Theory]
    [InlineData("fixtures/sample-operator/hardened")]
    [InlineData("fixtures/sample-operator/weak")]
    [InlineData("fixtures/manifests/complex-operator.yaml")]
    public void EphemeralProbe_CopiesTheTargetContainersSecurityContext(string path)
    {
        // Given the operator's pod spec (weak or hardened)
        var deployment = Deployment(path);
        var spec = deployment.Spec.Template.Spec;
        var target = spec.Containers.Count == 1 ? spec.Containers[0] : spec.Containers.Single(c => c.Name == "manager");

        // When the ephemeral probe is built for its container
        var ephemeral = EphemeralProbe.Build(spec, target.Name, "harness.local/probe:abc", SessionId.Parse("s1"));

        // Then kernel attempts run exactly as the operator's process would: the same container security context
        KubernetesJson.Serialize(ephemeral.SecurityContext).Should().Be(KubernetesJson.Serialize(target.SecurityContext));
        ephemeral.TargetContainerName.Should().Be(target.Name);
        ephemeral.Command.Should().Equal("/probe/agent", "idle");
        (ephemeral.VolumeMounts ?? []).Select(m => m.MountPath).Should().Equal((target.VolumeMounts ?? []).Select(m => m.MountPath));
        // and PodSecurity (which evaluates the whole pod on every ephemeralcontainers update) sees nothing it did not already see
        var withProbe = TwinPod.Clone(spec);
        withProbe.EphemeralContainers = [ephemeral];
        Violations(deployment.Spec.Template.Metadata, withProbe).Should().BeEquivalentTo(Violations(deployment.Spec.Template.Metadata, spec));
        KubernetesJson.Serialize(EphemeralProbe.Patch(ephemeral)).Should().StartWith("{\"spec\":{\"ephemeralContainers\":[{");
    }

    [Fact]
    public void EphemeralProbe_WeakTarget_IsNotHardenedBehindTheOperatorsBack()
    {
        // The false pass of issue #16: the weak operator runs as root with SYS_ADMIN and privilege escalation allowed.
        var spec = Deployment("fixtures/sample-operator/weak").Spec.Template.Spec;

        var sc = EphemeralProbe.Build(spec, "operator", "p", SessionId.Parse("s")).SecurityContext;

        sc.AllowPrivilegeEscalation.Should().BeTrue();
        sc.ReadOnlyRootFilesystem.Should().BeFalse();
        sc.Capabilities.Add.Should().Equal("NET_ADMIN", "SYS_ADMIN");
        sc.Capabilities.Drop.Should().BeNull();
        sc.SeccompProfile.Should().BeNull("the pod's Unconfined profile applies to it as to the operator");
    }

    [Fact]
    public void EphemeralProbe_Restricted_IsTheFallbackWhenAdmissionRefusesTheCopy()
    {
        var weak = Deployment("fixtures/sample-operator/weak");

        var restricted = EphemeralProbe.BuildRestricted(weak.Spec.Template.Spec, "operator", "p", SessionId.Parse("s"));

        restricted.SecurityContext.RunAsUser.Should().Be(65532, "uid 0 is not allowed under restricted");
        var alone = new V1PodSpec { Containers = [new V1Container { Name = "x", Image = "i", SecurityContext = restricted.SecurityContext }] };
        Violations(new V1ObjectMeta(), alone).Should().BeEmpty();
        EphemeralProbe.RefusedCopyNote("violates PodSecurity").Should().Contain("kernel attempts are inconclusive");
    }

    [Fact]
    public void EphemeralProbe_UnknownTarget_SaysSo()
    {
        var spec = Deployment("fixtures/sample-operator/hardened").Spec.Template.Spec;

        FluentActions.Invoking(() => EphemeralProbe.Build(spec, "manager", "i", SessionId.Parse("s"))).Should().Throw<TargetNotFoundException>().WithMessage("*no container \"manager\"*");
    }
}

public sealed class TargetFindTests
{
    private static string DeploymentJson()
    {
        var d = (V1Deployment)ManifestLoader.LoadPath(RepoPaths.File("fixtures/manifests/complex-operator.yaml")).Single().Object!;
        d.ApiVersion = "apps/v1";
        d.Kind = "Deployment";
        return KubernetesJson.Serialize(d);
    }

    private static string PodList(string phase)
    {
        var d = (V1Deployment)ManifestLoader.LoadPath(RepoPaths.File("fixtures/manifests/complex-operator.yaml")).Single().Object!;
        var pod = new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "widget-operator-7d9f-abcde", NamespaceProperty = "widgets", Labels = d.Spec.Template.Metadata.Labels },
            Spec = d.Spec.Template.Spec,
            Status = new V1PodStatus { Phase = phase, ContainerStatuses = [new V1ContainerStatus { Name = "manager", Ready = phase == "Running", Image = "x", ImageID = "y", RestartCount = 0 }] },
        };
        return KubernetesJson.Serialize(new V1PodList { ApiVersion = "v1", Kind = "PodList", Items = [pod], Metadata = new V1ListMeta() });
    }

    [Fact]
    public async Task FindAsync_ByDeployment_ResolvesARunningPodWithTheTemplateLabels()
    {
        using var api = new LoopbackHttpServer(r => r.Path switch
        {
            "/apis/apps/v1/namespaces/widgets/deployments/widget-operator" => (200, DeploymentJson()),
            "/api/v1/namespaces/widgets/pods" => (200, PodList("Running")),
            _ => (404, LoopbackHttpServer.NotFound),
        });
        using var client = api.Client();

        var target = await TargetDiscovery.FindAsync(client, "widgets", "widget-operator", null, ct: TestContext.Current.CancellationToken);

        target.Should().Match<OperatorTarget>(t => t.PodName == "widget-operator-7d9f-abcde" && t.Container == "manager" && t.Workload == new WorkloadRef("Deployment", "widget-operator") && t.ServiceAccount == "widget-operator");
        api.Requests.Single(r => r.Path == "/api/v1/namespaces/widgets/pods").PathAndQuery.Should().Contain("labelSelector=app.kubernetes.io%2Fname%3Dwidget-operator");
    }

    [Fact]
    public async Task FindAsync_NoRunningPodOrNoDeployment_SaysWhatExists()
    {
        using var api = new LoopbackHttpServer(r => r.Path switch
        {
            "/apis/apps/v1/namespaces/widgets/deployments/widget-operator" => (200, DeploymentJson()),
            "/apis/apps/v1/namespaces/widgets/deployments" => (200, """{"apiVersion":"apps/v1","kind":"DeploymentList","metadata":{},"items":[{"metadata":{"name":"widget-operator"}}]}"""),
            "/api/v1/namespaces/widgets/pods" => (200, PodList("Pending")),
            _ => (404, LoopbackHttpServer.NotFound),
        });
        using var client = api.Client();

        var pending = () => TargetDiscovery.FindAsync(client, "widgets", "widget-operator", null, ct: TestContext.Current.CancellationToken);
        var missing = () => TargetDiscovery.FindAsync(client, "widgets", "widgets-operator", null, ct: TestContext.Current.CancellationToken);

        (await pending.Should().ThrowAsync<TargetNotFoundException>()).Which.Message.Should().Contain("widget-operator-7d9f-abcde Pending");
        (await missing.Should().ThrowAsync<TargetNotFoundException>()).Which.Message.Should().Be("no Deployment \"widgets-operator\" in namespace widgets; it has widget-operator.");
    }
}
