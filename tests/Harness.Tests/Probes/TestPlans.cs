using Harness.Probes;

namespace Harness.Tests.Probes;

/// <summary>The standard catalog with one sink target and the API probes: the plan most classification tests read.</summary>
internal static class TestPlans
{
    public static readonly ProbePlan Standard = StandardProbes.Create(new StandardProbeOptions
    {
        EgressTargets = [new EgressTarget("sink", "172.30.0.2", "harness-sink", 8080, "tok123")],
        IncludeKubernetesApi = true,
        WritableDirectory = "/tmp",
    });
}
