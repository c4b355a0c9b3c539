using System.Net;
using System.Security.Cryptography.X509Certificates;
using Harness.Vehicles;

namespace Harness.Tests.Vehicles;

public sealed class SinkCertificateTests
{
    private static bool Verifies(string leafPem, string caPem)
    {
        using var leaf = X509Certificate2.CreateFromPem(leafPem);
        using var ca = X509Certificate2.CreateFromPem(caPem);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    [Fact]
    public void Create_ServerCertificate_ChainsToItsOwnCaOnly()
    {
        var sink = SinkCertificate.Create(["harness-sink"], [IPAddress.Parse("172.30.0.2")]);
        var other = SinkCertificate.Create(["harness-sink"], []);

        Verifies(sink.CertificatePem, sink.CaPem).Should().BeTrue();
        Verifies(sink.CertificatePem, other.CaPem).Should().BeFalse("a CA of another run must not vouch for this sink");
    }

    [Fact]
    public void Create_ServerCertificate_NamesTheAliasAndAddressForServerAuth()
    {
        var sink = SinkCertificate.Create(["harness-sink"], [IPAddress.Parse("172.30.0.2")]);
        using var leaf = X509Certificate2.CreateFromPem(sink.CertificatePem);

        leaf.MatchesHostname("harness-sink").Should().BeTrue();
        leaf.MatchesHostname("172.30.0.2").Should().BeTrue();
        leaf.MatchesHostname("example.com").Should().BeFalse();
        leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority.Should().BeFalse();
        (leaf.NotAfter - leaf.NotBefore).Should().BeLessThan(TimeSpan.FromDays(2));
    }

    [Fact]
    public void ToString_NeverShowsTheKey()
    {
        var sink = SinkCertificate.Create(["harness-sink"], []);

        sink.ToString().Should().NotContain("PRIVATE KEY").And.Contain("redacted");
        sink.KeyPem.Should().StartWith("-----BEGIN PRIVATE KEY-----");
    }
}
