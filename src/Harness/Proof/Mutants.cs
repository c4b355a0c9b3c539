// Proof: mutants of the user's own operator, each removing one hardening control it has, and the kill matrix.
using System.Collections.Immutable;
using Harness.Manifests;
using Harness.PodSecurity;
using Harness.Probes;
using k8s;
using k8s.Models;

namespace Harness.Proof;

/// <summary>One mutant: the operator with exactly one hardening control removed, and the checklist item that must catch it.</summary>
/// <param name="Id">Stable id (<c>rootfs-writable</c>).</param>
/// <param name="Control">The control removed, in words.</param>
/// <param name="Item">The checklist item that must fail.</param>
/// <param name="Manifests">The mutated manifests, as documents (the rest unchanged).</param>
public sealed record Mutant(string Id, string Control, HardeningItem Item, ImmutableArray<ManifestDocument> Manifests)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Id}: {Control} (must fail {Item.Id()})";
}

/// <summary>What the derivation found: the mutants, the controls the operator does not have, and those no vehicle here can observe.</summary>
/// <param name="Mutants">One per control the operator has.</param>
/// <param name="Absent">Controls the operator does not have (no mutant: the ordinary checks already fail them).</param>
/// <param name="NotObservable">Controls the chosen vehicle cannot observe, and why (no mutant is run for them).</param>
public sealed record MutantSet(ImmutableArray<Mutant> Mutants, ImmutableArray<string> Absent, ImmutableArray<string> NotObservable)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Mutants.Length} mutants ({string.Join(", ", Mutants.Select(m => m.Id))}); absent: {string.Join("; ", Absent.DefaultIfEmpty("none"))}; not run: {string.Join("; ", NotObservable.DefaultIfEmpty("none"))}";
}

/// <summary>
/// Derives the mutants of an operator from its manifests (issue #28): one per hardening control its workload has, each
/// removing that control and nothing else. Pure: the caller's documents are never changed (each mutant re-reads them).
/// </summary>
public static class Mutants
{
    /// <summary>The mutants of <paramref name="workload"/>'s container <paramref name="container"/> among <paramref name="manifests"/>.</summary>
    /// <param name="manifests">The operator's manifests as loaded.</param>
    /// <param name="workload">The workload to mutate.</param>
    /// <param name="container">The container the probes observe.</param>
    /// <param name="onCluster">Whether the vehicle is a cluster's (RBAC and the payload are observable only there).</param>
    public static MutantSet Derive(IReadOnlyList<ManifestDocument> manifests, WorkloadRef workload, string container, bool onCluster)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        var doc = manifests.FirstOrDefault(d => d.Ref == workload) ?? throw new ArgumentException($"no {workload} among the manifests.", nameof(workload));
        if (!PodTemplates.TryGet(doc.Object, out var meta, out var pod))
        {
            throw new ArgumentException($"{workload} has no pod template.", nameof(workload));
        }
        var c = pod.Containers.FirstOrDefault(x => x.Name == container) ?? throw new ArgumentException($"{workload} has no container \"{container}\".", nameof(container));
        var sc = c.SecurityContext;
        var psc = pod.SecurityContext;
        var mutants = ImmutableArray.CreateBuilder<Mutant>();
        var absent = ImmutableArray.CreateBuilder<string>();
        var blind = ImmutableArray.CreateBuilder<string>();

        void Offer(bool has, string id, string control, HardeningItem item, Action<V1PodSpec, V1Container> mutate)
        {
            if (!has)
            {
                absent.Add($"{control} ({item.Id()})");
                return;
            }
            mutants.Add(new Mutant(id, control, item, Mutate(manifests, workload, container, mutate)));
        }

        Offer(sc?.ReadOnlyRootFilesystem == true, "rootfs-writable", "readOnlyRootFilesystem", HardeningItem.RootFilesystemReadOnly,
            (_, x) => x.SecurityContext.ReadOnlyRootFilesystem = false);
        Offer(sc?.AllowPrivilegeEscalation == false, "privilege-escalation-allowed", "allowPrivilegeEscalation: false", HardeningItem.NoPrivilegeEscalation,
            (_, x) => x.SecurityContext.AllowPrivilegeEscalation = true);
        var nonRoot = (sc?.RunAsNonRoot ?? psc?.RunAsNonRoot) == true || (sc?.RunAsUser ?? psc?.RunAsUser) is > 0;
        Offer(nonRoot, "runs-as-root", "a non-root user", HardeningItem.NonRoot, (p, x) =>
        {
            x.SecurityContext ??= new V1SecurityContext();
            x.SecurityContext.RunAsUser = 0;
            x.SecurityContext.RunAsNonRoot = false;
            if (p.SecurityContext is { } s)
            {
                s.RunAsNonRoot = false;
            }
        });
        Offer(sc?.Capabilities?.Drop?.Contains("ALL") == true && (sc.Capabilities.Add ?? []).Count == 0, "capabilities-added", "capabilities dropped (ALL)", HardeningItem.CapabilitiesDropped,
            (_, x) => x.SecurityContext.Capabilities.Add = ["NET_RAW", "SYS_ADMIN"]);
        var seccomp = (sc?.SeccompProfile ?? psc?.SeccompProfile)?.Type is "RuntimeDefault" or "Localhost";
        Offer(seccomp, "seccomp-unconfined", "a seccomp profile", HardeningItem.Seccomp, (p, x) =>
        {
            x.SecurityContext.SeccompProfile = new V1SeccompProfile { Type = "Unconfined" };
            if (p.SecurityContext?.SeccompProfile is not null)
            {
                p.SecurityContext.SeccompProfile = new V1SeccompProfile { Type = "Unconfined" };
            }
        });

        // Egress: the operator's egress NetworkPolicies removed (the policies selecting its pods for Egress).
        var ns = doc.Namespace;
        var egress = manifests.Where(d => d.Object is V1NetworkPolicy p && d.Namespace == ns && (p.Spec.PolicyTypes ?? []).Contains("Egress")
            && Labels.Matches(p.Spec.PodSelector, meta?.Labels)).ToList();
        if (egress.Count == 0)
        {
            absent.Add("egress NetworkPolicies (egress-default-deny)");
        }
        else
        {
            mutants.Add(new Mutant("egress-policies-removed", $"egress NetworkPolicies ({string.Join(", ", egress.Select(e => e.Name))})", HardeningItem.EgressDefaultDeny,
                [.. manifests.Where(d => !egress.Contains(d)).Select(Copy)]));
        }

        // A legacy token Secret of its account, mounted.
        var account = string.IsNullOrEmpty(pod.ServiceAccountName) ? "default" : pod.ServiceAccountName;
        var tokenSecret = new V1Secret
        {
            ApiVersion = "v1", Kind = "Secret", Type = "kubernetes.io/service-account-token",
            Metadata = new V1ObjectMeta { Name = $"{account}-legacy-token", NamespaceProperty = ns, Annotations = new Dictionary<string, string> { ["kubernetes.io/service-account.name"] = account } },
        };
        var withToken = Mutate(manifests, workload, container, (p, x) =>
        {
            p.Volumes = [.. p.Volumes ?? [], new V1Volume { Name = "legacy-token", Secret = new V1SecretVolumeSource { SecretName = tokenSecret.Metadata.Name } }];
            x.VolumeMounts = [.. x.VolumeMounts ?? [], new V1VolumeMount { Name = "legacy-token", MountPath = "/var/run/secrets/legacy", ReadOnlyProperty = true }];
        });
        mutants.Add(new Mutant("legacy-token-mounted", "the absence of a legacy token Secret", HardeningItem.ServiceAccountToken,
            [.. withToken, Document(tokenSecret, doc.Path)]));

        // The namespace's PodSecurity enforce label lowered.
        if (manifests.FirstOrDefault(d => d.Kind == "Namespace" && d.Name == ns) is { } nsDoc
            && nsDoc.Object?.Metadata?.Labels?.TryGetValue(PodSecurityEvaluator.EnforceLabel, out var level) == true && level == "restricted")
        {
            mutants.Add(new Mutant("namespace-privileged", $"namespace {ns} enforcing restricted", HardeningItem.NamespacePodSecurity,
                [.. manifests.Select(d => d == nsDoc ? Relabel(d) : Copy(d))]));
        }
        else
        {
            absent.Add($"a Namespace manifest for {ns} enforcing restricted (namespace-psa)");
        }

        blind.Add(onCluster
            ? "a RoleBinding granting Secrets read (serviceaccount-least-privilege): this version derives no RBAC mutant yet"
            : "a RoleBinding granting Secrets read (serviceaccount-least-privilege): the access matrix needs a cluster");
        blind.Add(onCluster
            ? "a privileged payload template (payload-separation): this version derives no payload mutant yet"
            : "a privileged payload template (payload-separation): the payload inventory needs a cluster");
        return new MutantSet(mutants.ToImmutable(), absent.ToImmutable(), blind.ToImmutable());
    }

    private static ImmutableArray<ManifestDocument> Mutate(IReadOnlyList<ManifestDocument> manifests, WorkloadRef workload, string container, Action<V1PodSpec, V1Container> change) =>
    [
        .. manifests.Select(d =>
        {
            var copy = Copy(d);
            if (d.Ref == workload && PodTemplates.TryGet(copy.Object, out _, out var spec))
            {
                var c = spec.Containers.Single(x => x.Name == container);
                c.SecurityContext ??= new V1SecurityContext();
                c.SecurityContext.Capabilities ??= new V1Capabilities();
                change(spec, c);
            }
            return copy;
        }),
    ];

    // A deep copy, read back as the loader reads a document (its source kept).
    private static ManifestDocument Copy(ManifestDocument d) => d.Object is null ? d
        : d with { Object = ManifestLoader.LoadText(KubernetesJson.Serialize(d.Object), d.Path).Single().Object };

    private static ManifestDocument Relabel(ManifestDocument d)
    {
        var copy = Copy(d);
        copy.Object!.Metadata.Labels[PodSecurityEvaluator.EnforceLabel] = "privileged";
        return copy;
    }

    private static ManifestDocument Document(IKubernetesObject<V1ObjectMeta> o, string path) =>
        new(path, 0, o.ApiVersion, o.Kind, o.Metadata.Name, o.Metadata.NamespaceProperty, o, "");

    /// <summary>The documents as one YAML stream (what a mutant's run reads). Pure.</summary>
    public static string ToYaml(IEnumerable<ManifestDocument> documents) =>
        string.Join("---\n", documents.Where(d => d.Object is not null).Select(d => KubernetesYaml.Serialize(d.Object).TrimEnd('\n') + "\n"));
}
