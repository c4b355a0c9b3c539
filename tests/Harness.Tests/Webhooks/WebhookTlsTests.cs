using System.Collections.Immutable;
using Harness.Protocol;
using Harness.Tests.Docker;
using Harness.Vehicles;
using Harness.Verdicts;
using Harness.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace Harness.Tests.Webhooks;

/// <summary>
/// The webhook TLS check with real TLS: the agent's sink serves a certificate the test made, as a webhook Service would,
/// on a Docker network where its Service name resolves nowhere (issue #23 item 8: a cluster without DNS, where the API
/// server still calls the webhook at its ClusterIP); the agent (the cluster vantage's stand-in) runs the check's plan,
/// connecting to the address and verifying the Service's name, and the judge reads what it saw.
/// </summary>
public sealed class WebhookTlsTests(DockerFixture docker)
{
    private const string Service = "greeter-webhook";
    private const string Namespace = "greeter-system";
    private static readonly string Host = $"{Service}.{Namespace}.svc";

    public enum Case { Valid, WrongName, Expired, OtherCa }

    [Theory]
    [InlineData(Case.Valid, ProbeStatus.Passed, "verified by the caBundle alone")]
    [InlineData(Case.WrongName, ProbeStatus.Failed, "the certificate does not hold greeter-webhook.greeter-system.svc")]
    [InlineData(Case.Expired, ProbeStatus.Failed, "the certificate has expired or is not yet valid")]
    [InlineData(Case.OtherCa, ProbeStatus.Failed, "the caBundle does not verify the certificate")]
    public async Task Judge_OverRealTls_TellsNamesExpiryAndTrustApart_WithTheNameControlHolding(Case @case, ProbeStatus expected, string because)
    {
        var ct = TestContext.Current.CancellationToken;
        var (host, image) = docker.Require();
        var issued = @case switch
        {
            Case.WrongName => SinkCertificate.Create(["other-webhook.greeter-system.svc"], []),
            Case.Expired => SinkCertificate.Create([Host], [], new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-3))),
            _ => SinkCertificate.Create([Host], []),
        };
        var caBundle = @case == Case.OtherCa ? SinkCertificate.Create([Host], []).CaPem : issued.CaPem;
        var network = await host.CreateNetworkAsync($"webhook-{@case}".ToLowerInvariant(), isolated: true, ct);
        try
        {
            await using var server = await DockerVehicle.StartAsync(host, new ContainerRunSpec
            {
                Image = image,
                Command = ["sink", "--port", "8080", "--tls-port", "8443", "--token", "webhook"],
                Environment = ImmutableSortedDictionary.CreateRange(new Dictionary<string, string>
                {
                    ["HARNESS_SINK_CERT_PEM"] = issued.CertificatePem,
                    ["HARNESS_SINK_KEY_PEM"] = issued.KeyPem,
                }),
                ReadOnlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges:true"],
                Networks = [network],
            }, "webhook", ct);
            var ip = await server.IpAddressAsync(network, ct);
            await using var vantage = await DockerVehicle.StartAsync(host, new ContainerRunSpec
            {
                Image = image, ReadOnlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges:true"],
                Networks = [network], Dns = [],
            }, "vantage", ct);
            var endpoint = new WebhookEndpoint("ValidatingWebhookConfiguration greeter", "greetings.demo.harness.dev", Namespace, Service, 8443, "/validate", caBundle, ip);

            var report = await vantage.RunAsync(WebhookTls.Plan([endpoint], 5000), ct);
            var (status, line) = WebhookTls.Judge(endpoint, report.Results[0], report.Results[1], DateTimeOffset.UtcNow);

            status.Should().Be(expected, line);
            line.Should().Contain(because).And.Contain("control held");
            line.Should().Contain(@case == Case.WrongName ? "[other-webhook.greeter-system.svc]" : $"[{Host}]", "the agent reports the names the certificate holds");
            line.Should().NotContain("BEGIN CERTIFICATE", "evidence names facts, not certificates");
            WebhookTls.ControlLine(endpoint, report.Results[1]).Should().Be($"ValidatingWebhookConfiguration greeter/greetings.demo.harness.dev: control held: {ip}:8443 answered TLS and refused the name webhook-name-check.harness.invalid");
        }
        finally
        {
            await host.RemoveNetworkAsync(network, CancellationToken.None);
        }
    }

    private static readonly WebhookEndpoint Endpoint = new("ValidatingWebhookConfiguration greeter", "w", Namespace, Service, 443, "/validate", "-----BEGIN CERTIFICATE-----", "10.96.0.10");

    private static StepResult Result(string id, string outcome, string? errno = null, params (string Key, string Value)[] data) =>
        new() { Id = id, Kind = StepKinds.Http, Outcome = outcome, Errno = errno, HttpStatus = outcome == StepOutcomes.Succeeded ? 400 : null, Data = data.ToDictionary(d => d.Key, d => d.Value) };

    [Fact]
    public void Judge_WhenTheControlWasNotRefusedForItsName_IsInconclusive_EvenIfTheAttemptSucceeded()
    {
        var attempt = Result("a", StepOutcomes.Succeeded, null, (DataKeys.TlsNameMatch, "yes"));

        WebhookTls.Judge(Endpoint, attempt, Result("c", StepOutcomes.Succeeded), DateTimeOffset.UtcNow).Status.Should().Be(ProbeStatus.Inconclusive);
        WebhookTls.Judge(Endpoint, attempt, Result("c", StepOutcomes.Failed, "ETIMEDOUT"), DateTimeOffset.UtcNow).Line.Should().Contain("control FAILED");
    }

    [Fact]
    public void Judge_AnEmptyCaBundle_FailsWithoutAProbe()
    {
        WebhookTls.Judge(Endpoint with { CaBundlePem = "" }, null, null, DateTimeOffset.UtcNow).Should().Match<(ProbeStatus Status, string Line)>(j => j.Status == ProbeStatus.Failed && j.Line.Contains("caBundle is empty"));
    }

    [Fact]
    public void Judge_ACertificateAboutToExpire_PassesWithAWarning()
    {
        var control = Result("c", StepOutcomes.Failed, "TLS", (DataKeys.TlsNameMatch, "no"), (DataKeys.TlsNames, Host));
        var attempt = Result("a", StepOutcomes.Succeeded, null, (DataKeys.TlsNameMatch, "yes"), (DataKeys.TlsNotAfter, "2026-11-30T00:00:00Z"));

        var (status, line) = WebhookTls.Judge(Endpoint, attempt, control, new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));

        status.Should().Be(ProbeStatus.Passed);
        line.Should().Contain("warning: expires within 14 days");
    }

    [Fact]
    public void Judge_AVerifiedCertificateOnAPathNothingServes_Fails()
    {
        var control = Result("c", StepOutcomes.Failed, "TLS", (DataKeys.TlsNameMatch, "no"));
        var attempt = Result("a", StepOutcomes.Succeeded, null, (DataKeys.TlsNameMatch, "yes")) with { HttpStatus = 404 };

        WebhookTls.Judge(Endpoint, attempt, control, DateTimeOffset.UtcNow).Line.Should().Contain("nothing serves /validate (HTTP 404)");
        WebhookTls.Judge(Endpoint, attempt, control, DateTimeOffset.UtcNow).Status.Should().Be(ProbeStatus.Failed);
    }

    [Fact]
    public void Plan_AttemptAndControlConnectToTheServiceAddress_UnderItsNameAndAReservedName()
    {
        var plan = WebhookTls.Plan([Endpoint], 3000);

        plan.Steps.Select(s => s.Target).Should().Equal("https://greeter-webhook.greeter-system.svc:443/validate", "https://webhook-name-check.harness.invalid:443/validate");
        plan.Steps[1].Args.Should().Contain("connectTo", "10.96.0.10");
        plan.Steps[0].Args.Should().Contain("connectTo", "10.96.0.10", "the attempt goes where the control goes: no DNS needed, only the name differs");
        plan.Steps.Should().OnlyContain(s => s.Args!["caPem"] == Endpoint.CaBundlePem);
    }
}
