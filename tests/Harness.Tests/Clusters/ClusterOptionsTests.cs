using Harness.Runs;
using Harness.Clusters;
using Harness.NetworkPolicies;
using Harness.PodSecurity;
using Harness.Manifests;

namespace Harness.Tests.Clusters;

public sealed class ClusterOptionsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void FromEnvironment_Nothing_IsAKindClusterWithCalico()
    {
        var o = ClusterOptions.FromEnvironment(Env());

        o.Provider.Should().Be(ClusterProvider.Kind);
        o.Kind.Cni.Should().Be(Cni.Calico);
        o.Verify.Should().BeTrue();
        o.KindClusterName.Should().Be($"harness-{o.SessionId}");
    }

    [Fact]
    public void FromEnvironment_Kubeconfig_MeansAnExistingCluster()
    {
        var o = ClusterOptions.FromEnvironment(Env(("HARNESS_KUBECONFIG", "/k/config"), ("HARNESS_CONTEXT", "staging"), ("HARNESS_PROBE_IMAGE", "reg.example/probe@sha256:abc")));

        o.Provider.Should().Be(ClusterProvider.Existing);
        o.ResolveKubeconfig(Env()).Should().Be("/k/config");
        o.Context.Should().Be("staging");
        o.ProbeImage.Should().Be("reg.example/probe@sha256:abc");
    }

    [Fact]
    public void FromEnvironment_ReuseAndKeep_AreRead()
    {
        var o = ClusterOptions.FromEnvironment(Env(("HARNESS_CLUSTER", "kind"), ("HARNESS_REUSE_CLUSTER", "1"), ("HARNESS_KEEP_CLUSTER", "1"), ("HARNESS_CNI", "kindnet")));

        o.Reuse.Should().BeTrue();
        o.Keep.Should().BeTrue();
        o.Kind.Cni.Should().Be(Cni.Kindnet);
        o.KindClusterName.Should().Be("harness", "a reused cluster has a stable name");
    }

    [Theory]
    [InlineData("HARNESS_CLUSTER", "minikube", "HARNESS_CLUSTER must be kind, k3s or existing, got 'minikube'.")]
    [InlineData("HARNESS_CNI", "flannel", "HARNESS_CNI must be calico, cilium or kindnet, got 'flannel'.")]
    public void FromEnvironment_UnknownValue_NamesTheVariable(string key, string value, string message)
    {
        var act = () => ClusterOptions.FromEnvironment(Env((key, value)));

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void ResolveKubeconfig_FallsBackToKUBECONFIGThenHome()
    {
        new ClusterOptions().ResolveKubeconfig(Env(("KUBECONFIG", "/a:/b"))).Should().Be("/a");
        new ClusterOptions().ResolveKubeconfig(Env()).Should().EndWith(Path.Combine(".kube", "config"));
    }

    [Fact]
    public void KindCommands_AreTheDocumentedCommandLines()
    {
        KindCommands.Create("harness-1a2b", "/t/kind-config.yaml", "kindest/node:v1.34.0@sha256:x", "/t/kubeconfig", retain: true, TimeSpan.FromMinutes(8))
            .Should().Equal("create", "cluster", "--name", "harness-1a2b", "--config", "/t/kind-config.yaml", "--image", "kindest/node:v1.34.0@sha256:x",
                "--kubeconfig", "/t/kubeconfig", "--wait", "480s", "--retain");
        KindCommands.Create("c", "f", "i", "k", retain: false, TimeSpan.FromSeconds(60)).Should().NotContain("--retain");
        KindCommands.Delete("c", "/t/kubeconfig").Should().Equal("delete", "cluster", "--name", "c", "--kubeconfig", "/t/kubeconfig");
        KindCommands.Delete("stale").Should().Equal("delete", "cluster", "--name", "stale");
        KindCommands.ExportLogs("c", "/logs/c").Should().Equal("export", "logs", "/logs/c", "--name", "c");
        KindCommands.LoadImage("c", "harness.local/probe:abc").Should().Equal("load", "docker-image", "harness.local/probe:abc", "--name", "c");
        KindCommands.ParseClusters("harness-1\nother\n").Should().Equal("harness-1", "other");
        KindCommands.ParseClusters("No kind clusters found.\n").Should().BeEmpty();
    }

    [Fact]
    public void CniInstall_Calico_CreatesThePinnedOperatorThenItsResources()
    {
        var commands = CniInstall.Commands(Cni.Calico, "/t/kubeconfig");

        commands.Should().HaveCount(2);
        commands[0].Should().Equal("--kubeconfig", "/t/kubeconfig", "create", "-f", "https://raw.githubusercontent.com/projectcalico/calico/v3.30.3/manifests/tigera-operator.yaml");
        commands[1][^1].Should().EndWith("/v3.30.3/manifests/custom-resources.yaml");
        CniInstall.Commands(Cni.Cilium, "/k").Single().Should().Contain(["ipam.mode=kubernetes", "image.pullPolicy=IfNotPresent"]);
        CniInstall.Commands(Cni.Kindnet, "/k").Should().BeEmpty("kind installs kindnet itself");
        CniInstall.Pods(Cni.Calico).Should().Be(("calico-system", "k8s-app=calico-node"));
    }

    [Fact]
    public void K3sConfig_WiresTheAdmissionConfigIntoTheApiServer()
    {
        K3sConfig.ExtraServerArgs().Should().Equal("--kube-apiserver-arg=admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml");
    }

    [Fact]
    public void Verification_CanaryPods_AreThemselvesRestrictedCompliant()
    {
        var server = ClusterVerification.ServerPod("ns", "harness.local/probe:1", SessionId.Parse("s1"), "tok");
        var client = ClusterVerification.ClientPod("ns", "harness.local/probe:1", SessionId.Parse("s1"));

        foreach (var pod in new[] { server, client })
        {
            var psa = PodSecurityEvaluator.Evaluate(pod.Metadata, pod.Spec, PodSecurityLevel.Restricted, PolicyVersion.Latest);
            psa.Allowed.Should().BeTrue(psa.Message);
            pod.Spec.AutomountServiceAccountToken.Should().BeFalse();
            pod.Metadata.Labels.Should().Contain(SessionLabels.Session, "s1");
        }
        server.Spec.Containers[0].Command.Should().Equal("/probe/agent", "sink", "--port", "8080", "--token", "tok");
        client.Spec.Containers[0].Command.Should().Equal("/probe/agent", "idle");
    }

    [Fact]
    public void Verification_PrivilegedPod_IsRejectedEvenByBaseline()
    {
        var pod = ClusterVerification.PrivilegedPod("harness-psa-s1");

        pod.Metadata.NamespaceProperty.Should().Be("harness-psa-s1");
        PodSecurityEvaluator.Evaluate(pod.Metadata, pod.Spec, PodSecurityLevel.Baseline, PolicyVersion.Latest).Violations
            .Select(v => v.CheckId).Should().BeEquivalentTo(["hostNamespaces", "privileged"]);
    }

    [Fact]
    public void Verification_DenyPolicy_IsolatesTheServerOnly()
    {
        var policy = ClusterVerification.DenyIngressToServer("ns");
        ManifestDocument[] docs = [new("policy.yaml", 1, "networking.k8s.io/v1", "NetworkPolicy", policy.Metadata.Name, "ns", policy, "")];
        var server = ClusterVerification.ServerPod("ns", "i", SessionId.Parse("s"), "t").Metadata.Labels;
        var client = ClusterVerification.ClientPod("ns", "i", SessionId.Parse("s")).Metadata.Labels;

        NetworkPolicyAnalyzer.Summarize(docs, "ns", server).IngressIsolated.Should().BeTrue();
        NetworkPolicyAnalyzer.Summarize(docs, "ns", server).Ingress.Should().BeEmpty("nothing is allowed in");
        NetworkPolicyAnalyzer.Summarize(docs, "ns", client).IngressIsolated.Should().BeFalse();
    }

    [Fact]
    public void Verification_ConnectPlan_OpensOneFreshConnection()
    {
        ClusterVerification.ConnectPlan("10.244.0.5").Steps.Single().Target.Should().Be("10.244.0.5:8080");
        ClusterVerification.ConnectPlan("fd00::5").Steps.Single().Target.Should().Be("[fd00::5]:8080");
    }

    [Fact]
    public void Verification_Describe_ShowsPhasesContainerStatesAndWarnings()
    {
        var pod = new k8s.Models.V1Pod
        {
            Metadata = new() { Name = "harness-canary-server" },
            Status = new()
            {
                Phase = "Pending",
                ContainerStatuses = [new() { Name = "agent", State = new() { Waiting = new() { Reason = "ErrImageNeverPull", Message = "image not present" } } }],
            },
        };
        var warning = new k8s.Models.Corev1Event { Type = "Warning", Reason = "Failed", Message = "Error: ErrImageNeverPull", Metadata = new(), InvolvedObject = new() };

        Harness.Kubernetes.Pods.Describe([pod], [warning]).Should().Be(
            "harness-canary-server: Pending [agent waiting (ErrImageNeverPull: image not present)] | event Failed: Error: ErrImageNeverPull");
    }
}
