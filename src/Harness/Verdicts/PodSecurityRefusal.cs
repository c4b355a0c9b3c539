using System.Collections.Immutable;
using Harness.Probes;

namespace Harness.Verdicts;

/// <summary>
/// The API server's PodSecurity admission refused a pod of the operator (its own, through its controller's
/// <c>FailedCreate</c>, or the harness's twin or debug container built from the operator's spec). That refusal is the
/// verdict: the operator cannot run where restricted is enforced, for the reasons the server names.
/// </summary>
/// <param name="Subject">What was refused (<c>pod x</c>, <c>ReplicaSet y</c>).</param>
/// <param name="Message">The server's words, e.g. <c>pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (...)</c>.</param>
public sealed record PodSecurityRefusal(string Subject, string Message)
{
    /// <summary>The marker PodSecurity admission puts in every refusal.</summary>
    internal const string Marker = "violates PodSecurity";

    /// <summary>Whether a server message is a PodSecurity refusal.</summary>
    public static bool IsRefusal(string? message) => message?.Contains(Marker, StringComparison.Ordinal) == true;

    /// <summary>
    /// The checklist items the refusal names, from the Pod Security Standards' check names in the message
    /// (<c>allowPrivilegeEscalation != false</c>, <c>unrestricted capabilities</c>, <c>runAsNonRoot != true</c>,
    /// <c>seccompProfile</c>, ...); always <see cref="HardeningItem.NamespacePodSecurity"/>, whose level refused it.
    /// </summary>
    public ImmutableArray<HardeningItem> Items
    {
        get
        {
            var items = ImmutableArray.CreateBuilder<HardeningItem>();
            items.Add(HardeningItem.NamespacePodSecurity);
            var violations = Message[(Message.IndexOf(Marker, StringComparison.Ordinal) is var i and >= 0 ? i : 0)..];
            void When(bool named, HardeningItem item)
            {
                if (named && !items.Contains(item))
                {
                    items.Add(item);
                }
            }
            bool Has(string text) => violations.Contains(text, StringComparison.Ordinal);
            When(Has("allowPrivilegeEscalation") || Has("privileged") || Has("host namespaces") || Has("hostPath") || Has("hostPort") || Has("procMount"), HardeningItem.NoPrivilegeEscalation);
            When(Has("capabilities"), HardeningItem.CapabilitiesDropped);
            When(Has("runAsNonRoot") || Has("runAsUser=0"), HardeningItem.NonRoot);
            When(Has("seccompProfile") || Has("seLinuxOptions") || Has("appArmor"), HardeningItem.Seccomp);
            return items.ToImmutable();
        }
    }

    /// <summary>The mission checks the refusal fails: those whose items it names.</summary>
    public ImmutableArray<HardeningCheck> Checks
    {
        get
        {
            var items = Items;
            var checks = ImmutableArray.CreateBuilder<HardeningCheck>();
            if (items.Contains(HardeningItem.NoPrivilegeEscalation) || items.Contains(HardeningItem.CapabilitiesDropped))
            {
                checks.Add(HardeningCheck.PrivilegeEscalationDenied);
            }
            if (items.Contains(HardeningItem.NonRoot) || items.Contains(HardeningItem.CapabilitiesDropped) || items.Contains(HardeningItem.Seccomp) || items.Contains(HardeningItem.NoPrivilegeEscalation))
            {
                checks.Add(HardeningCheck.ProcessHardening);
            }
            return checks.ToImmutable();
        }
    }

    /// <summary>One evidence line.</summary>
    public string Evidence => $"PodSecurity refused {Subject}: {Message}";

    /// <inheritdoc/>
    public override string ToString() => Evidence;
}

/// <summary>PodSecurity admission refused a pod the run needs; <see cref="Refusal"/> is the verdict it carries.</summary>
/// <param name="refusal">The refusal, in the server's words.</param>
public sealed class PodSecurityRefusedException(PodSecurityRefusal refusal) : Exception(refusal?.Evidence)
{
    /// <summary>The refusal.</summary>
    public PodSecurityRefusal Refusal { get; } = refusal ?? throw new ArgumentNullException(nameof(refusal));

    /// <summary>The refusal in a 403 from the API server, or null when it is not one.</summary>
    internal static PodSecurityRefusedException? From(k8s.Autorest.HttpOperationException e, string subject)
    {
        return e.Response?.StatusCode == System.Net.HttpStatusCode.Forbidden && Kubernetes.KubernetesExec.Status(e)?.Message is { } message && PodSecurityRefusal.IsRefusal(message)
            ? new PodSecurityRefusedException(new PodSecurityRefusal(subject, message))
            : null;
    }
}
