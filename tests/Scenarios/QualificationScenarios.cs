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
        using var log = new StringWriter();

        var report = await Qualifier.RunOnClusterAsync(cluster, scenario, log, TestContext.Current.CancellationToken);

        output.WriteLine(log.ToString());
        output.WriteLine(ReportWriters.Markdown(report));
        report.Checklist.Where(i => i.Status == ChecklistStatus.Failed).Select(i => i.Id).Should().Equal(["images-pinned"],
            "the sample's image is built locally and has no registry digest; everything else must hold");
        report.Checklist.Where(i => i.Status == ChecklistStatus.Inconclusive).Should().BeEmpty();
        report.Mission.Should().OnlyContain(m => m.Status == Harness.Verdicts.ProbeStatus.Passed);
    }
}
