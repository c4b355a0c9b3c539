using System.Xml.Linq;

namespace Harness.Tests.Packaging;

public sealed class PackageLayoutTests
{
    private static IEnumerable<(string Name, XDocument Project)> Projects() =>
        Directory.GetFiles(RepoPaths.File("src"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => (Path.GetFileNameWithoutExtension(p), XDocument.Load(p)));

    private static string? Property(XDocument project, string name) => project.Descendants(name).FirstOrDefault()?.Value;

    [Fact]
    public void OnlyTheIntendedProjectsArePackable_EachWithAReadmeAndOnePrefix()
    {
        var packable = Projects().Where(p => Property(p.Project, "IsPackable") == "true").ToList();

        packable.Select(p => Property(p.Project, "PackageId")).Should().BeEquivalentTo(
            "OperatorHarness", "OperatorHarness.Analysis", "OperatorHarness.Protocol", "OperatorHarness.Xunit", "OperatorHarness.Cli");
        foreach (var (name, _) in packable)
        {
            var readme = File.ReadAllText(RepoPaths.File($"src/{name}/README.md"));
            readme.Should().StartWith("```\ndotnet ", $"{name}'s package readme starts with how to add it");
        }
        File.ReadAllText(RepoPaths.File("LICENSE")).Should().Contain("Apache License").And.Contain("Version 2.0");
    }

    [Fact]
    public void EveryLibraryPackageTracksItsPublicApi()
    {
        foreach (var (name, project) in Projects().Where(p => Property(p.Project, "IsPackable") == "true" && Property(p.Project, "PackAsTool") != "true"))
        {
            var unshipped = RepoPaths.File($"src/{name}/PublicAPI.Unshipped.txt");
            File.Exists(RepoPaths.File($"src/{name}/PublicAPI.Shipped.txt")).Should().BeTrue(name);
            File.ReadAllLines(unshipped).Should().HaveCountGreaterThan(5, $"{name} declares its public API").And.Contain("#nullable enable");
        }
        File.ReadAllText(RepoPaths.File("Directory.Build.props")).Should().Contain("Microsoft.CodeAnalysis.PublicApiAnalyzers");
    }

    [Fact]
    public void TheAnalysisPackageNeedsNeitherDockerNorTheRuntime()
    {
        var analysis = Projects().Single(p => p.Name == "Harness.Analysis").Project;
        var references = analysis.Descendants("PackageReference").Select(r => r.Attribute("Include")!.Value)
            .Concat(analysis.Descendants("ProjectReference").Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value)));

        references.Should().BeEquivalentTo("KubernetesClient", "YamlDotNet");
        typeof(Harness.Preflight.PreflightAnalyzer).Assembly.GetReferencedAssemblies().Select(a => a.Name)
            .Should().NotContain(n => n!.StartsWith("Docker", StringComparison.Ordinal) || n.StartsWith("Testcontainers", StringComparison.Ordinal) || n == "Harness");
    }
}
