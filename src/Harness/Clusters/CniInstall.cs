using System.Collections.Immutable;
using Harness.Kubernetes;
using Harness.Waits;
using k8s;
using k8s.Models;

namespace Harness.Clusters;

/// <summary>How each CNI is installed into a fresh kind cluster. Pure, so the command lines are tested as data.</summary>
public static class CniInstall
{
    /// <summary>Pinned Calico release.</summary>
    public const string CalicoVersion = "v3.30.3";

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

/// <summary>Waits for nodes and the CNI to be ready, bounded, saying what it saw on timeout.</summary>
public static class ClusterReadiness
{
    /// <summary>All nodes Ready and at least one CNI pod, all of them ready.</summary>
    /// <exception cref="WaitTimeoutException">Not ready within the bound; the message lists node conditions and CNI pod states.</exception>
    public static async Task WaitAsync(IKubernetes client, Cni cni, TimeSpan timeout, CancellationToken ct, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        await BoundedWait.UntilAsync(
            "every node to be Ready",
            async t => (await client.CoreV1.ListNodeAsync(cancellationToken: t).ConfigureAwait(false)).Items,
            nodes => nodes.Count > 0 && nodes.All(IsReady),
            nodes => string.Join(", ", nodes.Select(n => $"{n.Metadata.Name}: {(IsReady(n) ? "Ready" : Reason(n))}")),
            timeout, TimeSpan.FromSeconds(3), time: time, ct: ct).ConfigureAwait(false);
        var (ns, selector) = CniInstall.Pods(cni);
        if (cni == Cni.Kindnet && selector is not null)
        {
            // K3s has no kindnet pods (its policy controller is built in); kind's kindnet pods are checked like any CNI's.
            var any = await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: ct).ConfigureAwait(false);
            if (any.Items.Count == 0)
            {
                return;
            }
        }
        await BoundedWait.UntilAsync(
            $"the {cni} pods in {ns} to be ready",
            async t => (await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: t).ConfigureAwait(false)).Items,
            pods => pods.Count > 0 && pods.All(Pods.IsReady),
            pods => Pods.Describe(pods, []),
            timeout, TimeSpan.FromSeconds(3), transient: e => e is IOException or HttpRequestException or k8s.Autorest.HttpOperationException, time: time, ct: ct).ConfigureAwait(false);
    }

    private static bool IsReady(V1Node node) => (node.Status?.Conditions ?? []).Any(c => c.Type == "Ready" && c.Status == "True");

    private static string Reason(V1Node node) =>
        (node.Status?.Conditions ?? []).FirstOrDefault(c => c.Type == "Ready") is { } c ? $"{c.Status} ({c.Reason}: {c.Message})" : "no Ready condition";
}

/// <summary>K3s specifics: where the admission config goes and the server arguments that wire it.</summary>
public static class K3sConfig
{
    /// <summary>Path of the PodSecurity admission config inside the K3s container.</summary>
    public const string AdmissionPath = "/var/lib/rancher/k3s/server/psa.yaml";

    /// <summary>Arguments appended to Testcontainers' <c>server --disable=traefik</c>.</summary>
    public static ImmutableArray<string> ExtraServerArgs() =>
        [$"--kube-apiserver-arg=admission-control-config-file={AdmissionPath}"];

    /// <summary>Imports a local image into K3s's containerd (K3s cannot pull the locally built probe image).</summary>
    internal static async Task LoadImageAsync(Harness.Docker.DockerHost docker, DotNet.Testcontainers.Containers.IContainer container, string image, CancellationToken ct)
    {
        var tar = await docker.SaveImageAsync(image, ct).ConfigureAwait(false);
        await container.CopyAsync(tar, "/tmp/harness-probe.tar", ct: ct).ConfigureAwait(false);
        var result = await container.ExecAsync(["ctr", "--namespace", "k8s.io", "images", "import", "/tmp/harness-probe.tar"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"importing {image} into K3s failed ({result.ExitCode}): {result.Stderr.Trim()}");
        }
    }
}
