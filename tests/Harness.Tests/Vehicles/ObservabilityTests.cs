using Harness.Manifests;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Verdicts;
using k8s.Models;

namespace Harness.Tests.Vehicles;

public sealed class ObservabilityTests
{
    private static V1PodSpec Spec(string path) =>
        ((V1Deployment)ManifestLoader.LoadPath(RepoPaths.File(path)).Single(d => d.Kind == "Deployment").Object!).Spec.Template.Spec;

    [Theory]
    [InlineData("fixtures/sample-operator/hardened", "operator")]
    [InlineData("fixtures/manifests/complex-operator.yaml", "manager")]
    public void WithAnotherImage_SpecFixesUidAndGid_EverythingIsObservable(string path, string container)
    {
        Observability.WithAnotherImage(Spec(path), container, identity: null, whyUnknown: "not learned").Should().BeEmpty();
    }

    [Fact]
    public void WithAnotherImage_UidOnlyInTheSpec_LeavesOutTheGidDependentProbe()
    {
        // The weak sample sets runAsUser: 0 and no runAsGroup: its gid comes from its image.
        var limits = Observability.WithAnotherImage(Spec("fixtures/sample-operator/weak"), "operator", identity: null, whyUnknown: "the image is not on this machine");

        limits.Keys.Should().BeEquivalentTo("kernel.setgid");
        Observability.Reason(limits, "kernel.setgid").Should().Contain("gid comes from its image").And.Contain("the image is not on this machine");
        Observability.Reason(limits, "proc.non-root").Should().BeNull();
    }

    [Fact]
    public void WithAnotherImage_NothingInTheSpec_LeavesOutEveryIdDependentProbe_UnlessTheIdentityIsKnown()
    {
        var spec = Spec("fixtures/sample-operator/weak");
        spec.SecurityContext.RunAsUser = null;

        var limits = Observability.WithAnotherImage(spec, "operator", identity: null, whyUnknown: null);

        limits.Keys.Should().BeEquivalentTo("proc.non-root", "kernel.", "kernel.setgid");
        Observability.Reason(limits, "kernel.setuid").Should().Contain("uid comes from its image");
        Observability.Reason(limits, "proc.capabilities").Should().BeNull();
        Observability.Reason(limits, "fs.root").Should().BeNull();
        Observability.WithAnotherImage(spec, "operator", new ContainerIdentity(0, 0, [0], "given"), null).Should().BeEmpty("the identity is known");
    }

    [Fact]
    public void Limit_OverridesPassAndFailAlike()
    {
        var plan = StandardProbes.Create(new StandardProbeOptions());
        var probe = plan.Probes.Single(p => p.Id == "proc.non-root");
        var passed = Classifier.ClassifyOne(probe, new StepResult
        {
            Id = "proc.status", Kind = StepKinds.ProcessStatus, Outcome = StepOutcomes.Succeeded,
            Data = new Dictionary<string, string> { ["Uid"] = "65532 65532 65532 65532", ["Gid"] = "65532 65532 65532 65532", ["CapInh"] = "0", ["CapPrm"] = "0", ["CapEff"] = "0", ["CapBnd"] = "0", ["CapAmb"] = "0", ["NoNewPrivs"] = "1", ["Seccomp"] = "2" },
        }, null);
        passed.Status.Should().Be(ProbeStatus.Passed);

        var limited = ProbeRunner.Limit([passed], new Dictionary<string, string> { ["proc.non-root"] = "the probe's uid" });

        limited.Single().Status.Should().Be(ProbeStatus.Inconclusive);
        limited.Single().Explanation.Should().Be("runs as a non-root uid: the probe's uid (the agent saw Denied(NonRootUser))");
        ProbeRunner.Limit([passed], new Dictionary<string, string>()).Single().Should().BeSameAs(passed);
    }

    [Fact]
    public void EphemeralProbe_SharedProcessNamespaceWithSidecars_JudgesNothingLocal()
    {
        var spec = Spec("fixtures/sample-operator/hardened");
        spec.Containers.Add(new V1Container { Name = "metrics-proxy", Image = "registry.example/proxy@sha256:1" });
        EphemeralProbe.Unobservable(spec).Should().BeEmpty("each container has its own PID namespace: targetContainerName picks the operator's");

        spec.ShareProcessNamespace = true;
        var limits = EphemeralProbe.Unobservable(spec);

        Observability.Reason(limits, "proc.non-root").Should().Contain("shareProcessNamespace");
        Observability.Reason(limits, "fs.root").Should().NotBeNull();
        Observability.Reason(limits, "kernel.setuid").Should().NotBeNull();
        Observability.Reason(limits, "egress.sink.tcp").Should().BeNull("the pod's network is the pod's, whichever container");
    }

    [Fact]
    public void Vehicles_WhatEachObserves_IsDeclared()
    {
        // Ephemeral: the agent observes the target process; direct exec: the operator's own container, nothing to limit.
        EphemeralProbe.Observe.Pid.Should().BeNull("discovered in the shared PID namespace");
        EphemeralProbe.Observe.RequireSameSecurityContext.Should().BeTrue();
        var direct = new KubernetesVehicle(null!, "ns", "pod", "operator", "direct-exec", []);
        direct.Observe.Should().BeNull();
        direct.Unobservable.Should().BeEmpty();
    }
}
