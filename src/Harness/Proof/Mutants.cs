// Proof: mutants of the user's own operator, each removing one hardening control it has, and the kill matrix.
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Harness.Manifests;
using Harness.PodSecurity;
using Harness.Probes;
using Harness.Rbac;
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
/// <param name="NotObservable">Controls no mutant is run for, and why: the chosen vehicle cannot observe them, or the manifests give nothing to mutate.</param>
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
            absent.Add($"egress NetworkPolicies ({HardeningItem.EgressDefaultDeny.Id()})");
        }
        else
        {
            mutants.Add(new Mutant("egress-policies-removed", $"egress NetworkPolicies ({string.Join(", ", egress.Select(e => e.Name))})", HardeningItem.EgressDefaultDeny,
                [.. manifests.Where(d => !egress.Contains(d))]));
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
                [.. manifests.Select(d => d == nsDoc ? Relabel(d) : d)]));
        }
        else
        {
            absent.Add($"a Namespace manifest for {ns} enforcing restricted ({HardeningItem.NamespacePodSecurity.Id()})");
        }

        // Its account's Secrets: a Role granting get/list/watch on Secrets in its namespace, bound to its account.
        var accountRef = new ServiceAccountRef(ns ?? "default", account);
        if (RbacModel.From(manifests, ns ?? "default").Allows(accountRef, "list", "", "secrets", ns ?? "default"))
        {
            absent.Add($"a ServiceAccount ({account}) that cannot read Secrets (serviceaccount-least-privilege)");
        }
        else if (!onCluster)
        {
            blind.Add("a ServiceAccount that cannot read Secrets (serviceaccount-least-privilege): the access matrix needs a cluster");
        }
        else
        {
            mutants.Add(new Mutant("secrets-readable", $"ServiceAccount {account} unable to read Secrets", HardeningItem.ServiceAccountLeastPrivilege,
                [.. manifests, .. SecretsReader(account, ns, doc.Path)]));
        }

        // The payload: a custom resource's container securityContexts made privileged (what the operator is asked to create).
        var payload = PrivilegedPayload(manifests);
        if (payload.Error is { } why)
        {
            blind.Add($"a restricted payload (payload-separation): {why}");
        }
        else if (!onCluster)
        {
            blind.Add("a restricted payload (payload-separation): the payload inventory needs a cluster");
        }
        else
        {
            mutants.Add(new Mutant("payload-privileged", $"a restricted payload ({payload.Where})", HardeningItem.PayloadSeparation, payload.Manifests));
        }
        return new MutantSet(mutants.ToImmutable(), absent.ToImmutable(), blind.ToImmutable());
    }

    private static ImmutableArray<ManifestDocument> Mutate(IReadOnlyList<ManifestDocument> manifests, WorkloadRef workload, string container, Action<V1PodSpec, V1Container> change) =>
    [
        .. manifests.Select(d =>
        {
            if (d.Ref != workload || d.Object is null)
            {
                return d;
            }
            var copy = Copy(d);
            if (PodTemplates.TryGet(copy.Object, out _, out var spec))
            {
                var c = spec.Containers.Single(x => x.Name == container);
                c.SecurityContext ??= new V1SecurityContext();
                c.SecurityContext.Capabilities ??= new V1Capabilities();
                change(spec, c);
            }
            return Rendered(copy);
        }),
    ];

    // A deep copy, read back as the loader reads a document (its source kept).
    private static ManifestDocument Copy(ManifestDocument d) => d with { Object = ManifestLoader.LoadText(KubernetesJson.Serialize(d.Object), d.Path).Single().Object };

    // A changed document's text is its object's (JSON is YAML): the run applies the text, so an unchanged document keeps
    // its own, with what the typed object leaves out (a CRD's schemas, a custom resource).
    private static ManifestDocument Rendered(ManifestDocument d) => d with { Text = KubernetesJson.Serialize(d.Object) };

    // A Role granting Secrets read in the account's namespace and its binding (the namespace follows the run's, as the operator's own do).
    private static IEnumerable<ManifestDocument> SecretsReader(string account, string? ns, string path)
    {
        const string Name = "harness-mutant-secrets-reader";
        var role = new V1Role
        {
            ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "Role",
            Metadata = new V1ObjectMeta { Name = Name, NamespaceProperty = ns },
            Rules = [new V1PolicyRule { ApiGroups = [""], Resources = ["secrets"], Verbs = ["get", "list", "watch"] }],
        };
        var binding = new V1RoleBinding
        {
            ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "RoleBinding",
            Metadata = new V1ObjectMeta { Name = Name, NamespaceProperty = ns },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = Name },
            Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = account, NamespaceProperty = ns }],
        };
        return [Document(role, path), Document(binding, path)];
    }

    // Every custom resource in the manifests (an instance of a CRD they declare) with its container securityContexts made
    // privileged, as root, escalation allowed: the payload item must see what the operator then creates. An error, when
    // there is no CRD, no instance, or no instance that asks for a container: what it creates is then its code's choice.
    private static (ImmutableArray<ManifestDocument> Manifests, string Where, string? Error) PrivilegedPayload(IReadOnlyList<ManifestDocument> manifests)
    {
        var kinds = manifests.Select(d => d.Object).OfType<V1CustomResourceDefinition>().Select(c => (c.Spec.Group, c.Spec.Names.Kind)).ToHashSet();
        if (kinds.Count == 0)
        {
            return ([], "", "the manifests declare no CustomResourceDefinition, so there is no payload to make privileged");
        }
        var instances = manifests.Where(d => d.Object is null && kinds.Contains((d.ApiVersion.Contains('/', StringComparison.Ordinal) ? d.ApiVersion[..d.ApiVersion.IndexOf('/', StringComparison.Ordinal)] : "", d.Kind))).ToList();
        if (instances.Count == 0)
        {
            return ([], "", "the manifests hold no custom resource, so the operator is asked to create nothing");
        }
        var changed = new Dictionary<ManifestDocument, ManifestDocument>();
        var where = new List<string>();
        foreach (var cr in instances)
        {
            var json = YamlJson.FromText(cr.Text);
            var paths = new List<string>();
            Privilege(json?["spec"], "spec", paths);
            if (paths.Count > 0)
            {
                changed[cr] = cr with { Text = json!.ToJsonString() };
                where.Add($"{cr.DisplayName}: {string.Join(", ", paths)}");
            }
        }
        if (changed.Count == 0)
        {
            return ([], "", $"its custom resources ({string.Join(", ", instances.Select(i => i.DisplayName))}) carry no container or container securityContext to make privileged: what the operator creates is its code's choice");
        }
        return ([.. manifests.Select(d => changed.GetValueOrDefault(d, d))], string.Join("; ", where), null);
    }

    // The container securityContexts under node: every item of a containers/initContainers array that names an image, and
    // every securityContext holding a container-only field.
    private static void Privilege(JsonNode? node, string path, List<string> paths)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o.ToList())
                {
                    if (key is "containers" or "initContainers" && value is JsonArray items)
                    {
                        for (var i = 0; i < items.Count; i++)
                        {
                            if (items[i] is JsonObject c && c.ContainsKey("image"))
                            {
                                c["securityContext"] = Privileged(c["securityContext"] as JsonObject);
                                paths.Add($"{path}.{key}[{i}].securityContext");
                            }
                        }
                    }
                    else if (key == "securityContext" && value is JsonObject sc && !o.ContainsKey("image")
                        && (sc.ContainsKey("allowPrivilegeEscalation") || sc.ContainsKey("readOnlyRootFilesystem") || sc.ContainsKey("capabilities") || sc.ContainsKey("privileged")))
                    {
                        o["securityContext"] = Privileged(sc);
                        paths.Add($"{path}.securityContext");
                    }
                    else
                    {
                        Privilege(value, $"{path}.{key}", paths);
                    }
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    Privilege(a[i], $"{path}[{i}]", paths);
                }
                break;
        }
    }

    private static JsonObject Privileged(JsonObject? sc)
    {
        var result = sc?.DeepClone().AsObject() ?? [];
        result["privileged"] = true;
        result["allowPrivilegeEscalation"] = true;
        result["runAsUser"] = 0;
        result["runAsNonRoot"] = false;
        return result;
    }

    private static ManifestDocument Relabel(ManifestDocument d)
    {
        var copy = Copy(d);
        copy.Object!.Metadata.Labels[PodSecurityEvaluator.EnforceLabel] = "privileged";
        return Rendered(copy);
    }

    private static ManifestDocument Document(IKubernetesObject<V1ObjectMeta> o, string path) =>
        new(path, 0, o.ApiVersion, o.Kind, o.Metadata.Name, o.Metadata.NamespaceProperty, o, KubernetesJson.Serialize(o));

    /// <summary>
    /// The documents as one YAML stream (what a mutant's run reads): each document's own text, so what the typed model
    /// leaves out (a CRD's schemas, custom resources) reaches the run. Pure.
    /// </summary>
    public static string ToYaml(IEnumerable<ManifestDocument> documents) =>
        string.Join("---\n", documents.Where(d => !string.IsNullOrWhiteSpace(d.Text)).Select(d => d.Text.TrimEnd('\n') + "\n"));
}
