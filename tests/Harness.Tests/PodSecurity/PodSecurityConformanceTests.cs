using Harness.Manifests;
using Harness.PodSecurity;

namespace Harness.Tests.PodSecurity;

/// <summary>Kubernetes' own Pod Security fixtures, read from the shared folder at test time (never copied here).</summary>
public sealed class PodSecurityConformanceTests
{
    [Fact]
    public void Evaluate_EveryConformanceFixture_MatchesItsExpectedOutcome()
    {
        var root = RepoPaths.PsaConformance;
        Assert.SkipUnless(Directory.Exists(root), $"conformance fixtures not found at {root} (set HARNESS_PSA_CONFORMANCE to their folder)");

        var files = Directory.EnumerateFiles(root, "*.yaml", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "README.md")
            .Order(StringComparer.Ordinal)
            .ToList();
        var mismatches = new List<string>();
        var evaluated = 0;
        foreach (var file in files)
        {
            // <level>/<version>/<pass|fail>/<case>.yaml
            var parts = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar);
            if (parts.Length != 4)
            {
                continue;
            }
            var level = Enum.Parse<PodSecurityLevel>(parts[0], ignoreCase: true);
            var version = PolicyVersion.Parse(parts[1]);
            var expectAllowed = parts[2] == "pass";
            foreach (var doc in ManifestLoader.LoadPath(file))
            {
                PodTemplates.TryGet(doc.Object, out var metadata, out var spec).Should().BeTrue($"{file} holds a pod or pod template");
                var result = PodSecurityEvaluator.Evaluate(metadata, spec!, level, version);
                evaluated++;
                if (result.Allowed != expectAllowed)
                {
                    mismatches.Add($"{Path.GetRelativePath(root, file)}: expected {(expectAllowed ? "allowed" : "rejected")}, got {(result.Allowed ? "allowed" : result.Message)}");
                }
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{evaluated - mismatches.Count}/{evaluated} fixtures match");
        Console.WriteLine($"PSA conformance: {evaluated - mismatches.Count}/{evaluated} fixtures match");
        evaluated.Should().BeGreaterThan(1000, "the shared folder holds the upstream cases for every level and version");
        mismatches.Should().BeEmpty();
    }
}
