// Probes: what is attempted, the mechanisms accepted as proof, the controls, and the checks and checklist items each probe serves.
using System.Collections.Immutable;
using Harness.Protocol;

namespace Harness.Probes;

/// <summary>The hardening checks a probe belongs to; reports group verdicts by them.</summary>
public enum HardeningCheck
{
    /// <summary>Egress to destinations outside the allowlist fails.</summary>
    EgressDenied,

    /// <summary>The root filesystem (and other image paths) cannot be written.</summary>
    RootFilesystemReadOnly,

    /// <summary>Privilege escalation attempts fail, in the kernel and through the API.</summary>
    PrivilegeEscalationDenied,

    /// <summary>The ServiceAccount cannot read Secrets.</summary>
    SecretsNotReadable,

    /// <summary>The process runs with hardened attributes (non-root, no capabilities, no_new_privs, seccomp).</summary>
    ProcessHardening,

    /// <summary>Things that must keep working (DNS, the API server, the writable scratch directory).</summary>
    RequiredAccess,

    /// <summary>
    /// The ServiceAccount is quarantined in the API: no admission objects (policies, bindings, webhook configurations),
    /// no PodSecurity labels or RBAC outside its namespace, no CustomResourceDefinitions but its own, no kube-system
    /// ConfigMaps or Secrets. Opt-in (<c>OperatorExtendedHardeningTests</c>); not one of the mission's four.
    /// </summary>
    ApiQuarantined,

    /// <summary>
    /// The pod holds no long-lived ServiceAccount token: none mounted, or a projected token bound to the pod that expires or
    /// is rotated within a day. Opt-in (<c>OperatorExtendedHardeningTests</c>).
    /// </summary>
    TokenBound,

    /// <summary>
    /// What the operator creates for its custom resources is hardened too: workloads meet Pod Security restricted and do
    /// not run as the operator's account, and the RBAC it creates grants nothing dangerous. Opt-in.
    /// </summary>
    PayloadSeparated,

    /// <summary>
    /// The operator's admission webhooks serve a certificate that the webhook configuration's caBundle alone verifies, for
    /// the Service's DNS name, and that has not expired; checked from inside the cluster. Opt-in.
    /// </summary>
    WebhookTlsVerified,

    /// <summary>
    /// The operator's account has no right on the cluster beyond its declared rights (a rights file): every binding that
    /// reaches it, each excess confirmed by a SubjectAccessReview. Untested without a rights file.
    /// </summary>
    RightsDeclared,
}

/// <summary>The release checklist's items. Probes and access questions declare which they support; the checklist is a view of that.</summary>
public enum HardeningItem
{
    /// <summary><c>namespace-psa</c>: the namespace's PodSecurity labels enforce restricted.</summary>
    NamespacePodSecurity,

    /// <summary><c>rootfs-readonly</c>: read-only root filesystem, with an explicit writable emptyDir.</summary>
    RootFilesystemReadOnly,

    /// <summary><c>capabilities-dropped</c>: all capabilities dropped.</summary>
    CapabilitiesDropped,

    /// <summary><c>no-privilege-escalation</c>: no privilege escalation, in the kernel and through the API.</summary>
    NoPrivilegeEscalation,

    /// <summary><c>seccomp</c>: a seccomp profile is in force.</summary>
    Seccomp,

    /// <summary><c>non-root</c>: runs as a non-root uid and gid.</summary>
    NonRoot,

    /// <summary><c>egress-default-deny</c>: egress default-deny; only the API server, DNS and declared webhooks allowed.</summary>
    EgressDefaultDeny,

    /// <summary><c>serviceaccount-least-privilege</c>: no Secrets, nothing beyond its namespace.</summary>
    ServiceAccountLeastPrivilege,

    /// <summary><c>serviceaccount-token</c>: no legacy or foreign token; the mounted one is pod-bound and short-lived.</summary>
    ServiceAccountToken,

    /// <summary><c>images-pinned</c>: images pinned by digest.</summary>
    ImagesPinned,

    /// <summary><c>images-signed</c>: image signatures verify.</summary>
    ImagesSigned,

    /// <summary><c>webhook-ca-patch</c>: only the intended controllers may patch webhook CA bundles.</summary>
    WebhookCaPatch,

    /// <summary><c>api-quarantine</c>: no admission objects, no PodSecurity labels or RBAC elsewhere, no foreign CRDs, no kube-system configuration.</summary>
    ApiQuarantine,

    /// <summary><c>payload-separation</c>: what the operator creates is hardened too (Pod Security, its own account, no dangerous RBAC).</summary>
    PayloadSeparation,

    /// <summary><c>webhook-tls</c>: declared admission webhooks reach a Service port whose certificate the caBundle alone verifies, for the Service's name, unexpired.</summary>
    WebhookTls,

    /// <summary><c>rights-declared</c>: no right on the cluster beyond the operator's declared rights (a rights file).</summary>
    RightsDeclared,
}

/// <summary>Ids and titles of <see cref="HardeningItem"/>, as reports print them.</summary>
public static class HardeningItems
{
    /// <summary>Every item, in report order.</summary>
    public static ImmutableArray<HardeningItem> All { get; } = [.. Enum.GetValues<HardeningItem>()];

    /// <summary>The stable id (<c>rootfs-readonly</c>).</summary>
    public static string Id(this HardeningItem item) => item switch
    {
        HardeningItem.NamespacePodSecurity => "namespace-psa",
        HardeningItem.RootFilesystemReadOnly => "rootfs-readonly",
        HardeningItem.CapabilitiesDropped => "capabilities-dropped",
        HardeningItem.NoPrivilegeEscalation => "no-privilege-escalation",
        HardeningItem.Seccomp => "seccomp",
        HardeningItem.NonRoot => "non-root",
        HardeningItem.EgressDefaultDeny => "egress-default-deny",
        HardeningItem.ServiceAccountLeastPrivilege => "serviceaccount-least-privilege",
        HardeningItem.ImagesPinned => "images-pinned",
        HardeningItem.ImagesSigned => "images-signed",
        HardeningItem.WebhookCaPatch => "webhook-ca-patch",
        HardeningItem.ApiQuarantine => "api-quarantine",
        HardeningItem.ServiceAccountToken => "serviceaccount-token",
        HardeningItem.PayloadSeparation => "payload-separation",
        HardeningItem.WebhookTls => "webhook-tls",
        HardeningItem.RightsDeclared => "rights-declared",
        _ => throw new ArgumentOutOfRangeException(nameof(item), item, null),
    };

    /// <summary>The checklist wording.</summary>
    public static string Title(this HardeningItem item) => item switch
    {
        HardeningItem.NamespacePodSecurity => "Namespace PodSecurity labels enforce restricted",
        HardeningItem.RootFilesystemReadOnly => "Read-only root filesystem, with an explicit writable emptyDir",
        HardeningItem.CapabilitiesDropped => "All capabilities dropped",
        HardeningItem.NoPrivilegeEscalation => "No privilege escalation (kernel and API)",
        HardeningItem.Seccomp => "A seccomp profile is in force",
        HardeningItem.NonRoot => "Runs as a non-root uid and gid",
        HardeningItem.EgressDefaultDeny => "Egress default-deny; only the API server, DNS and declared webhooks allowed",
        HardeningItem.ServiceAccountLeastPrivilege => "ServiceAccount least privilege: no Secrets, nothing beyond its namespace",
        HardeningItem.ImagesPinned => "Images pinned by digest",
        HardeningItem.ImagesSigned => "Image signatures verify (cosign)",
        HardeningItem.WebhookCaPatch => "Only the intended controllers may patch webhook CA bundles",
        HardeningItem.ApiQuarantine => "API quarantine: no admission objects, no PodSecurity labels or RBAC elsewhere, no foreign CRDs, no kube-system reads",
        HardeningItem.ServiceAccountToken => "ServiceAccount token: no legacy or foreign token; the mounted one is pod-bound and lives at most a day",
        HardeningItem.PayloadSeparation => "Operator and payload separation: what it creates meets restricted, runs under its own account, and gets no dangerous RBAC",
        HardeningItem.WebhookTls => "Webhook TLS: Service and port exist, the caBundle alone verifies the serving certificate for the Service's name, and it has not expired",
        HardeningItem.RightsDeclared => "Declared rights hold: no right on the cluster beyond the operator's rights file",
        _ => throw new ArgumentOutOfRangeException(nameof(item), item, null),
    };

    /// <summary>The items a probe of <paramref name="check"/> supports when it declares none (user-defined probes).</summary>
    public static ImmutableArray<HardeningItem> Default(HardeningCheck check) => check switch
    {
        HardeningCheck.EgressDenied or HardeningCheck.RequiredAccess => [HardeningItem.EgressDefaultDeny],
        HardeningCheck.RootFilesystemReadOnly => [HardeningItem.RootFilesystemReadOnly],
        HardeningCheck.PrivilegeEscalationDenied or HardeningCheck.ProcessHardening => [HardeningItem.NoPrivilegeEscalation],
        HardeningCheck.SecretsNotReadable => [HardeningItem.ServiceAccountLeastPrivilege],
        HardeningCheck.ApiQuarantined => [HardeningItem.ApiQuarantine],
        HardeningCheck.TokenBound => [HardeningItem.ServiceAccountToken],
        HardeningCheck.PayloadSeparated => [HardeningItem.PayloadSeparation],
        HardeningCheck.WebhookTlsVerified => [HardeningItem.WebhookTls],
        HardeningCheck.RightsDeclared => [HardeningItem.RightsDeclared],
        _ => [],
    };
}

/// <summary>How the agent's raw observation is turned into a verdict.</summary>
public enum Interpretation
{
    /// <summary>Success is <see cref="Verdicts.VerdictKind.Allowed"/>; a failure's errno names the mechanism.</summary>
    Errno,

    /// <summary>A setuid-root helper ran: euid 0 is Allowed, anything else is <see cref="Mechanism.SetuidIgnored"/>.</summary>
    SetuidExec,

    /// <summary>Process attribute: a non-zero effective uid.</summary>
    NonRootUid,

    /// <summary>Process attribute: no effective, permitted or ambient capabilities and a bounding set inside the allowed set.</summary>
    NoCapabilities,

    /// <summary>Process attribute: no_new_privs set.</summary>
    NoNewPrivileges,

    /// <summary>Process attribute: seccomp filter in force.</summary>
    Seccomp,

    /// <summary>A network attempt: connected/answered is Allowed; resets, drops and DNS failures name their mechanism.</summary>
    Network,

    /// <summary>A Kubernetes API request: 2xx is Allowed; 401/403 name RBAC, PodSecurity or admission.</summary>
    KubernetesApi,

    /// <summary>A ServiceAccount token's claims: none mounted or pod-bound and short-lived is a denial; a legacy, unbound or long-lived token is Allowed.</summary>
    TokenClaims,
}

/// <summary>Where a control runs.</summary>
public enum Vantage
{
    /// <summary>In the same agent run as the attempt: same pod, same identity, same mounts.</summary>
    Target,

    /// <summary>From a vantage point without the protection (a control pod outside the policed namespace, a container on the sink network).</summary>
    Outside,
}

/// <summary>
/// A positive control: an attempt that must succeed for a denial to mean anything. It proves the probe's machinery
/// works (the binary exists, the sink is up, the token is valid) so that a failure of the real attempt is the
/// protection's doing and not an accident.
/// </summary>
/// <param name="Step">The agent step. Several probes may share one control by using the same step id.</param>
/// <param name="Vantage">Where the control runs.</param>
/// <param name="Proves">What success demonstrates, in words a report reader understands.</param>
/// <param name="SinkToken">When set, the control only counts if the answer carried this sink token.</param>
public sealed record ControlSpec(AgentStep Step, Vantage Vantage, string Proves, string? SinkToken = null);

/// <summary>What a probe expects to see.</summary>
public sealed record Expectation
{
    private Expectation(bool denied, ImmutableArray<Mechanism> accepted)
    {
        ExpectDenied = denied;
        Accepted = accepted;
    }

    /// <summary>True when the attempt must be denied; false when it must be allowed.</summary>
    public bool ExpectDenied { get; }

    /// <summary>For a denial: the mechanisms accepted as proof. Any other denial is inconclusive.</summary>
    public ImmutableArray<Mechanism> Accepted { get; }

    /// <summary>The attempt must fail by one of <paramref name="mechanisms"/>.</summary>
    /// <exception cref="ArgumentException">No mechanism given.</exception>
    public static Expectation Denied(params Mechanism[] mechanisms) =>
        mechanisms.Length == 0
            ? throw new ArgumentException("A denial must name at least one accepted mechanism.", nameof(mechanisms))
            : new(true, [.. mechanisms.Distinct()]);

    /// <summary>
    /// The denials that can be proof for a probe read this way, when a user turns an expected-allowed probe into an
    /// expected-denied one: never "any failure" (a crash or a missing binary is not a denial).
    /// </summary>
    public static Expectation DeniedByDefaultFor(Interpretation interpretation) => interpretation switch
    {
        Interpretation.Errno => Denied(Mechanism.ReadOnlyFilesystem, Mechanism.OperationNotPermitted),
        Interpretation.SetuidExec => Denied(Mechanism.SetuidIgnored),
        Interpretation.NonRootUid => Denied(Mechanism.NonRootUser),
        Interpretation.NoCapabilities => Denied(Mechanism.NoCapabilities),
        Interpretation.NoNewPrivileges => Denied(Mechanism.NoNewPrivileges),
        Interpretation.Seccomp => Denied(Mechanism.SeccompFilter),
        Interpretation.Network => Denied(Mechanism.ConnectTimeout, Mechanism.NetworkUnreachable, Mechanism.HostUnreachable, Mechanism.OperationNotPermitted, Mechanism.DnsNameNotFound, Mechanism.DnsTimeout),
        Interpretation.KubernetesApi => Denied(Mechanism.RbacForbidden, Mechanism.PodSecurityRejected, Mechanism.AdmissionRejected, Mechanism.Unauthenticated),
        Interpretation.TokenClaims => Denied(Mechanism.NoTokenMounted, Mechanism.BoundShortLivedToken),
        _ => throw new ArgumentOutOfRangeException(nameof(interpretation), interpretation, "no denial is defined for this interpretation"),
    };

    /// <summary>The attempt must succeed (allowlisted egress, the writable scratch directory, the API server).</summary>
    public static Expectation Allowed() => new(false, []);

    /// <inheritdoc />
    public override string ToString() =>
        ExpectDenied ? $"denied by {string.Join(" or ", Accepted)}" : "allowed";
}

/// <summary>One probe: what to attempt, what to expect, and the control that makes the verdict trustworthy.</summary>
/// <param name="Id">Stable id, unique within a plan (<c>fs.root</c>, <c>egress.sink.tcp</c>).</param>
/// <param name="Title">One line for reports.</param>
/// <param name="Check">The hardening check it supports.</param>
/// <param name="Attempt">The agent step that makes the attempt; its id is the probe id.</param>
/// <param name="Interpretation">How to read the observation.</param>
/// <param name="Expectation">What must happen.</param>
/// <param name="Control">The positive control, or null when the observation is its own control (process attributes).</param>
public sealed record ProbeDefinition(
    string Id,
    string Title,
    HardeningCheck Check,
    AgentStep Attempt,
    Interpretation Interpretation,
    Expectation Expectation,
    ControlSpec? Control)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>For <see cref="Interpretation.NoCapabilities"/>: capability names (<c>CAP_NET_BIND_SERVICE</c>) the bounding set may keep.</summary>
    public ImmutableArray<string> AllowedCapabilities { get; init; } = [];

    /// <summary>The checklist items this probe's verdict counts for; by default those of its <see cref="Check"/>.</summary>
    public ImmutableArray<HardeningItem> Items
    {
        get => items ?? HardeningItems.Default(Check);
        init => items = value;
    }

    private readonly ImmutableArray<HardeningItem>? items;
}
