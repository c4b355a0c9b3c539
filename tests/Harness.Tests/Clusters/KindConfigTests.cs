using Harness.Clusters;
using YamlDotNet.RepresentationModel;

namespace Harness.Tests.Clusters;

public sealed class KindConfigTests
{
    private static string RepoFile(string relative) => RepoPaths.File(relative);

    private static YamlMappingNode Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
        {
            node = step is int i ? ((YamlSequenceNode)node).Children[i] : ((YamlMappingNode)node).Children[new YamlScalarNode((string)step)];
        }
        return node;
    }

    private static string Scalar(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void RenderCluster_Defaults_EqualTheCommittedKindConfig()
    {
        KindConfig.RenderCluster(new KindClusterOptions()).Should().Be(File.ReadAllText(RepoFile("kind-config.yaml")),
            "kind-config.yaml is the rendered default; regenerate it with `dotnet run --project src/Harness.Cli -- kind-config --write .`");
    }

    [Fact]
    public void RenderAdmission_Defaults_EqualTheCommittedAdmissionConfig()
    {
        KindConfig.RenderAdmission(new KindClusterOptions()).Should().Be(File.ReadAllText(RepoFile("fixtures/podsecurity/admission-config.yaml")));
    }

    [Fact]
    public void RenderCluster_Kubernetes134_UsesV1beta3MapStyleExtraArgs()
    {
        var root = Parse(KindConfig.RenderCluster(new KindClusterOptions()));
        var patch = Parse(Scalar(root, "nodes", 0, "kubeadmConfigPatches", 0));

        Scalar(root, "kind").Should().Be("Cluster");
        Scalar(root, "apiVersion").Should().Be("kind.x-k8s.io/v1alpha4");
        Scalar(root, "networking", "disableDefaultCNI").Should().Be("true");
        Scalar(root, "networking", "podSubnet").Should().Be("192.168.0.0/16");
        Scalar(root, "nodes", 0, "role").Should().Be("control-plane");
        Scalar(root, "nodes", 0, "extraMounts", 0, "containerPath").Should().Be(KindConfig.NodeConfigDirectory);
        Scalar(root, "nodes", 1, "role").Should().Be("worker");
        Scalar(patch, "apiVersion").Should().Be("kubeadm.k8s.io/v1beta3");
        Scalar(patch, "kind").Should().Be("ClusterConfiguration");
        Scalar(patch, "apiServer", "extraArgs", "admission-control-config-file").Should().Be("/etc/kubernetes/podsecurity/admission-config.yaml");
        Scalar(patch, "apiServer", "extraVolumes", 0, "mountPath").Should().Be(KindConfig.NodeConfigDirectory);
    }

    [Fact]
    public void RenderCluster_Kubernetes136_UsesV1beta4ListStyleExtraArgs()
    {
        var options = new KindClusterOptions { NodeImage = "kindest/node:v1.36.0@sha256:" + new string('a', 64) };
        var patch = Parse(Scalar(Parse(KindConfig.RenderCluster(options)), "nodes", 0, "kubeadmConfigPatches", 0));

        Scalar(patch, "apiVersion").Should().Be("kubeadm.k8s.io/v1beta4");
        Scalar(patch, "apiServer", "extraArgs", 0, "name").Should().Be("admission-control-config-file");
        Scalar(patch, "apiServer", "extraArgs", 0, "value").Should().Be("/etc/kubernetes/podsecurity/admission-config.yaml");
    }

    [Fact]
    public void RenderCluster_Kindnet_KeepsTheDefaultCni()
    {
        var root = Parse(KindConfig.RenderCluster(new KindClusterOptions { Cni = Cni.Kindnet, Workers = 2 }));

        root.Children.Should().NotContainKey(new YamlScalarNode("networking"));
        ((YamlSequenceNode)At(root, "nodes")).Children.Should().HaveCount(3);
    }

    [Fact]
    public void RenderAdmission_EnforcesAuditsAndWarnsTheLevel_AndExemptsSystemAndCniNamespaces()
    {
        var root = Parse(KindConfig.RenderAdmission(new KindClusterOptions { PodSecurityVersion = Harness.PodSecurity.PolicyVersion.Parse("v1.33") }));
        var config = At(root, "plugins", 0, "configuration");

        Scalar(root, "kind").Should().Be("AdmissionConfiguration");
        Scalar(root, "plugins", 0, "name").Should().Be("PodSecurity");
        Scalar(config, "apiVersion").Should().Be("pod-security.admission.config.k8s.io/v1");
        foreach (var mode in new[] { "enforce", "audit", "warn" })
        {
            Scalar(config, "defaults", mode).Should().Be("restricted");
            Scalar(config, "defaults", mode + "-version").Should().Be("v1.33");
        }
        ((YamlSequenceNode)At(config, "exemptions", "namespaces")).Children.Select(n => ((YamlScalarNode)n).Value)
            .Should().BeEquivalentTo("kube-system", "local-path-storage", "tigera-operator", "calico-system", "calico-apiserver");
    }

    [Theory]
    [InlineData("kindest/node:v1.34.0", "*not pinned by digest*")]
    [InlineData("kindest/node@sha256:abc", "*vMAJOR.MINOR*")]
    public void Validate_BadNodeImage_SaysWhatIsWrong(string image, string message)
    {
        var act = () => KindConfig.RenderCluster(new KindClusterOptions { NodeImage = image });

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Theory]
    [InlineData("strict", "latest", "harness: --psa-level must be restricted, baseline or privileged, got 'strict'")]
    [InlineData("7", "latest", "harness: --psa-level must be restricted, baseline or privileged, got '7'")]
    [InlineData("restricted", "2.30", "harness: --psa-version must be latest or v1.MINOR (for example v1.34), got '2.30'")]
    public async Task KindConfigCommand_BadPodSecurity_NamesTheFlag(string level, string version, string message)
    {
        var (exit, _, error) = await CliRunner.RunAsync(["kind-config", "--psa-level", level, "--psa-version", version]);

        exit.Should().Be(2);
        error.Should().StartWith(message);
    }

    [Fact]
    public void RenderAdmission_TypedLevelAndVersion_AreWrittenAsTheApiServerReadsThem()
    {
        var text = KindConfig.RenderAdmission(new KindClusterOptions { PodSecurityLevel = Harness.PodSecurity.PodSecurityLevel.Baseline, PodSecurityVersion = Harness.PodSecurity.PolicyVersion.Parse("1.30") });

        text.Should().Contain("enforce: \"baseline\"").And.Contain("enforce-version: \"v1.30\"");
    }
}
