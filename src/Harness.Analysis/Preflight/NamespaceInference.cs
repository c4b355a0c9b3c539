using Harness.Manifests;
using k8s.Models;

namespace Harness.Preflight;

/// <summary>
/// Where namespace-less install files are analysed. Released install files usually leave <c>metadata.namespace</c> off
/// namespaced objects (<c>kubectl apply -n argocd -f install.yaml</c>) while their bindings name the install namespace in
/// <c>subjects</c>: analysed in <c>default</c>, those bindings would match nothing and their grants would vanish. When
/// every binding subject that names one of the namespace-less accounts names the same namespace, that namespace is used,
/// and a note says so; when they name several, a warning names them and the flag. Pure.
/// </summary>
internal static class NamespaceInference
{
    /// <summary>The finding id of an ambiguous install namespace.</summary>
    public const string Ambiguous = "NAMESPACE-AMBIGUOUS";

    /// <summary>The namespace to analyse namespace-less objects in, and the note or warning that says why.</summary>
    /// <param name="documents">The manifests.</param>
    /// <param name="given">The namespace the user gave (<c>--namespace</c>); it wins.</param>
    public static (string Namespace, string? Note, Finding? Warning) Resolve(IReadOnlyList<ManifestDocument> documents, string? given)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (given is not null)
        {
            return (given, null, null);
        }
        var accounts = documents.Where(d => d.Object is V1ServiceAccount && d.Namespace is null).Select(d => d.Name)
            .Concat(documents.Where(d => d.Namespace is null && PodTemplates.TryGet(d.Object, out _, out _))
                .Select(d => PodTemplates.TryGet(d.Object, out _, out var spec) && !string.IsNullOrEmpty(spec.ServiceAccountName) ? spec.ServiceAccountName : "default"))
            .ToHashSet(StringComparer.Ordinal);
        if (accounts.Count == 0)
        {
            return ("default", null, null);
        }
        var subjects = documents
            .SelectMany(d => d.Object switch
            {
                V1ClusterRoleBinding b => (b.Subjects ?? []).Select(s => (Doc: d, Subject: s)),
                V1RoleBinding b => (b.Subjects ?? []).Select(s => (Doc: d, Subject: s)),
                _ => [],
            })
            .Where(x => x.Subject.Kind == "ServiceAccount" && !string.IsNullOrEmpty(x.Subject.NamespaceProperty) && accounts.Contains(x.Subject.Name))
            .ToList();
        var named = subjects.Select(x => x.Subject.NamespaceProperty).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var who = string.Join(", ", accounts.Order(StringComparer.Ordinal));
        return named.Count switch
        {
            0 => ("default", $"namespace-less objects are analysed in namespace default (what `kubectl apply` uses without -n); give --namespace if they are installed elsewhere", null),
            1 => (named[0], $"namespace-less objects are analysed in namespace {named[0]}: the bindings name it for ServiceAccount {who} (give --namespace to choose another)", null),
            _ => ("default", null, new Finding(Ambiguous, FindingSeverity.Warning, $"ServiceAccount {who}",
                $"the bindings name these namespace-less accounts in several namespaces ({string.Join(", ", named)}): analysed in default, so bindings to the others match nothing; give --namespace NAME",
                subjects[0].Doc.Path, subjects[0].Doc.Line)),
        };
    }
}
