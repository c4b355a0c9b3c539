// ServiceAccounts: how the manifests expose ServiceAccount tokens (legacy Secrets, foreign tokens, automount, lifetimes).
using System.Collections.Immutable;
using Harness.Manifests;
using Harness.Preflight;
using Harness.Rbac;
using k8s.Models;

namespace Harness.ServiceAccounts;

/// <summary>
/// What the manifests say about ServiceAccount tokens, before anything runs: legacy long-lived token Secrets, pods that
/// mount another account's token, projected tokens that live long, and a token mounted into pods whose account the
/// manifests grant nothing (so it likely never calls the API). Pure.
/// </summary>
public static class TokenExposureAnalyzer
{
    /// <summary>Finding: a Secret of type <c>kubernetes.io/service-account-token</c> (a token that never expires).</summary>
    public const string LegacyToken = "SA-LEGACY-TOKEN";

    /// <summary>Finding: a pod mounts a token Secret of another ServiceAccount.</summary>
    public const string ForeignToken = "SA-FOREIGN-TOKEN";

    /// <summary>Finding: a projected token asks for a lifetime over <see cref="MaxProjectedLifetimeSeconds"/>.</summary>
    public const string LongLivedToken = "SA-TOKEN-LIFETIME";

    /// <summary>Finding: a token is mounted although the account is granted nothing in the manifests.</summary>
    public const string UnusedAutomount = "SA-AUTOMOUNT-UNUSED";

    /// <summary>The longest projected token lifetime accepted without a finding (24 h).</summary>
    public const long MaxProjectedLifetimeSeconds = 86_400;

    private const string TokenSecretType = "kubernetes.io/service-account-token";
    private const string AccountAnnotation = "kubernetes.io/service-account.name";

    /// <summary>The Secrets a pod spec mounts (secret volumes and projected secret sources): volume name and Secret name. Pure.</summary>
    public static IEnumerable<(string Volume, string Secret)> MountedSecrets(V1PodSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (spec.Volumes ?? []).SelectMany(v => new[] { v.Secret?.SecretName }
            .Concat((v.Projected?.Sources ?? []).Select(s => s.Secret?.Name))
            .Where(n => !string.IsNullOrEmpty(n))
            .Select(n => (v.Name, n!)));
    }

    /// <summary>
    /// The running pod's view: which of the Secrets it mounts are ServiceAccount tokens of another account, given the
    /// type and account annotation of each as the API server holds them (null for a Secret that does not exist). Pure.
    /// </summary>
    /// <param name="spec">The pod's spec.</param>
    /// <param name="subject">How findings name the pod (<c>Pod ns/name</c>).</param>
    /// <param name="secrets">Secret name → its type and <c>kubernetes.io/service-account.name</c> annotation.</param>
    public static ImmutableArray<Finding> ForeignTokenMounts(V1PodSpec spec, string subject, IReadOnlyDictionary<string, (string? Type, string? Account)> secrets)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(secrets);
        var account = string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName;
        return [.. MountedSecrets(spec)
            .Where(m => secrets.TryGetValue(m.Secret, out var s) && s.Type == TokenSecretType && (s.Account ?? "") != account)
            .Select(m => ForeignTokenFinding(subject, m.Volume, m.Secret, secrets[m.Secret].Account ?? "(unnamed)", account, "cluster", 1))];
    }

    /// <summary>The annotation naming a token Secret's ServiceAccount.</summary>
    public const string TokenAccountAnnotation = AccountAnnotation;

    /// <summary>The Secret type of a legacy ServiceAccount token.</summary>
    public const string TokenType = TokenSecretType;

    private static Finding ForeignTokenFinding(string subject, string volume, string secret, string owner, string account, string path, int line) =>
        new(ForeignToken, FindingSeverity.Error, subject,
            $"volume \"{volume}\" mounts the token Secret {secret} of ServiceAccount {owner}, not its own ({account}): the pod can act as that account", path, line);

    /// <summary>The findings for every workload and Secret in <paramref name="documents"/>.</summary>
    public static ImmutableArray<Finding> Analyze(IReadOnlyList<ManifestDocument> documents, RbacModel rbac, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(rbac);
        var findings = ImmutableArray.CreateBuilder<Finding>();
        var tokenSecrets = new Dictionary<(string Namespace, string Name), string>();
        foreach (var doc in documents.Where(d => d.Object is V1Secret { Type: TokenSecretType }))
        {
            var secret = (V1Secret)doc.Object!;
            var ns = doc.Namespace ?? defaultNamespace;
            var owner = secret.Metadata?.Annotations is { } a && a.TryGetValue(AccountAnnotation, out var name) ? name : "(no account annotation)";
            tokenSecrets[(ns, doc.Name)] = owner;
            findings.Add(new Finding(LegacyToken, FindingSeverity.Error, $"Secret {ns}/{doc.Name}",
                $"is a legacy ServiceAccount token for {owner}: it never expires and is not bound to a pod; use the kubelet's projected token (or the TokenRequest API) instead", doc.Path, doc.Line));
        }

        foreach (var doc in documents)
        {
            if (!PodTemplates.TryGet(doc.Object, out _, out var spec))
            {
                continue;
            }
            var ns = doc.Namespace ?? defaultNamespace;
            var subject = $"{doc.Kind} {ns}/{doc.Name}";
            var account = string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName;
            foreach (var (volumeName, secretName) in MountedSecrets(spec))
            {
                if (tokenSecrets.TryGetValue((ns, secretName), out var owner) && owner != account)
                {
                    findings.Add(ForeignTokenFinding(subject, volumeName, secretName, owner, account, doc.Path, doc.Line));
                }
            }
            foreach (var volume in spec.Volumes ?? [])
            {
                foreach (var token in (volume.Projected?.Sources ?? []).Select(s => s.ServiceAccountToken).Where(t => t is not null))
                {
                    if (token!.ExpirationSeconds is { } seconds && seconds > MaxProjectedLifetimeSeconds)
                    {
                        findings.Add(new Finding(LongLivedToken, FindingSeverity.Warning, subject,
                            $"volume \"{volume.Name}\" projects a token for {seconds} s (over {MaxProjectedLifetimeSeconds} s); the kubelet rotates it, but a stolen copy lives that long", doc.Path, doc.Line));
                    }
                }
            }
            var automount = spec.AutomountServiceAccountToken ?? AccountAutomount(documents, ns, account, defaultNamespace) ?? true;
            if (automount && rbac.GrantsFor(new ServiceAccountRef(ns, account)).IsEmpty)
            {
                findings.Add(new Finding(UnusedAutomount, FindingSeverity.Warning, subject,
                    $"mounts a token for ServiceAccount {account}, which these manifests grant nothing: if it never calls the API, set automountServiceAccountToken: false", doc.Path, doc.Line));
            }
        }
        return findings.ToImmutable();
    }

    private static bool? AccountAutomount(IReadOnlyList<ManifestDocument> documents, string ns, string account, string defaultNamespace) =>
        documents.FirstOrDefault(d => d.Object is V1ServiceAccount && d.Name == account && (d.Namespace ?? defaultNamespace) == ns)?.Object is V1ServiceAccount sa
            ? sa.AutomountServiceAccountToken
            : null;
}
