using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Harness.Clusters;

/// <summary>The CNI a kind cluster runs. Only a CNI that enforces NetworkPolicy makes egress verdicts possible.</summary>
public enum Cni
{
    /// <summary>Calico through the Tigera operator (the default): enforces NetworkPolicy.</summary>
    Calico,

    /// <summary>Cilium through Helm: enforces NetworkPolicy.</summary>
    Cilium,

    /// <summary>kind's own kindnet (v0.24+ enforces NetworkPolicy, but fails open if its policy controller cannot start).</summary>
    Kindnet,
}

/// <summary>Options for a kind cluster with PodSecurity admission enforcing a level by default.</summary>
public sealed record KindClusterOptions
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>The node image of the pinned kind release, pinned by digest as kind requires (<see cref="PinnedVersions.KindNodeImage"/>).</summary>
    public static string DefaultNodeImage => PinnedVersions.KindNodeImage;

    /// <summary>The subnet of the Docker network "kind" when the harness creates it (kind's usual one): node and API server addresses fall in it.</summary>
    public const string NodeSubnet = "172.18.0.0/16";

    /// <summary>Cluster name.</summary>
    public string Name { get; init; } = "harness";

    /// <summary>The Docker network the nodes join (kind's <c>kind</c>; another name is passed as KIND_EXPERIMENTAL_DOCKER_NETWORK).</summary>
    public string DockerNetwork { get; init; } = "kind";

    /// <summary>Node image; must be pinned by digest (<c>@sha256:</c>).</summary>
    public string NodeImage { get; init; } = DefaultNodeImage;

    /// <summary>Worker nodes besides the control plane.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>The CNI.</summary>
    public Cni Cni { get; init; } = Cni.Calico;

    /// <summary>PodSecurity level enforced, audited and warned by default.</summary>
    public PodSecurity.PodSecurityLevel PodSecurityLevel { get; init; } = PodSecurity.PodSecurityLevel.Restricted;

    /// <summary>PodSecurity policy version (latest, or a pinned <c>v1.34</c>).</summary>
    public PodSecurity.PolicyVersion PodSecurityVersion { get; init; } = PodSecurity.PolicyVersion.Latest;

    /// <summary>Namespaces exempted besides the system and CNI ones.</summary>
    public ImmutableArray<string> ExtraExemptNamespaces { get; init; } = [];

    /// <summary>Host folder holding <c>admission-config.yaml</c>; kind resolves a relative path against its working directory.</summary>
    public string AdmissionConfigDirectory { get; init; } = "fixtures/podsecurity";
}

/// <summary>Renders the kind cluster config and the PodSecurity AdmissionConfiguration. Pure and deterministic.</summary>
public static partial class KindConfig
{
    /// <summary>File name of the admission configuration inside <see cref="KindClusterOptions.AdmissionConfigDirectory"/>.</summary>
    public const string AdmissionFileName = "admission-config.yaml";

    /// <summary>Where the control-plane node (and the API server pod) sees that folder.</summary>
    public const string NodeConfigDirectory = "/etc/kubernetes/podsecurity";

    /// <summary>Pod subnet Calico's default IP pool expects.</summary>
    public const string CalicoPodSubnet = "192.168.0.0/16";

    /// <summary>The kubeadm config API the node image's kubeadm reads: v1beta4 from Kubernetes 1.36 (kind PR #4173), v1beta3 before.</summary>
    /// <exception cref="ArgumentException">The image has no <c>vMAJOR.MINOR</c> tag.</exception>
    public static string KubeadmApiVersion(string nodeImage)
    {
        ArgumentNullException.ThrowIfNull(nodeImage);
        var m = ImageVersion().Match(nodeImage);
        if (!m.Success)
        {
            throw new ArgumentException($"Node image '{nodeImage}' has no vMAJOR.MINOR tag; the harness needs it to pick the kubeadm config version.", nameof(nodeImage));
        }
        var major = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var minor = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return major > 1 || minor >= 36 ? "kubeadm.k8s.io/v1beta4" : "kubeadm.k8s.io/v1beta3";
    }

    /// <summary>Namespaces PodSecurity must not police: the control plane's, local-path-storage, and the CNI's own.</summary>
    public static ImmutableArray<string> ExemptNamespaces(KindClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IEnumerable<string> cni = options.Cni switch
        {
            Cni.Calico => ["tigera-operator", "calico-system", "calico-apiserver"],
            _ => [],
        };
        return [.. new[] { "kube-system", "local-path-storage" }.Concat(cni).Concat(options.ExtraExemptNamespaces).Distinct()];
    }

    /// <summary>Checks the options; throws with the field and the fix.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static void Validate(KindClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.NodeImage.Contains("@sha256:", StringComparison.Ordinal))
        {
            throw new ArgumentException($"NodeImage '{options.NodeImage}' is not pinned by digest; kind node images must be used with the @sha256 digest of their release.", nameof(options));
        }
        if (options.Workers is < 0 or > 10)
        {
            throw new ArgumentException($"Workers must be between 0 and 10, got {options.Workers}.", nameof(options));
        }
        if (!Enum.IsDefined(options.PodSecurityLevel))
        {
            throw new ArgumentException($"PodSecurityLevel must be Restricted, Baseline or Privileged, got {(int)options.PodSecurityLevel}.", nameof(options));
        }
        _ = KubeadmApiVersion(options.NodeImage);
    }

    /// <summary>The kind <c>Cluster</c> config.</summary>
    public static string RenderCluster(KindClusterOptions options)
    {
        Validate(options);
        var api = KubeadmApiVersion(options.NodeImage);
        var admissionFile = $"{NodeConfigDirectory}/{AdmissionFileName}";
        var sb = new StringBuilder();
        sb.Append("# Rendered by Harness.Clusters.KindConfig.RenderCluster; a test fails if this file and the code diverge.\n");
        sb.Append("# Run kind from the repository root: extraMounts.hostPath is relative to kind's working directory.\n");
        sb.Append("kind: Cluster\n");
        sb.Append("apiVersion: kind.x-k8s.io/v1alpha4\n");
        sb.Append("name: ").Append(options.Name).Append('\n');
        if (options.Cni != Cni.Kindnet)
        {
            sb.Append("networking:\n");
            sb.Append("  disableDefaultCNI: true\n");
            if (options.Cni == Cni.Calico)
            {
                sb.Append("  podSubnet: ").Append(CalicoPodSubnet).Append('\n');
            }
        }
        sb.Append("nodes:\n");
        sb.Append("  - role: control-plane\n");
        sb.Append("    image: ").Append(options.NodeImage).Append('\n');
        sb.Append("    extraMounts:\n");
        sb.Append("      - hostPath: ").Append(options.AdmissionConfigDirectory).Append('\n');
        sb.Append("        containerPath: ").Append(NodeConfigDirectory).Append('\n');
        sb.Append("        readOnly: true\n");
        sb.Append("    kubeadmConfigPatches:\n");
        sb.Append("      - |\n");
        sb.Append("        apiVersion: ").Append(api).Append('\n');
        sb.Append("        kind: ClusterConfiguration\n");
        sb.Append("        apiServer:\n");
        sb.Append("          extraArgs:\n");
        if (api.EndsWith("v1beta4", StringComparison.Ordinal))
        {
            sb.Append("            - name: admission-control-config-file\n");
            sb.Append("              value: ").Append(admissionFile).Append('\n');
        }
        else
        {
            sb.Append("            admission-control-config-file: ").Append(admissionFile).Append('\n');
        }
        sb.Append("          extraVolumes:\n");
        sb.Append("            - name: podsecurity\n");
        sb.Append("              hostPath: ").Append(NodeConfigDirectory).Append('\n');
        sb.Append("              mountPath: ").Append(NodeConfigDirectory).Append('\n');
        sb.Append("              readOnly: true\n");
        sb.Append("              pathType: Directory\n");
        for (var i = 0; i < options.Workers; i++)
        {
            sb.Append("  - role: worker\n");
            sb.Append("    image: ").Append(options.NodeImage).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The <c>AdmissionConfiguration</c> that makes PodSecurity enforce, audit and warn the level by default.</summary>
    public static string RenderAdmission(KindClusterOptions options)
    {
        Validate(options);
        var sb = new StringBuilder();
        sb.Append("# Rendered by Harness.Clusters.KindConfig.RenderAdmission; mounted into the kind control plane by kind-config.yaml.\n");
        sb.Append("apiVersion: apiserver.config.k8s.io/v1\n");
        sb.Append("kind: AdmissionConfiguration\n");
        sb.Append("plugins:\n");
        sb.Append("  - name: PodSecurity\n");
        sb.Append("    configuration:\n");
        sb.Append("      apiVersion: pod-security.admission.config.k8s.io/v1\n");
        sb.Append("      kind: PodSecurityConfiguration\n");
        sb.Append("      defaults:\n");
        foreach (var mode in new[] { "enforce", "audit", "warn" })
        {
            sb.Append("        ").Append(mode).Append(": \"").Append(options.PodSecurityLevel.ToString().ToLowerInvariant()).Append("\"\n");
            sb.Append("        ").Append(mode).Append("-version: \"").Append(options.PodSecurityVersion).Append("\"\n");
        }
        sb.Append("      exemptions:\n");
        sb.Append("        usernames: []\n");
        sb.Append("        runtimeClasses: []\n");
        sb.Append("        namespaces:\n");
        foreach (var ns in ExemptNamespaces(options))
        {
            sb.Append("          - ").Append(ns).Append('\n');
        }
        return sb.ToString();
    }

    [GeneratedRegex(@":v(\d+)\.(\d+)")]
    private static partial Regex ImageVersion();

}
