using Harness.Vehicles;
using Harness.Qualification;
using Harness.Xunit;

namespace Harness.Scenarios;

/// <summary>The scenario files in fixtures/scenarios, run on the live cluster: data-driven qualification from xUnit.</summary>
public sealed class QualificationScenarios(HarnessClusterFixture live, ITestOutputHelper output)
{
    public static TheoryData<string> Files
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var file in Directory.EnumerateFiles(SampleOperator.RepoPath("fixtures/scenarios"), "*.yaml").Order(StringComparer.Ordinal))
            {
                if (ScenarioParser.Load(file).Vehicle.OnCluster())
                {
                    data.Add(Path.GetFileName(file));
                }
            }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Scenario_QualifiesExceptForTheUnpinnedLocalImage(string file)
    {
        var cluster = live.Require();
        var scenario = ScenarioParser.Load(SampleOperator.RepoPath(Path.Combine("fixtures/scenarios", file)));
        if (scenario.Manifests.Any(m => Harness.Manifests.Helm.IsChart(m)) && !HelmPresent())
        {
            // A missing tool, like a missing cluster: a skip with the reason, a failure where the environment promises it.
            const string missing = "helm is not on PATH (nor HARNESS_HELM): this scenario deploys a Helm chart; install helm";
            Assert.False(HarnessClusterFixture.Required, $"HARNESS_REQUIRE_CLUSTER=1 but {missing}");
            Assert.Skip(missing);
        }
        using var log = new StringWriter();

        var report = await Qualifier.RunOnClusterAsync(cluster, scenario, log, TestContext.Current.CancellationToken);

        output.WriteLine(log.ToString());
        output.WriteLine(ReportWriters.Markdown(report));
        report.Checklist.Where(i => i.Status == ChecklistStatus.Failed).Select(i => i.Id).Should().Equal(["images-pinned"],
            "the sample's image is built locally and has no registry digest; everything else must hold");
        report.Checklist.Where(i => i.Status == ChecklistStatus.Inconclusive).Should().BeEmpty();
        report.Mission.Should().OnlyContain(m => m.Status == Harness.Verdicts.ProbeStatus.Passed);
    }

    private static bool HelmPresent() =>
        Environment.GetEnvironmentVariable(Harness.Manifests.Helm.Variable) is { Length: > 0 }
        || (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "helm")));
}
