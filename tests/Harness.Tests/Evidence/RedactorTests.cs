using Harness.Evidence;

namespace Harness.Tests.Evidence;

public sealed partial class RedactorTests
{
    private const string Jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.SIGNATUREsignature_-123";

    [Fact]
    public void Redact_ServiceAccountJwt_IsMasked()
    {
        Redactor.Default.Redact($"read {Jwt} from the token file").Should().Be($"read {Redactor.Mask} from the token file");
    }

    [Fact]
    public void Redact_BearerHeader_IsMasked()
    {
        Redactor.Default.Redact("Authorization: Bearer abcdef0123456789").Should().Be($"Authorization: Bearer {Redactor.Mask}");
    }

    [Theory]
    [InlineData("    token: sha256~abcdefghijklmnop")]
    [InlineData("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==")]
    [InlineData("    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t")]
    [InlineData("    password: hunter2hunter2")]
    public void Redact_KubeconfigCredential_IsMasked(string line)
    {
        var redacted = Redactor.Default.Redact(line);

        redacted.Should().Contain(Redactor.Mask);
        redacted.Should().NotContain(line.Split(':', 2)[1].Trim());
    }

    [Fact]
    public void Redact_PemPrivateKey_IsMasked()
    {
        var pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";

        Redactor.Default.Redact($"key:\n{pem}\n").Should().Be($"key:\n{Redactor.Mask}\n");
    }

    [Fact]
    public void Redact_SecretData_MasksValuesKeepsKeys()
    {
        var secret = """{"kind":"Secret","data":{"password":"aHVudGVyMg==","user":"YWRtaW4="},"type":"Opaque"}""";

        var redacted = Redactor.Default.Redact(secret);

        redacted.Should().Contain("\"password\"").And.Contain("\"user\"").And.Contain("Opaque");
        redacted.Should().NotContain("aHVudGVyMg==").And.NotContain("YWRtaW4=");
    }

    [Fact]
    public void Redact_LiteralSecret_IsMaskedWherever_ItAppears()
    {
        var redactor = new Redactor(["s3cr3t-value"]);

        redactor.Redact("x=s3cr3t-value;y").Should().Be($"x={Redactor.Mask};y");
    }

    [Fact]
    public void Redact_OrdinaryEvidence_IsUntouched()
    {
        const string text = "open(/etc/.harness-probe-1, O_CREAT|O_EXCL|O_WRONLY): EROFS (30)";

        Redactor.Default.Redact(text).Should().Be(text);
    }

    [Theory]
    [InlineData("ServiceAccount token: no legacy or foreign token; the mounted one is pod-bound and lives at most a day")]
    [InlineData("authenticate with the pod's token: allowed, as required")]
    [InlineData("the password: field of a basic-auth Secret is not read")]
    [InlineData("token=short")]
    public void Redact_ProseAboutTokens_IsLeftAsWritten(string prose) => Redactor.Default.Redact(prose).Should().Be(prose);

    [Theory]
    [InlineData("kube-apiserver --token=abcdef0123456789", "kube-apiserver --token=[REDACTED]")]
    [InlineData("BOOTSTRAP_TOKEN=abcdef.0123456789abcdef", "BOOTSTRAP_TOKEN=[REDACTED]")]
    [InlineData("{\"token\": \"sha256~abcdefghijklmnop\"}", "{\"token\": \"[REDACTED]\"}")]
    [InlineData("users:\n- name: admin\n  user:\n    token: 0123456789abcdef", "users:\n- name: admin\n  user:\n    token: [REDACTED]")]
    public void Redact_CredentialValues_AreMaskedByWhatTheyAre(string text, string expected) => Redactor.Default.Redact(text).Should().Be(expected);

    [Fact]
    public void Redact_EveryChecklistTitleAndFixedPhraseOfTheHarness_SurvivesUnchanged()
    {
        // Every item title, and every fixed text the harness writes (string literals of its sources, interpolation holes
        // removed): a redactor that ate any of them would garble the reports.
        var titles = Enum.GetValues<Harness.Probes.HardeningItem>().Select(Harness.Probes.HardeningItems.Title);
        var phrases = Directory.EnumerateFiles(RepoPaths.File("src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal) && !f.EndsWith("Redactor.cs", StringComparison.Ordinal))
            .SelectMany(f => Literal().Matches(File.ReadAllText(f)).Select(m => Hole().Replace(m.Groups[1].Value, " x ")))
            .Where(p => p.Length > 8)
            .ToList();
        phrases.Should().HaveCountGreaterThan(500, "the sources are scanned");

        titles.Concat(phrases).Where(p => Redactor.Default.Redact(p) != p).Should().BeEmpty();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\$?""((?:[^""\\\n]|\\.)*)""")]
    private static partial System.Text.RegularExpressions.Regex Literal();

    [System.Text.RegularExpressions.GeneratedRegex(@"\{[^{}]*\}")]
    private static partial System.Text.RegularExpressions.Regex Hole();
}
