using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Harness.Vehicles;

/// <summary>
/// A throwaway CA and a server certificate it signed, made for one sink: probes trust only this CA, so an HTTPS
/// answer proves the probe reached the harness's sink (not a proxy, not a captive portal, not the internet).
/// </summary>
/// <param name="CaPem">The CA certificate (PEM), given to probes as their only trust anchor.</param>
/// <param name="CertificatePem">The server certificate (PEM).</param>
/// <param name="KeyPem">The server's private key (PKCS#8 PEM). Lives only in the sink container's environment.</param>
internal sealed record SinkCertificate(string CaPem, string CertificatePem, string KeyPem)
{
    /// <summary>Creates the CA and a server certificate for these names and addresses, valid for a day.</summary>
    public static SinkCertificate Create(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses, TimeProvider? time = null)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow();
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=harness sink CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=harness sink", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }
        foreach (var address in addresses)
        {
            san.AddIpAddress(address);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var server = request.Create(ca, now.AddMinutes(-5), now.AddHours(23), serial);
        return new SinkCertificate(ca.ExportCertificatePem(), server.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Never prints the key.</summary>
    public override string ToString() => "SinkCertificate { CA and server certificate; key redacted }";
}
