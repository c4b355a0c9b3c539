using System.Text.RegularExpressions;
using Harness.Processes;
using Harness.Tests.Docker;

namespace Harness.Tests.Packaging;

/// <summary>
/// The harness as a stranger gets it: every package packed into a local folder feed, the tool installed from it into a
/// temporary tool path, and a fresh test project outside the solution (its own csproj, no project reference) that
/// references the packages and compiles every C# sample of the README, then runs them (the docker-vehicle scenario
/// passes; the cluster facts skip for want of a cluster). Nothing in it reaches the repository's build output.
/// </summary>
public sealed partial class ConsumerTests(DockerFixture docker)
{
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(8);

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    /// <summary>The README's C# samples: whole files as they are; fragments (no type declared) inside a method body.</summary>
    internal static IReadOnlyList<(string Name, string Code)> ReadmeSamples(string readme) =>
        [.. CSharpBlock().Matches(readme.ReplaceLineEndings("\n")).Select((m, i) =>
        {
            var code = m.Groups[1].Value;
            var isFile = Regex.IsMatch(code, @"^\s*(public |internal )?(sealed |static |abstract )*(class|record|interface) ", RegexOptions.Multiline);
            if (isFile)
            {
                return ($"Readme{i}.cs", code);
            }
            // A fragment's leading using lines are the file's; the rest is the body of a method.
            var lines = code.Split('\n');
            var usings = lines.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal) || l.Length == 0).ToList();
            var body = string.Join('\n', lines.Skip(usings.Count));
            return ($"Readme{i}.cs", $"{string.Join('\n', usings)}\nnamespace ReadmeFragments{i};\n\ninternal static class Fragment\n{{\n    internal static async Task Run(CancellationToken ct)\n    {{\n{body}\n    }}\n}}\n");
        })];

    [Fact]
    public void ReadmeSamples_AreFoundAndEachScenarioSampleIsAWholeFile()
    {
        var samples = ReadmeSamples(File.ReadAllText(RepoPaths.File("README.md")));

        samples.Should().HaveCountGreaterThanOrEqualTo(4);
        samples.Should().Contain(s => s.Code.Contains("OperatorRun.Local(", StringComparison.Ordinal) && s.Code.Contains("using Harness.Runs;", StringComparison.Ordinal));
        samples.Should().Contain(s => s.Code.Contains("OperatorHardeningTests<MyOperatorFixture>", StringComparison.Ordinal) && s.Code.Contains("using Xunit;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Packages_InstallAndRunAsAStrangerWouldUseThem()
    {
        docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var work = Directory.CreateTempSubdirectory("harness-consumer-");
        try
        {
            // A version of its own, so no package of an earlier run in the NuGet cache can stand in for this build.
            var version = $"0.1.0-consumer.{DateTimeOffset.UtcNow:yyyyMMddHHmmss}";
            var feed = Directory.CreateDirectory(Path.Combine(work.FullName, "feed")).FullName;
            await Run("bash", [RepoPaths.File("eng/pack.sh"), feed, $"-p:Version={version}", "-p:ContinuousIntegrationBuild=true"], RepoPaths.Root, ct);
            Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Should().BeEquivalentTo(
                new[] { "OperatorHarness", "OperatorHarness.Analysis", "OperatorHarness.Protocol", "OperatorHarness.Xunit", "OperatorHarness.Cli", "OperatorHarness.Cli.linux-x64", "OperatorHarness.Cli.any" }
                    .Select(id => $"{id}.{version}.nupkg"),
                "only the intended packages are produced");
            Directory.GetFiles(feed, "*.snupkg").Should().HaveCount(6, "each package with code has its symbols (the tool's pointer has none)");

            // The tool, from the feed, into a tool path of its own; run outside the repository. On linux-x64 the .NET CLI
            // picks the native package (issue #26): an executable, not a framework-dependent dll, with managed/ beside it.
            var tools = Path.Combine(work.FullName, "tools");
            await Run("dotnet", ["tool", "install", "OperatorHarness.Cli", "--version", version, "--tool-path", tools, "--add-source", feed], work.FullName, ct);
            var harness = Path.Combine(tools, "harness");
            var installed = new FileInfo(harness).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? harness;
            installed.Should().Contain($"operatorharness.cli.linux-x64{Path.DirectorySeparatorChar}{version}");
            (await File.ReadAllBytesAsync(installed, ct)).Take(4).Should().Equal((byte)0x7f, (byte)'E', (byte)'L', (byte)'F');
            var toolDir = Path.GetDirectoryName(installed)!;
            File.Exists(Path.Combine(toolDir, "managed", "Harness.Cli.dll")).Should().BeTrue("the native harness hands cluster commands to the managed one beside it");
            Directory.GetFiles(toolDir).Select(Path.GetFileName).Should().BeEquivalentTo(["Harness.Cli", "DotnetToolSettings.xml"], "no native symbols, pdb or XML files in the tool");
            Directory.Exists(Path.Combine(toolDir, "managed", "probe")).Should().BeTrue("the managed harness runs the probes, with the agent beside it");
            (await Run(harness, ["--version"], work.FullName, ct)).Stdout.Should().StartWith(version);
            // Elsewhere the CLI picks the framework-dependent package: the same harness as a dll the dotnet host runs.
            var any = Directory.CreateDirectory(Path.Combine(work.FullName, "any")).FullName;
            System.IO.Compression.ZipFile.ExtractToDirectory(Path.Combine(feed, $"OperatorHarness.Cli.any.{version}.nupkg"), any);
            (await Run("dotnet", [Path.Combine(any, "tools", "net10.0", "any", "Harness.Cli.dll"), "preflight", RepoPaths.File("fixtures/sample-operator/hardened")], work.FullName, ct))
                .Stdout.Should().Contain(": PASS");
            var preflight = await Run(harness, ["preflight", RepoPaths.File("fixtures/sample-operator/hardened")], work.FullName, ct);
            preflight.Stdout.Should().Contain(": PASS");
            var qualify = await Run(harness, ["qualify", "--scenario", RepoPaths.File("fixtures/scenarios/greeter-docker.yaml"), "--output", Path.Combine(work.FullName, "reports")], work.FullName, ct, expectExit: 3);
            qualify.Stdout.Should().Contain("LOCAL APPROXIMATION").And.Contain("  PASS         fs.root");

            // A fresh test project: its own csproj and NuGet.config, the packages from the feed, the README's samples.
            var app = Directory.CreateDirectory(Path.Combine(work.FullName, "consumer")).FullName;
            await File.WriteAllTextAsync(Path.Combine(app, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <OutputType>Exe</OutputType>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="OperatorHarness.Xunit" Version="{version}" />
                    <PackageReference Include="xunit.v3.mtp-v2" Version="3.2.2" />
                    <PackageReference Include="FluentAssertions" Version="6.12.0" />
                  </ItemGroup>
                  <ItemGroup>
                    <None Include="deploy/**" CopyToOutputDirectory="PreserveNewest" />
                  </ItemGroup>
                </Project>
                """, ct);
            await File.WriteAllTextAsync(Path.Combine(app, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="harness-local-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """, ct);
            foreach (var (name, code) in ReadmeSamples(await File.ReadAllTextAsync(RepoPaths.File("README.md"), ct)))
            {
                await File.WriteAllTextAsync(Path.Combine(app, name), code, ct);
            }
            // The README's operator is "my-operator" in deploy/: the hardened sample, renamed throughout.
            var deploy = Directory.CreateDirectory(Path.Combine(app, "deploy")).FullName;
            foreach (var file in Directory.GetFiles(RepoPaths.File("fixtures/sample-operator/hardened"), "*.yaml"))
            {
                var text = await File.ReadAllTextAsync(file, ct);
                await File.WriteAllTextAsync(Path.Combine(deploy, Path.GetFileName(file)), text.Replace("greeter-operator", "my-operator", StringComparison.Ordinal), ct);
            }
            await Run("dotnet", ["build", "--nologo", "-v", "quiet"], app, ct);
            // The README's proof fact set reads qualify/my-operator.yaml, relative to where the tests run (their output
            // folder): here a cluster scenario, so without a cluster its facts skip, saying what to set.
            var output = Path.GetDirectoryName(Directory.GetFiles(app, "Consumer.dll", SearchOption.AllDirectories).Single(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))!;
            Directory.CreateDirectory(Path.Combine(output, "qualify"));
            await File.WriteAllTextAsync(Path.Combine(output, "qualify", "my-operator.yaml"), $$"""
                apiVersion: harness.dev/v1alpha1
                kind: QualificationScenario
                metadata: {name: my-operator}
                operator: {deployment: my-operator, manifests: ["{{deploy}}"]}
                vehicle: twin-pod
                """, ct);
            var tests = await Run("dotnet", ["run", "--no-build"], app, ct);
            tests.Stdout.Should().MatchRegex(@"Total: \d+, Errors: 0, Failed: 0, Skipped: [1-9]\d*", "the docker scenario passes and the cluster facts skip without a cluster")
                .And.Contain("no cluster: set HARNESS_CLUSTER=kind").And.Contain("names the twin-pod vehicle; set HARNESS_KUBECONFIG=path");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<ProcessResult> Run(string file, string[] args, string directory, CancellationToken ct, int expectExit = 0)
    {
        var environment = new Dictionary<string, string?>
        {
            // The consumer sees no repository settings: the agent comes from the package, the cluster is absent.
            ["HARNESS_PROBE_ARTIFACTS"] = null, ["HARNESS_CLUSTER"] = null, ["HARNESS_KUBECONFIG"] = null, ["HARNESS_CONTEXT"] = null,
            ["HARNESS_REQUIRE_CLUSTER"] = null, ["HARNESS_KIND_DOWNLOAD"] = "0", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1",
        };
        var result = await ProcessRunner.RunAsync(file, args, Step, environment, directory, ct);
        result.ExitCode.Should().Be(expectExit, $"{file} {string.Join(' ', args)} in {directory}:\n{result.Stdout}\n{result.Stderr}");
        return result;
    }
}
