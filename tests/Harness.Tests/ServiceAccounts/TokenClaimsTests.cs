using System.Text;
using Harness.Images;
using Harness.Probes;
using Harness.Protocol;
using Harness.Tests.Docker;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Tests.ServiceAccounts;

/// <summary>The token probe: claims read without the token, judged by expiry, pod binding and lifetime; real agent, real container.</summary>
public sealed class TokenClaimsTests(DockerFixture fixture)
{
    private const long Now = 1_790_000_000;

    /// <summary>A token shaped as the kubelet projects it (header.payload.signature, base64url), with a fake signature.</summary>
    internal static string Token(string payloadJson) =>
        $"{B64("{\"alg\":\"RS256\",\"kid\":\"k\"}")}.{B64(payloadJson)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk";

    private static string B64(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    internal static string Projected(long lifetime, long? warnAfter = null) => Token(
        $$"""{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":{{Now + lifetime}},"iat":{{Now}},"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"ops","pod":{"name":"op-7d9f","uid":"u1"},"serviceaccount":{"name":"op","uid":"u2"}{{(warnAfter is { } w ? $",\"warnafter\":{Now + w}" : "")}}},"nbf":{{Now}},"sub":"system:serviceaccount:ops:op"}""");

    internal static readonly string Legacy = Token("""{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"ops","kubernetes.io/serviceaccount/service-account.name":"op","sub":"system:serviceaccount:ops:op"}""");

    [Fact]
    public void Read_ProjectedToken_GivesAudienceExpiryPodAndAccount()
    {
        var claims = JwtClaims.Read(Projected(3607, warnAfter: 3607))!;

        claims.Should().Contain(JwtClaims.Audience, "https://kubernetes.default.svc.cluster.local").And.Contain(JwtClaims.Pod, "op-7d9f")
            .And.Contain(JwtClaims.ServiceAccount, "op").And.Contain(JwtClaims.Expiry, $"{Now + 3607}").And.Contain(JwtClaims.WarnAfter, $"{Now + 3607}");
        JwtClaims.Read(Legacy)!.Should().NotContainKey(JwtClaims.Expiry).And.Contain(JwtClaims.ServiceAccount, "op");
        JwtClaims.Read("not a token").Should().BeNull();
        JwtClaims.Read("a.!!!.c").Should().BeNull();
    }

    [Theory]
    [InlineData("projected, one hour", 3607L, null, true)]
    [InlineData("extended expiry for old clients, rotated within the hour", 31_536_000L, 3607L, true)]
    [InlineData("projected, a week", 604_800L, null, false)]
    public void Classify_ByLifetime(string what, long lifetime, long? warnAfter, bool passes)
    {
        var result = Classify(Succeeded(JwtClaims.Read(Projected(lifetime, warnAfter))!));
        result.Status.Should().Be(passes ? ProbeStatus.Passed : ProbeStatus.Failed, what);
    }

    [Fact]
    public void Classify_LegacyUnboundAbsentAndUnreadable()
    {
        Classify(Succeeded(JwtClaims.Read(Legacy)!)).Status.Should().Be(ProbeStatus.Failed, "a legacy token never expires");
        var unbound = JwtClaims.Read(Projected(3600))!;
        unbound.Remove(JwtClaims.Pod);
        Classify(Succeeded(unbound)).Status.Should().Be(ProbeStatus.Failed, "a token not bound to the pod outlives it");
        var absent = Classify(new StepResult { Id = "sa.token", Kind = StepKinds.TokenClaims, Outcome = StepOutcomes.Failed, Errno = "ENOENT" });
        absent.Should().Match<ProbeResult>(r => r.Status == ProbeStatus.Passed && r.Verdict == Verdict.Denied(Mechanism.NoTokenMounted));
        Classify(new StepResult { Id = "sa.token", Kind = StepKinds.TokenClaims, Outcome = StepOutcomes.Failed, Errno = "ENOENT" }, controlSucceeded: false)
            .Status.Should().Be(ProbeStatus.Inconclusive, "without the kubelet's own file, an absent token proves nothing");
        Classify(new StepResult { Id = "sa.token", Kind = StepKinds.TokenClaims, Outcome = StepOutcomes.Error, Detail = "not a JWT" }).Status.Should().Be(ProbeStatus.Inconclusive);
    }

    private static StepResult Succeeded(IReadOnlyDictionary<string, string> claims) =>
        new() { Id = "sa.token", Kind = StepKinds.TokenClaims, Outcome = StepOutcomes.Succeeded, Data = claims };

    private static ProbeResult Classify(StepResult attempt, bool controlSucceeded = true)
    {
        var probe = StandardProbes.ServiceAccountToken(2000);
        var control = new StepResult { Id = probe.Control!.Step.Id, Kind = StepKinds.TokenClaims, Outcome = controlSucceeded ? StepOutcomes.Succeeded : StepOutcomes.Failed, Errno = controlSucceeded ? null : "ENOENT" };
        var report = new AgentReport { AgentVersion = "test", Results = [attempt, control] };
        return Classifier.Classify(new ProbePlan([probe]), report, null).Single();
    }

    [Fact]
    public async Task Agent_InARealContainer_ReadsTheClaimsAndNeverReportsTheToken()
    {
        var (docker, _) = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        var token = Projected(3607, warnAfter: 3607);
        const string path = "/var/run/secrets/tokens/operator-token";
        var image = await ProbeImage.BuildAsync(docker, ProbeArtifacts.Locate(),
            [new ImageEntry("/var/run/secrets/tokens", null, (UnixFileMode)0b111_101_101), new ImageEntry(path, null, (UnixFileMode)0b100_100_100, token)], ct);
        // Automount off: no empty stand-in at the ServiceAccount path, so the token probe is observable in this container.
        var pod = ReferencePods.Hardened();
        pod.AutomountServiceAccountToken = false;
        await using var vehicle = await DockerVehicle.StartAsync(docker, ContainerRunSpec.FromPodSpec(pod, null, image), "docker:token", ct);

        var present = await ProbeRunner.RunAsync(new ProbePlan([StandardProbes.ServiceAccountToken(2000, path)]), vehicle, ct: ct);
        var absent = await ProbeRunner.RunAsync(new ProbePlan([StandardProbes.ServiceAccountToken(2000, "/var/run/secrets/tokens/none")]), vehicle, ct: ct);

        present["sa.token"].Should().Match<ProbeResult>(r => r.Status == ProbeStatus.Passed && r.Verdict == Verdict.Denied(Mechanism.BoundShortLivedToken));
        present["sa.token"].Evidence.Data.Should().Contain(JwtClaims.Pod, "op-7d9f");
        absent["sa.token"].Should().Match<ProbeResult>(r => r.Status == ProbeStatus.Passed && r.Verdict == Verdict.Denied(Mechanism.NoTokenMounted) && r.Evidence.Control!.Succeeded);
        foreach (var part in token.Split('.'))
        {
            System.Text.Json.JsonSerializer.Serialize(present.Results).Should().NotContain(part, "no part of the token leaves the pod");
        }
    }

    [Fact]
    public async Task DockerVehicle_WithTheEmptyServiceAccountStandIn_NeverPassesTheTokenProbe()
    {
        var (docker, image) = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        var spec = ContainerRunSpec.FromPodSpec(ReferencePods.Hardened(), null, image);
        spec.Unobservable.Should().ContainKey("sa.");
        await using var vehicle = await DockerVehicle.StartAsync(docker, spec, "docker:stand-in", ct);

        var report = await ProbeRunner.RunAsync(new ProbePlan([StandardProbes.ServiceAccountToken(2000)]), vehicle, ct: ct);

        report["sa.token"].Status.Should().Be(ProbeStatus.Inconclusive, "the empty tmpfs would otherwise read as \"no token mounted\"");
        report["sa.token"].Explanation.Should().Contain("empty stand-in");
    }
}
