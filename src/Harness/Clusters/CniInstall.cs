using System.Collections.Immutable;

namespace Harness.Clusters;

/// <summary>How each CNI is installed into a fresh kind cluster. Pure, so the command lines are tested as data.</summary>
internal static class CniInstall
{
    /// <summary>Pinned Calico release.</summary>
    public static string CalicoVersion => PinnedVersions.Calico;

    /// <summary>Pinned Cilium chart version.</summary>
    public const string CiliumVersion = "1.18.2";

    /// <summary>The commands for the installer (<c>kubectl</c> for Calico, <c>helm</c> for Cilium); none for kindnet, which kind installs.</summary>
    public static ImmutableArray<ImmutableArray<string>> Commands(Cni cni, string kubeconfig) => cni switch
    {
        // The operator's CRD bundle is too large for client-side apply's annotation: Calico's own docs use `create`.
        Cni.Calico =>
        [
            ["--kubeconfig", kubeconfig, "create", "-f", $"https://raw.githubusercontent.com/projectcalico/calico/{CalicoVersion}/manifests/tigera-operator.yaml"],
            ["--kubeconfig", kubeconfig, "create", "-f", $"https://raw.githubusercontent.com/projectcalico/calico/{CalicoVersion}/manifests/custom-resources.yaml"],
        ],
        Cni.Cilium =>
        [
            [
                "install", "cilium", "cilium", "--repo", "https://helm.cilium.io", "--version", CiliumVersion, "--namespace", "kube-system",
                "--kubeconfig", kubeconfig, "--set", "image.pullPolicy=IfNotPresent", "--set", "ipam.mode=kubernetes", "--wait", "--timeout", "5m",
            ],
        ],
        _ => [],
    };

    /// <summary>Where the CNI's pods run and how they are selected, for the readiness wait.</summary>
    public static (string Namespace, string? LabelSelector) Pods(Cni cni) => cni switch
    {
        Cni.Calico => ("calico-system", "k8s-app=calico-node"),
        Cni.Cilium => ("kube-system", "k8s-app=cilium"),
        _ => ("kube-system", "app=kindnet"),
    };
}
