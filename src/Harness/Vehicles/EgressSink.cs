using System.Collections.Immutable;
using System.Security.Cryptography;
using Harness.Docker;
using Harness.Probes;

namespace Harness.Vehicles;

/// <summary>
/// The stand-in for "the internet": an HTTP and HTTPS server (the probe agent in sink mode) on a network the harness
/// created. Every answer carries a per-run token, so a control can prove it reached this sink and nothing else; the
/// HTTPS answer is signed by a CA made for this sink alone, which is the only one the probes trust.
/// </summary>
internal sealed class EgressSink : IAsyncDisposable
{
    /// <summary>Port the sink serves HTTP on.</summary>
    public const int Port = 8080;

    /// <summary>Port the sink serves HTTPS on.</summary>
    public const int TlsPort = 8443;

    private readonly DockerVehicle container;

    private EgressSink(DockerVehicle container, EgressTarget target, EgressTarget httpsTarget)
    {
        this.container = container;
        Target = target;
        HttpsTarget = httpsTarget;
    }

    /// <summary>The HTTP egress target that points at this sink (IP literal, network alias, port, token).</summary>
    public EgressTarget Target { get; }

    /// <summary>The HTTPS egress target (name <c>sink-tls</c>), with the sink's CA as the probes' only trust anchor.</summary>
    public EgressTarget HttpsTarget { get; }

    /// <summary>Starts a sink on <paramref name="network"/> with the network alias <paramref name="alias"/>.</summary>
    /// <exception cref="InvalidOperationException">The container did not start.</exception>
    public static async Task<EgressSink> StartAsync(DockerHost docker, string probeImage, string network, string alias = "harness-sink", CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        // The address is known only after start, so the certificate names the alias; probes by IP use plain TCP.
        var certificate = SinkCertificate.Create([alias], []);
        var spec = new ContainerRunSpec
        {
            Image = probeImage,
            Command =
            [
                "sink", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--tls-port", TlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--token", token,
            ],
            Environment = ImmutableSortedDictionary.CreateRange(new Dictionary<string, string>
            {
                ["HARNESS_SINK_CERT_PEM"] = certificate.CertificatePem,
                ["HARNESS_SINK_KEY_PEM"] = certificate.KeyPem,
            }),
            ReadOnlyRootfs = true,
            CapDrop = ["ALL"],
            SecurityOpt = ["no-new-privileges:true"],
            Networks = [network],
            Alias = alias,
        };
        var vehicle = await DockerVehicle.StartAsync(docker, spec, "sink", ct).ConfigureAwait(false);
        try
        {
            var ip = await vehicle.IpAddressAsync(network, ct).ConfigureAwait(false);
            return new EgressSink(
                vehicle,
                new EgressTarget("sink", ip, alias, Port, token),
                new EgressTarget("sink-tls", ip, alias, TlsPort, token, "https", certificate.CaPem));
        }
        catch
        {
            await vehicle.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the sink (for the false-pass guard: with no sink, egress verdicts must be inconclusive).</summary>
    public ValueTask StopAsync() => container.DisposeAsync();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => container.DisposeAsync();
}
