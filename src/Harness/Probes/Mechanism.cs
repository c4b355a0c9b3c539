namespace Harness.Probes;

/// <summary>What stopped (or would have stopped) an attempt. A probe names the mechanisms it accepts as proof.</summary>
public enum Mechanism
{
    /// <summary>EROFS: the filesystem is mounted read-only.</summary>
    ReadOnlyFilesystem,

    /// <summary>EACCES: file permissions refused it (the filesystem itself is writable).</summary>
    PermissionDenied,

    /// <summary>EPERM: the kernel refused for lack of privilege (a capability, or a seccomp filter).</summary>
    OperationNotPermitted,

    /// <summary>A setuid-root program ran but kept the caller's euid (no_new_privs or a nosuid mount).</summary>
    SetuidIgnored,

    /// <summary>The process runs with a non-zero uid.</summary>
    NonRootUser,

    /// <summary>The process holds no capabilities beyond those the policy allows.</summary>
    NoCapabilities,

    /// <summary>no_new_privs is set on the process.</summary>
    NoNewPrivileges,

    /// <summary>A seccomp filter is in force (mode 2) or strict mode (1).</summary>
    SeccompFilter,

    /// <summary>A TCP connect got no answer: packets were dropped (the usual NetworkPolicy signature).</summary>
    ConnectTimeout,

    /// <summary>ENETUNREACH: no route to the destination network.</summary>
    NetworkUnreachable,

    /// <summary>EHOSTUNREACH: an ICMP host-unreachable or no neighbour.</summary>
    HostUnreachable,

    /// <summary>ECONNREFUSED: something answered with a reset (a REJECT rule, or nobody listening).</summary>
    ConnectionRefused,

    /// <summary>The name did not resolve (NXDOMAIN / no data).</summary>
    DnsNameNotFound,

    /// <summary>The resolver did not answer (EAI_AGAIN or the step's timeout during resolution).</summary>
    DnsTimeout,

    /// <summary>HTTP 403 from the API server's authorizer (RBAC).</summary>
    RbacForbidden,

    /// <summary>HTTP 403 from the PodSecurity admission plugin.</summary>
    PodSecurityRejected,

    /// <summary>HTTP 403 or 400 from another admission controller or webhook.</summary>
    AdmissionRejected,

    /// <summary>HTTP 401: the credentials were not accepted.</summary>
    Unauthenticated,

    /// <summary>No ServiceAccount token is mounted (automount off), while a file the kubelet mounts into every container is there.</summary>
    NoTokenMounted,

    /// <summary>The mounted token is bound to the pod and expires (or is rotated) within a day.</summary>
    BoundShortLivedToken,
}
