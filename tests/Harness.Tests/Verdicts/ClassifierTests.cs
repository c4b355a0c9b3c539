using Harness.Probes;
using Harness.Protocol;
using Harness.Verdicts;

namespace Harness.Tests.Verdicts;

public sealed class ClassifierTests
{
    private static readonly ProbePlan Plan = Harness.Tests.Probes.TestPlans.Standard;

    private static ProbeDefinition P(string id) => Plan.Probes.Single(p => p.Id == id);

    private static StepResult Ok(string id, Dictionary<string, string>? data = null) =>
        new() { Id = id, Kind = "x", Outcome = StepOutcomes.Succeeded, Data = data, Detail = "ok" };

    private static StepResult Fail(string id, string errno, Dictionary<string, string>? data = null) =>
        new() { Id = id, Kind = "x", Outcome = StepOutcomes.Failed, Errno = errno, Data = data, Detail = errno };

    [Fact]
    public void ClassifyOne_ErofsWithWorkingControl_Passes()
    {
        var r = Classifier.ClassifyOne(P("fs.root"), Fail("fs.root", "EROFS"), Ok("control.fs.writable"));

        r.Verdict.Should().Be(Verdict.Denied(Mechanism.ReadOnlyFilesystem));
        r.Status.Should().Be(ProbeStatus.Passed);
        r.Evidence.Control!.Succeeded.Should().BeTrue();
    }

    [Theory]
    [InlineData(false, ProbeStatus.Inconclusive, "the control failed too")]
    [InlineData(true, ProbeStatus.Failed, "but it must be allowed")]
    public void ClassifyOne_RequiredDnsDenied_FailsOnlyWhenTheSameLookupWorksWhereNothingPolicesIt(bool controlResolves, ProbeStatus expected, string because)
    {
        // Issue #23 item 5: a cluster without DNS is not the operator's egress policy.
        var r = Classifier.ClassifyOne(P("dns.cluster"), Fail("dns.cluster", "EAI_AGAIN"), controlResolves ? Ok("control.dns.cluster") : Fail("control.dns.cluster", "EAI_AGAIN"));

        r.Status.Should().Be(expected);
        r.Explanation.Should().Contain(because);
        P("dns.cluster").Control!.Vantage.Should().Be(Vantage.Outside);
    }

    [Fact]
    public void ClassifyOne_EaccesWhereErofsIsExpected_IsInconclusiveNotPassed()
    {
        var r = Classifier.ClassifyOne(P("fs.root"), Fail("fs.root", "EACCES"), Ok("control.fs.writable"));

        r.Verdict.Should().Be(Verdict.Denied(Mechanism.PermissionDenied));
        r.Status.Should().Be(ProbeStatus.Inconclusive);
        r.Explanation.Should().Contain("does not accept").And.Contain("ReadOnlyFilesystem");
    }

    [Theory]
    [InlineData("writable", ProbeStatus.Failed, "the mount is writable")]
    [InlineData("read-only", ProbeStatus.Inconclusive, "does not accept")]
    [InlineData("unknown: EACCES", ProbeStatus.Inconclusive, "does not accept")]
    public void ClassifyOne_EaccesWithTheMountsOwnFlag_AWritableMountFails(string mount, ProbeStatus expected, string because)
    {
        // Issue #35: the direct-exec proof's writable-root mutant (the operator's image owns / as root, so a non-root write
        // gets EACCES) survived as Inconclusive; the mount's own flag shows the protection is absent.
        var r = Classifier.ClassifyOne(P("fs.root"), Fail("fs.root", "EACCES", new() { [DataKeys.Mount] = mount }), Ok("control.fs.writable"));

        r.Status.Should().Be(expected);
        r.Explanation.Should().Contain(because);
    }

    [Fact]
    public void ClassifyOne_DenialWithFailedControl_IsInconclusive()
    {
        var r = Classifier.ClassifyOne(P("fs.root"), Fail("fs.root", "EROFS"), Fail("control.fs.writable", "EROFS"));

        r.Status.Should().Be(ProbeStatus.Inconclusive);
        r.Explanation.Should().Contain("control failed");
    }

    [Fact]
    public void ClassifyOne_MissingControlResult_IsInconclusive()
    {
        Classifier.ClassifyOne(P("fs.root"), Fail("fs.root", "EROFS"), control: null).Status.Should().Be(ProbeStatus.Inconclusive);
    }

    [Fact]
    public void ClassifyOne_SuccessWhereDenialExpected_FailsEvenWithoutControl()
    {
        var r = Classifier.ClassifyOne(P("fs.root"), Ok("fs.root"), control: null);

        r.Verdict.Should().Be(Verdict.Allowed());
        r.Status.Should().Be(ProbeStatus.Failed);
    }

    [Theory]
    [InlineData("ENOENT")]
    [InlineData("EINVAL")]
    [InlineData("ENOSYS")]
    [InlineData("EIO")]
    public void ClassifyOne_ErrnoThatProvesNothing_IsInconclusive(string errno)
    {
        var r = Classifier.ClassifyOne(P("kernel.unshare-user"), Fail("kernel.unshare-user", errno), Ok("control.kernel.exec"));

        r.Verdict.Kind.Should().Be(VerdictKind.Inconclusive);
        r.Status.Should().Be(ProbeStatus.Inconclusive);
    }

    [Fact]
    public void ClassifyOne_AgentError_IsInconclusive()
    {
        var error = new StepResult { Id = "kernel.chroot", Kind = "kernel", Outcome = StepOutcomes.Error, Detail = "kernel helper /probe/bin/kprobe does not exist" };

        Classifier.ClassifyOne(P("kernel.chroot"), error, Ok("control.kernel.exec")).Status.Should().Be(ProbeStatus.Inconclusive);
    }

    [Theory]
    [InlineData("0", VerdictKind.Allowed)]
    [InlineData("1000", VerdictKind.Denied)]
    public void ClassifyOne_SetuidHelper_JudgesByEffectiveUid(string euid, VerdictKind expected)
    {
        var r = Classifier.ClassifyOne(P("kernel.setuid-helper"), Ok("kernel.setuid-helper", new() { ["euid"] = euid, ["uid"] = "1000" }), Ok("control.kernel.exec"));

        r.Verdict.Kind.Should().Be(expected);
    }

    private static Dictionary<string, string> Status(string uid = "1000 1000 1000 1000", string capEff = "0000000000000000",
        string capBnd = "0000000000000000", string nnp = "1", string seccomp = "2") => new()
        {
            ["Uid"] = uid, ["Gid"] = "1000 1000 1000 1000", ["Groups"] = "", ["CapInh"] = "0000000000000000", ["CapPrm"] = capEff,
            ["CapEff"] = capEff, ["CapBnd"] = capBnd, ["CapAmb"] = "0000000000000000", ["NoNewPrivs"] = nnp, ["Seccomp"] = seccomp,
        };

    [Fact]
    public void ClassifyOne_ProcessAttributes_HardenedStatus_AllDenied()
    {
        foreach (var id in new[] { "proc.non-root", "proc.capabilities", "proc.no-new-privs", "proc.seccomp" })
        {
            Classifier.ClassifyOne(P(id), Ok("proc.status", Status()), null).Status.Should().Be(ProbeStatus.Passed, id);
        }
    }

    [Fact]
    public void ClassifyOne_BoundingSetWithNetBindServiceOnly_IsStillNoCapabilities()
    {
        var r = Classifier.ClassifyOne(P("proc.capabilities"), Ok("proc.status", Status(capBnd: "0000000000000400")), null);

        r.Status.Should().Be(ProbeStatus.Passed, "restricted PSA allows adding NET_BIND_SERVICE");
    }

    [Fact]
    public void ClassifyOne_BoundingSetWithNetRaw_Fails()
    {
        Classifier.ClassifyOne(P("proc.capabilities"), Ok("proc.status", Status(capBnd: "0000000000002000")), null)
            .Status.Should().Be(ProbeStatus.Failed);
    }

    [Theory]
    [InlineData("proc.non-root", "0 0 0 0", "1", "2")]
    [InlineData("proc.no-new-privs", "1000 1000 1000 1000", "0", "2")]
    [InlineData("proc.seccomp", "1000 1000 1000 1000", "1", "0")]
    public void ClassifyOne_WeakProcessAttribute_Fails(string id, string uid, string nnp, string seccomp)
    {
        Classifier.ClassifyOne(P(id), Ok("proc.status", Status(uid: uid, nnp: nnp, seccomp: seccomp)), null)
            .Status.Should().Be(ProbeStatus.Failed);
    }

    [Fact]
    public void ClassifyOne_UnparsableProcStatus_IsInconclusive()
    {
        Classifier.ClassifyOne(P("proc.seccomp"), Ok("proc.status", new() { ["Uid"] = "x" }), null).Status.Should().Be(ProbeStatus.Inconclusive);
    }

    [Theory]
    [InlineData("connect", Mechanism.ConnectTimeout)]
    [InlineData("dns", Mechanism.DnsTimeout)]
    public void ClassifyOne_EgressTimeout_NamesTheStageItStalledIn(string stage, Mechanism mechanism)
    {
        var attempt = new StepResult { Id = "egress.sink.http", Kind = "net.http", Outcome = StepOutcomes.TimedOut, Data = new Dictionary<string, string> { ["stage"] = stage } };
        var control = Ok("control.egress.sink.http", new() { ["sinkToken"] = "tok123" });

        var r = Classifier.ClassifyOne(P("egress.sink.http"), attempt, control);

        r.Verdict.Should().Be(Verdict.Denied(mechanism));
        r.Status.Should().Be(ProbeStatus.Passed);
    }

    [Fact]
    public void ClassifyOne_EgressRefused_IsNotAcceptedByDefault()
    {
        var r = Classifier.ClassifyOne(P("egress.sink.tcp"), Fail("egress.sink.tcp", "ECONNREFUSED"), Ok("control.egress.sink.tcp"));

        r.Verdict.Should().Be(Verdict.Denied(Mechanism.ConnectionRefused));
        r.Status.Should().Be(ProbeStatus.Inconclusive, "a closed port looks the same as a REJECT rule");
    }

    [Fact]
    public void ClassifyOne_ControlAnsweredByAnotherServer_IsInconclusive()
    {
        var attempt = new StepResult { Id = "egress.sink.http", Kind = "net.http", Outcome = StepOutcomes.TimedOut, Data = new Dictionary<string, string> { ["stage"] = "connect" } };
        var control = Ok("control.egress.sink.http", new() { ["sinkToken"] = "someone-else" });

        var r = Classifier.ClassifyOne(P("egress.sink.http"), attempt, control);

        r.Status.Should().Be(ProbeStatus.Inconclusive);
        r.Evidence.Control!.Detail.Should().Contain("did not come from the harness's sink");
    }

    [Fact]
    public void ClassifyOne_TlsFailure_MeansEgressWasPossible()
    {
        Classifier.ClassifyOne(P("egress.sink.http"), Fail("egress.sink.http", "TLS"), Ok("control.egress.sink.http", new() { ["sinkToken"] = "tok123" }))
            .Verdict.Should().Be(Verdict.Allowed());
    }

    private static StepResult Api(string id, int status, string? reason, string detail) =>
        new() { Id = id, Kind = StepKinds.KubernetesRequest, Outcome = status < 300 ? StepOutcomes.Succeeded : StepOutcomes.Failed, HttpStatus = status, StatusReason = reason, Detail = detail };

    [Fact]
    public void ClassifyOne_Rbac403_IsRbacForbidden()
    {
        var r = Classifier.ClassifyOne(P("api.secrets.namespace"),
            Api("api.secrets.namespace", 403, "Forbidden", "GET /api/v1/namespaces/op/secrets → 403: secrets is forbidden: User \"system:serviceaccount:op:op\" cannot list resource \"secrets\""),
            Api("api.self", 201, null, "POST → 201"));

        r.Verdict.Should().Be(Verdict.Denied(Mechanism.RbacForbidden));
        r.Status.Should().Be(ProbeStatus.Passed);
    }

    [Fact]
    public void ClassifyOne_PodSecurity403_IsToldApartFromRbac()
    {
        var r = Classifier.ClassifyOne(P("api.pod.privileged"),
            Api("api.pod.privileged", 403, "Forbidden", "POST → 403: pods \"x\" is forbidden: violates PodSecurity \"restricted:latest\": privileged"),
            Api("api.self", 201, null, "POST → 201"));

        r.Verdict.Should().Be(Verdict.Denied(Mechanism.PodSecurityRejected));
        r.Status.Should().Be(ProbeStatus.Passed);
    }

    [Fact]
    public void ClassifyOne_ApiTimeout_IsNeverADenial()
    {
        var timeout = new StepResult { Id = "api.secrets.cluster", Kind = StepKinds.KubernetesRequest, Outcome = StepOutcomes.TimedOut, Detail = "the API server did not answer" };

        Classifier.ClassifyOne(P("api.secrets.cluster"), timeout, Api("api.self", 201, null, "ok")).Status.Should().Be(ProbeStatus.Inconclusive);
    }

    [Fact]
    public void ClassifyOne_ApiDenialWhileTokenIsRejected_IsInconclusive()
    {
        var r = Classifier.ClassifyOne(P("api.secrets.cluster"), Api("api.secrets.cluster", 403, "Forbidden", "forbidden"), Api("api.self", 401, "Unauthorized", "401"));

        r.Status.Should().Be(ProbeStatus.Inconclusive, "a denial means nothing while the token itself is not accepted");
    }

    [Fact]
    public void ClassifyOne_SecretsListed_Fails()
    {
        Classifier.ClassifyOne(P("api.secrets.namespace"), Api("api.secrets.namespace", 200, null, "GET → 200"), Api("api.self", 201, null, "ok"))
            .Status.Should().Be(ProbeStatus.Failed);
    }

    [Fact]
    public void Classify_EvidenceIsRedacted()
    {
        var jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlc2lnbmF0dXJl";
        var attempt = Fail("fs.root", "EROFS") with { Detail = $"token {jwt}", Data = new Dictionary<string, string> { ["h"] = $"Bearer {jwt}" } };

        var r = Classifier.ClassifyOne(P("fs.root"), attempt, Ok("control.fs.writable"));

        r.Evidence.Attempt.Should().NotContain(jwt);
        r.Evidence.Data["h"].Should().NotContain(jwt);
    }
}
