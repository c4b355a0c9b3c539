// Verdicts: turning agent results and controls into Passed, Failed or Inconclusive with the mechanism.
using System.Globalization;
using Harness.Evidence;
using Harness.Probes;
using Harness.Protocol;

namespace Harness.Verdicts;

/// <summary>
/// Turns raw agent observations into verdicts. Pure: the same observations always give the same results.
/// The rule that makes a negative test worth something: a denial counts only when its mechanism is one the
/// probe accepts and its positive control succeeded; everything else is <see cref="ProbeStatus.Inconclusive"/>.
/// </summary>
internal static class Classifier
{
    /// <summary>Classifies every probe of <paramref name="plan"/> from the two agent reports.</summary>
    /// <param name="plan">The plan that was run.</param>
    /// <param name="target">The report from the target's security context.</param>
    /// <param name="outside">The report from the outside vantage, or null if none ran.</param>
    /// <param name="redactor">Scrubs secrets from evidence; <see cref="Redactor.Default"/> when null.</param>
    public static IReadOnlyList<ProbeResult> Classify(ProbePlan plan, AgentReport target, AgentReport? outside, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(target);
        redactor ??= Redactor.Default;
        var targetResults = target.Results.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var outsideResults = outside?.Results.ToDictionary(r => r.Id, StringComparer.Ordinal) ?? [];
        return plan.Probes.Select(p =>
        {
            targetResults.TryGetValue(p.Attempt.Id, out var attempt);
            StepResult? control = null;
            if (p.Control is { } c)
            {
                (c.Vantage == Vantage.Target ? targetResults : outsideResults).TryGetValue(c.Step.Id, out control);
            }
            return ClassifyOne(p, attempt, control, redactor);
        }).ToList();
    }

    /// <summary>Classifies one probe from its attempt and control observations (either may be missing).</summary>
    public static ProbeResult ClassifyOne(ProbeDefinition probe, StepResult? attempt, StepResult? control, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(probe);
        redactor ??= Redactor.Default;
        var controlEvidence = probe.Control is { } spec ? JudgeControl(spec, control, redactor) : null;
        var evidence = attempt is null
            ? new Evidence("no result: the agent did not report this step", null, null, null, new Dictionary<string, string>(), 0, controlEvidence)
            : new Evidence(redactor.Redact(attempt.Detail ?? attempt.Outcome), attempt.Errno, attempt.HttpStatus, attempt.StatusReason,
                redactor.Redact(attempt.Data ?? new Dictionary<string, string>()), attempt.DurationMs, controlEvidence);

        var verdict = attempt is null ? Verdict.Inconclusive("the agent did not report this step") : Observe(probe, attempt);
        var (status, explanation) = Judge(probe, verdict, controlEvidence, evidence.Data);
        return new ProbeResult(probe, verdict, status, explanation, evidence);
    }

    private static (ProbeStatus, string) Judge(ProbeDefinition probe, Verdict verdict, ControlEvidence? control, IReadOnlyDictionary<string, string> data)
    {
        var expectation = probe.Expectation;
        if (verdict.Kind == VerdictKind.Inconclusive)
        {
            return (ProbeStatus.Inconclusive, verdict.Reason ?? "inconclusive");
        }
        if (!expectation.ExpectDenied)
        {
            // Required access has its control too: when the same action fails where nothing polices it, the service is
            // missing or down on this cluster, and the denial is not the operator's configuration.
            return verdict.Kind == VerdictKind.Allowed ? (ProbeStatus.Passed, $"{probe.Title}: allowed, as required")
                : control is { Succeeded: false } ? (ProbeStatus.Inconclusive,
                    $"{probe.Title}: denied by {verdict.Mechanism}, but the control failed too ({control.Detail}): the cluster does not provide it even where nothing polices it, so this is not the operator's policy")
                : (ProbeStatus.Failed, $"{probe.Title}: denied by {verdict.Mechanism}, but it must be allowed" + (control is null ? "" : $"; control: {control.Proves}"));
        }
        if (verdict.Kind == VerdictKind.Allowed)
        {
            // A success needs no control: the protection is plainly absent.
            return (ProbeStatus.Failed, $"{probe.Title}: allowed, but it must be denied");
        }
        if (verdict.Mechanism is Mechanism.PermissionDenied or Mechanism.OperationNotPermitted && probe.Attempt.Kind == Protocol.StepKinds.FileWrite
            && expectation.Accepted.Contains(Mechanism.ReadOnlyFilesystem) && !expectation.Accepted.Contains(verdict.Mechanism.Value)
            && data.TryGetValue(Protocol.DataKeys.Mount, out var mount) && mount == "writable")
        {
            // The mount itself says it is writable (statvfs without ST_RDONLY): only this user's file permissions stopped the
            // write, which a process of another uid (or one that gains root) would not meet. A read-only mount answers EROFS.
            return (ProbeStatus.Failed,
                $"{probe.Title}: denied by {verdict.Mechanism}, not by a read-only filesystem: the mount is writable (statvfs: no ST_RDONLY), and only file permissions stopped this user");
        }
        if (!expectation.Accepted.Contains(verdict.Mechanism!.Value))
        {
            return (ProbeStatus.Inconclusive,
                $"{probe.Title}: denied by {verdict.Mechanism}, which this probe does not accept as proof (expects {string.Join(" or ", expectation.Accepted)})");
        }
        if (control is { Succeeded: false })
        {
            return (ProbeStatus.Inconclusive,
                $"{probe.Title}: denied by {verdict.Mechanism}, but the control failed ({control.Detail}), so the denial may have another cause");
        }
        return (ProbeStatus.Passed, $"{probe.Title}: denied by {verdict.Mechanism}" + (control is null ? "" : $"; control: {control.Proves}"));
    }

    private static ControlEvidence JudgeControl(ControlSpec spec, StepResult? result, Redactor redactor)
    {
        if (result is null)
        {
            return new(spec.Proves, false, $"the control step {spec.Step.Id} did not run", spec.Vantage);
        }
        var detail = redactor.Redact(result.Detail ?? result.Outcome);
        if (result.Outcome != StepOutcomes.Succeeded)
        {
            return new(spec.Proves, false, detail, spec.Vantage);
        }
        if (spec.SinkToken is not null)
        {
            var token = result.Data?.GetValueOrDefault(DataKeys.SinkToken);
            if (token != spec.SinkToken)
            {
                return new(spec.Proves, false, $"{detail}, but the answer did not come from the harness's sink (token {(token is null ? "missing" : "mismatch")})", spec.Vantage);
            }
        }
        if (result.HttpStatus is { } status && spec.Step.Kind == StepKinds.KubernetesRequest && status is < 200 or > 299)
        {
            return new(spec.Proves, false, detail, spec.Vantage);
        }
        return new(spec.Proves, true, detail, spec.Vantage);
    }

    /// <summary>What the attempt came to, regardless of what was expected.</summary>
    internal static Verdict Observe(ProbeDefinition probe, StepResult r)
    {
        if (r.Outcome == StepOutcomes.Error)
        {
            return Verdict.Inconclusive($"the agent could not make the attempt: {r.Detail}");
        }
        return probe.Interpretation switch
        {
            Interpretation.Errno => ObserveErrno(r),
            Interpretation.SetuidExec => ObserveSetuid(r),
            Interpretation.NonRootUid or Interpretation.NoCapabilities or Interpretation.NoNewPrivileges or Interpretation.Seccomp
                => ObserveProcess(probe, r),
            Interpretation.Network => ObserveNetwork(r),
            Interpretation.KubernetesApi => ObserveKubernetes(r),
            Interpretation.TokenClaims => ObserveToken(r),
            _ => Verdict.Inconclusive($"unknown interpretation {probe.Interpretation}"),
        };
    }

    private static Verdict ObserveErrno(StepResult r)
    {
        if (r.Outcome == StepOutcomes.Succeeded)
        {
            return Verdict.Allowed();
        }
        if (r.Outcome == StepOutcomes.TimedOut)
        {
            return Verdict.Inconclusive($"timed out: {r.Detail}");
        }
        return r.Errno switch
        {
            "EROFS" => Verdict.Denied(Mechanism.ReadOnlyFilesystem),
            "EACCES" => Verdict.Denied(Mechanism.PermissionDenied),
            "EPERM" => Verdict.Denied(Mechanism.OperationNotPermitted),
            "ENOENT" or "ENOTDIR" => Verdict.Inconclusive($"the target does not exist in this container ({r.Detail})"),
            "EINVAL" => Verdict.Inconclusive($"EINVAL says nothing about privilege ({r.Detail})"),
            "ENOSYS" => Verdict.Inconclusive($"the call is not implemented here ({r.Detail})"),
            _ => Verdict.Inconclusive($"{r.Errno ?? "no errno"} is not a denial this probe understands ({r.Detail})"),
        };
    }

    /// <summary>
    /// A token file: absent is <see cref="Mechanism.NoTokenMounted"/> (the control proves the path is readable at all);
    /// a token without expiry (a legacy Secret), not bound to a pod, or living longer than a day is Allowed; else
    /// <see cref="Mechanism.BoundShortLivedToken"/>. The lifetime is until the kubelet rotates it (<c>warnafter</c>) when
    /// the API server extends expiry for old clients, else until it expires.
    /// </summary>
    private static Verdict ObserveToken(StepResult r)
    {
        if (r.Outcome == StepOutcomes.Failed && r.Errno == "ENOENT")
        {
            return Verdict.Denied(Mechanism.NoTokenMounted);
        }
        if (r.Outcome != StepOutcomes.Succeeded || r.Data is null)
        {
            return Verdict.Inconclusive($"the token could not be read: {r.Errno ?? r.Outcome} {r.Detail}".TrimEnd());
        }
        static long? Number(IReadOnlyDictionary<string, string> data, string key) =>
            data.TryGetValue(key, out var v) && long.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
        var exp = Number(r.Data, JwtClaims.Expiry);
        var iat = Number(r.Data, JwtClaims.IssuedAt);
        if (exp is null)
        {
            return Verdict.Allowed();
        }
        if (!r.Data.ContainsKey(JwtClaims.Pod))
        {
            return Verdict.Allowed();
        }
        var lifetime = (Number(r.Data, JwtClaims.WarnAfter) ?? exp.Value) - (iat ?? exp.Value);
        return lifetime > ServiceAccounts.TokenExposureAnalyzer.MaxProjectedLifetimeSeconds ? Verdict.Allowed() : Verdict.Denied(Mechanism.BoundShortLivedToken);
    }

    private static Verdict ObserveSetuid(StepResult r)
    {
        if (r.Outcome != StepOutcomes.Succeeded)
        {
            // The helper itself did not run to completion: nothing was proven about setuid.
            return Verdict.Inconclusive($"the setuid helper did not report its identity ({r.Errno ?? r.Outcome}: {r.Detail})");
        }
        var euid = r.Data?.GetValueOrDefault("euid");
        return euid switch
        {
            null => Verdict.Inconclusive("the setuid helper did not report an euid"),
            "0" => Verdict.Allowed(),
            _ => Verdict.Denied(Mechanism.SetuidIgnored),
        };
    }

    private static Verdict ObserveProcess(ProbeDefinition probe, StepResult r)
    {
        if (r.Outcome != StepOutcomes.Succeeded || r.Data is null)
        {
            return Verdict.Inconclusive($"/proc/self/status could not be read: {r.Detail}");
        }
        var status = ProcessStatus.Parse(r.Data);
        if (status is null)
        {
            return Verdict.Inconclusive("/proc/self/status lacked the fields this probe reads");
        }
        return probe.Interpretation switch
        {
            Interpretation.NonRootUid => status.EffectiveUid != 0 ? Verdict.Denied(Mechanism.NonRootUser) : Verdict.Allowed(),
            Interpretation.NoCapabilities => status.HoldsNoCapabilitiesBeyond(Capabilities.MaskOf(probe.AllowedCapabilities))
                ? Verdict.Denied(Mechanism.NoCapabilities)
                : Verdict.Allowed(),
            Interpretation.NoNewPrivileges => status.NoNewPrivs ? Verdict.Denied(Mechanism.NoNewPrivileges) : Verdict.Allowed(),
            _ => status.SeccompMode is 1 or 2 ? Verdict.Denied(Mechanism.SeccompFilter) : Verdict.Allowed(),
        };
    }

    private static Verdict ObserveNetwork(StepResult r)
    {
        if (r.Outcome == StepOutcomes.Succeeded)
        {
            return Verdict.Allowed();
        }
        var stage = r.Data?.GetValueOrDefault("stage");
        if (r.Outcome == StepOutcomes.TimedOut)
        {
            return stage switch
            {
                "dns" => Verdict.Denied(Mechanism.DnsTimeout),
                "connect" => Verdict.Denied(Mechanism.ConnectTimeout),
                // A timeout after connecting (TLS, HTTP) means the destination was reachable.
                "tls" or "http" => Verdict.Inconclusive($"connected but the exchange timed out: {r.Detail}"),
                // No stage: the agent cannot say where it stalled; a stalled agent is not a dropped packet.
                _ => Verdict.Inconclusive($"timed out in an unknown stage ({stage ?? "none reported"}): {r.Detail}"),
            };
        }
        return r.Errno switch
        {
            "EAI_NONAME" or "EAI_NODATA" => Verdict.Denied(Mechanism.DnsNameNotFound),
            "EAI_AGAIN" => Verdict.Denied(Mechanism.DnsTimeout),
            "ETIMEDOUT" => Verdict.Denied(Mechanism.ConnectTimeout),
            "ENETUNREACH" => Verdict.Denied(Mechanism.NetworkUnreachable),
            "EHOSTUNREACH" => Verdict.Denied(Mechanism.HostUnreachable),
            "ECONNREFUSED" => Verdict.Denied(Mechanism.ConnectionRefused),
            "EPERM" or "EACCES" => Verdict.Denied(Mechanism.OperationNotPermitted),
            // A TLS failure happens after the packets got through: egress was possible.
            "TLS" => Verdict.Allowed(),
            _ => Verdict.Inconclusive($"{r.Errno ?? "no errno"}: {r.Detail}"),
        };
    }

    private static Verdict ObserveKubernetes(StepResult r)
    {
        if (r.Outcome == StepOutcomes.TimedOut)
        {
            // A timeout is a network symptom (NetworkPolicy on the API server?), never an RBAC denial.
            return Verdict.Inconclusive($"the API server did not answer in time: {r.Detail}");
        }
        if (r.HttpStatus is not { } status)
        {
            return Verdict.Inconclusive($"no HTTP status: {r.Detail}");
        }
        var message = r.Detail ?? "";
        return status switch
        {
            >= 200 and <= 299 => Verdict.Allowed(),
            401 => Verdict.Denied(Mechanism.Unauthenticated),
            403 when PodSecurityRefusal.IsRefusal(message) => Verdict.Denied(Mechanism.PodSecurityRejected),
            403 when message.Contains("admission webhook", StringComparison.Ordinal) => Verdict.Denied(Mechanism.AdmissionRejected),
            403 when r.StatusReason == "Forbidden" => Verdict.Denied(Mechanism.RbacForbidden),
            403 => Verdict.Inconclusive($"403 without a Kubernetes Status (a proxy?): {r.Detail}"),
            400 or 422 when message.Contains("admission webhook", StringComparison.Ordinal) => Verdict.Denied(Mechanism.AdmissionRejected),
            _ => Verdict.Inconclusive(string.Create(CultureInfo.InvariantCulture, $"HTTP {status} is neither success nor a denial: {r.Detail}")),
        };
    }
}
