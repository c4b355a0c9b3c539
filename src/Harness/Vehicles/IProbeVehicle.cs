// Vehicles: carrying the agent into the operator's security context (twin pod, ephemeral container, direct exec, docker) and the sink.
using System.Collections.Immutable;
using Harness.Protocol;

namespace Harness.Vehicles;

/// <summary>How the agent reaches a security context: a twin pod, an ephemeral container, a direct exec, a local container.</summary>
public interface IProbeVehicle
{
    /// <summary>Short name for reports (<c>docker</c>, <c>twin-pod</c>...).</summary>
    string Name { get; }

    /// <summary>Where this vehicle's verdicts may differ from the real thing; shown in every report.</summary>
    ImmutableArray<string> Notes { get; }

    /// <summary>
    /// Probes (ids, or prefixes ending in a dot) this vehicle cannot ground in the operator, with the reason; their
    /// verdicts become Inconclusive whatever the agent saw. See <see cref="Observability"/>.
    /// </summary>
    ImmutableDictionary<string, string> Unobservable => ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// The operator's identity this vehicle runs the agent with when it runs another image (twin pod, docker); the run
    /// checks the agent's own ids against it. Null when the agent runs as the operator itself, or when unknown.
    /// </summary>
    ContainerIdentity? Identity => null;

    /// <summary>Runs <paramref name="plan"/> with one agent exec and returns its report.</summary>
    /// <exception cref="AgentFailedException">The agent did not produce a report.</exception>
    Task<AgentReport> RunAsync(AgentPlan plan, CancellationToken ct = default);
}

/// <summary>A vehicle could not be started or reached (a container Docker refused, a pod that never ran); names the vehicle.</summary>
/// <param name="vehicle">The vehicle (<c>docker</c>, <c>twin-pod</c>, <c>sink</c>...).</param>
/// <param name="message">What happened.</param>
/// <param name="inner">The underlying error.</param>
public sealed class VehicleException(string vehicle, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The vehicle concerned.</summary>
    public string Vehicle { get; } = vehicle;
}

/// <summary>The agent ran but produced no usable report: the vehicle's exit code and output say why.</summary>
public sealed class AgentFailedException(string vehicle, long exitCode, string stderr, string stdout)
    : Exception($"The probe agent in {vehicle} exited {exitCode} without a usable report: {Trim(stderr.Length > 0 ? stderr : stdout)}")
{
    /// <summary>Exit code of the agent (or the exec).</summary>
    public long ExitCode { get; } = exitCode;

    /// <summary>What the agent wrote to stderr.</summary>
    public string Stderr { get; } = stderr;

    private static string Trim(string s) => s.Length > 500 ? s[..500] + "…" : s.Trim();
}
