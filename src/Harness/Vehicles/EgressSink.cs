using System.Security.Cryptography;
using Harness.Docker;
using Harness.Probes;

namespace Harness.Vehicles;

/// <summary>
/// The stand-in for "the internet": an HTTP server (the probe agent in sink mode) on a network the harness
/// created. Every answer carries a per-run token, so a control can prove it reached this sink and nothing else.
/// </summary>
public sealed class EgressSink : IAsyncDisposable
{
    /// <summary>Port the sink listens on.</summary>
    public const int Port = 8080;

    private readonly DockerVehicle container;

    private EgressSink(DockerVehicle container, EgressTarget target)
    {
        this.container = container;
        Target = target;
    }

    /// <summary>The egress target that points at this sink (IP literal, network alias, port, token).</summary>
    public EgressTarget Target { get; }

    /// <summary>Starts a sink on <paramref name="network"/> with the network alias <paramref name="alias"/>.</summary>
    /// <exception cref="InvalidOperationException">The container did not start.</exception>
    public static async Task<EgressSink> StartAsync(DockerHost docker, string probeImage, string network, string alias = "harness-sink", CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var spec = new ContainerRunSpec
        {
            Image = probeImage,
            Command = ["sink", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--token", token],
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
            return new EgressSink(vehicle, new EgressTarget("sink", ip, alias, Port, token));
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
