using System.Collections.Immutable;
using Harness.Protocol;

namespace Harness.Probes;

/// <summary>
/// An immutable set of probes. It turns into at most two agent plans: one for the target (attempts and same-pod
/// controls) and one for the outside vantage (controls that prove a destination is reachable without the policy).
/// </summary>
public sealed class ProbePlan
{
    /// <summary>Creates a plan.</summary>
    /// <exception cref="ArgumentException">Two probes share an id, or two different steps share a step id.</exception>
    public ProbePlan(IEnumerable<ProbeDefinition> probes)
    {
        ArgumentNullException.ThrowIfNull(probes);
        Probes = [.. probes];
        var dup = Probes.GroupBy(p => p.Id).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ArgumentException($"Two probes have the id '{dup.Key}'.", nameof(probes));
        }
        // Building both plans validates step-id consistency up front.
        _ = Steps(Vantage.Target);
        _ = Steps(Vantage.Outside);
    }

    /// <summary>The probes, in report order.</summary>
    public ImmutableArray<ProbeDefinition> Probes { get; }

    /// <summary>A plan with <paramref name="probe"/> added (or replacing the probe with the same id).</summary>
    public ProbePlan With(ProbeDefinition probe) => new(Probes.Where(p => p.Id != probe.Id).Append(probe));

    /// <summary>A plan with only the probes that match <paramref name="predicate"/>.</summary>
    public ProbePlan Where(Func<ProbeDefinition, bool> predicate) => new(Probes.Where(predicate));

    /// <summary>The agent plan to run in the target's security context.</summary>
    public AgentPlan TargetPlan(KubernetesAccess? kubernetes = null) => new() { Steps = Steps(Vantage.Target), Kubernetes = kubernetes };

    /// <summary>The agent plan for the outside vantage, or null when no probe needs one.</summary>
    public AgentPlan? OutsidePlan()
    {
        var steps = Steps(Vantage.Outside);
        return steps.Count == 0 ? null : new AgentPlan { Steps = steps };
    }

    private List<AgentStep> Steps(Vantage vantage)
    {
        var steps = new List<AgentStep>();
        var seen = new Dictionary<string, AgentStep>(StringComparer.Ordinal);
        void Add(AgentStep step)
        {
            if (seen.TryGetValue(step.Id, out var existing))
            {
                if (!SameStep(existing, step))
                {
                    throw new ArgumentException($"Two different steps use the id '{step.Id}'.");
                }
                return;
            }
            seen[step.Id] = step;
            steps.Add(step);
        }
        foreach (var probe in Probes)
        {
            if (vantage == Vantage.Target)
            {
                Add(probe.Attempt);
            }
            if (probe.Control is { } c && c.Vantage == vantage)
            {
                Add(c.Step);
            }
        }
        return steps;
    }

    private static bool SameStep(AgentStep a, AgentStep b) =>
        a.Kind == b.Kind && a.Target == b.Target && a.TimeoutMs == b.TimeoutMs
        && (a.Args ?? ImmutableDictionary<string, string>.Empty).OrderBy(kv => kv.Key)
            .SequenceEqual((b.Args ?? ImmutableDictionary<string, string>.Empty).OrderBy(kv => kv.Key));
}
