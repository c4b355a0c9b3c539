using System.Diagnostics;

namespace Harness.Tests.Packaging;

/// <summary>
/// Issue #26, item 1: the native harness (NativeAOT, artifacts/cli/harness from eng/publish-cli.sh, which eng/setup.sh
/// runs) answers pre-flight exactly as the managed harness does (same text, same exit code, the same errors), and hands
/// the cluster and Docker commands to the managed harness beside it, or says what to install when it is not there.
/// Without the binary these tests skip with that reason, and fail where HARNESS_REQUIRE_DOCKER=1 makes the machine's
/// artifacts mandatory (CI).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class NativeCliTests
{
    private static string Native => RepoPaths.File("artifacts/cli/harness");

    private static string RequireNative()
    {
        if (!File.Exists(Native))
        {
            const string missing = "the native harness is not built (artifacts/cli/harness): run eng/publish-cli.sh (eng/setup.sh does)";
            Assert.False(Environment.GetEnvironmentVariable("HARNESS_REQUIRE_DOCKER") == "1", missing);
            Assert.Skip(missing);
        }
        return Native;
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string binary, params string[] args)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.File(".") };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var ct = TestContext.Current.CancellationToken;
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await output, await error);
    }

    public static TheoryData<string[]> PreflightInputs
    {
        get
        {
            var data = new TheoryData<string[]>();
            data.Add(["fixtures/sample-operator/hardened"]);
            data.Add(["fixtures/sample-operator/weak", "--format", "json"]);
            data.Add(["fixtures/sample-operator/weak", "--format", "sarif", "--version", "v1.30"]);
            data.Add(["fixtures/sample-operator/config/default"]);
            data.Add(["fixtures/sample-operator/bundle"]);
            data.Add(["fixtures/manifests/multi-namespace-operator.yaml", "--level", "baseline"]);
            data.Add(["fixtures/sample-operator/no-such-folder"]);
            data.Add(["fixtures/sample-operator/hardened", "--level", "strict"]);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(PreflightInputs))]
    public async Task Preflight_AnswersAsTheManagedHarnessDoes(string[] args)
    {
        var native = RequireNative();

        var (exit, output, error) = await RunAsync(native, ["preflight", .. args]);
        var managed = await RunAsync("dotnet", [RepoPaths.File("artifacts/cli/managed/Harness.Cli.dll"), "preflight", .. args]);

        (exit, output, error).Should().Be(managed, "the native harness is the same pre-flight, compiled ahead of time");
        (output + error).Should().NotBeEmpty();
    }

    [Fact]
    public async Task Preflight_OfALargeFile_ReadInTwoProcesses_AnswersAsTheManagedHarnessDoes()
    {
        // Above a megabyte the native harness reads the later half in a second copy of itself (issue #26).
        var native = RequireNative();
        var dir = Directory.CreateTempSubdirectory("harness-native-large-");
        try
        {
            var good = Path.Combine(dir.FullName, "install.yaml");
            await File.WriteAllTextAsync(good, Harness.Cli.ProcessBench.SyntheticInstall(2), TestContext.Current.CancellationToken);
            var broken = Path.Combine(dir.FullName, "broken.yaml");
            await File.WriteAllTextAsync(broken, Harness.Cli.ProcessBench.SyntheticInstall(2) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n", TestContext.Current.CancellationToken);

            foreach (var args in new[] { new[] { "preflight", good, "--format", "json" }, ["preflight", good], ["preflight", broken] })
            {
                var managed = await RunAsync("dotnet", [RepoPaths.File("artifacts/cli/managed/Harness.Cli.dll"), .. args]);
                (await RunAsync(native, args)).Should().Be(managed, string.Join(' ', args));
            }

            // The second process's own answer: one line per document, where its root starts and its JSON, or "!".
            var (exit, lines, _) = await RunAsync(native, "__read-documents", broken, "0", "1000000");
            exit.Should().Be(0);
            var read = lines.TrimEnd('\n').Split('\n');
            read[0].Should().MatchRegex(@"^\d+ \d+ \d+ \{""apiVersion"":");
            read[^1].Should().Be("!");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task RightsLockAndCheck_AnswerAsTheManagedHarnessDoes()
    {
        var native = RequireNative();
        var managed = RepoPaths.File("artifacts/cli/managed/Harness.Cli.dll");

        var nativeLock = await RunAsync(native, "rights", "lock", "fixtures/sample-operator/hardened");
        var managedLock = await RunAsync("dotnet", managed, "rights", "lock", "fixtures/sample-operator/hardened");
        var rights = Path.Combine(Path.GetTempPath(), $"harness-native-rights-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(rights, nativeLock.Out, TestContext.Current.CancellationToken);
        try
        {
            var nativeCheck = await RunAsync(native, "rights", "check", "--rights", rights, "fixtures/sample-operator/weak");
            var managedCheck = await RunAsync("dotnet", managed, "rights", "check", "--rights", rights, "fixtures/sample-operator/weak");

            nativeLock.Should().Be(managedLock);
            nativeLock.Out.Should().Contain("kind: OperatorRights");
            nativeCheck.Should().Be(managedCheck);
            nativeCheck.Exit.Should().Be(1);
        }
        finally
        {
            File.Delete(rights);
        }
    }

    [Fact]
    public async Task RightsCheckOnACluster_IsHandedToTheManagedHarness()
    {
        var native = RequireNative();
        var ct = TestContext.Current.CancellationToken;
        await using var api = await FakeKubeApiServer.StartAsync(ct);
        Rbac.LiveRightsTests.Seed(api);
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        var rights = Path.Combine(Path.GetTempPath(), $"harness-native-live-{Guid.NewGuid():N}.yaml");
        try
        {
            await File.WriteAllTextAsync(rights, (await RunAsync(native, "rights", "lock", "fixtures/sample-operator/hardened")).Out, ct);

            var (exit, output, error) = await RunAsync(native, "rights", "check", "--rights", rights, "--kubeconfig", kubeconfig);

            exit.Should().Be(1, output + error);
            output.Should().Contain("via ClusterRoleBinding ops-debug-greeter -> ClusterRole ops-debug").And.Contain("confirmed by a SubjectAccessReview");
        }
        finally
        {
            File.Delete(kubeconfig);
            File.Delete(rights);
        }
    }

    [Fact]
    public async Task VersionAndHelp_AnswerFromTheNativeBinary()
    {
        var native = RequireNative();

        var (exit, output, _) = await RunAsync(native, "--version");
        var help = await RunAsync(native, "--help");

        exit.Should().Be(0);
        output.Trim().Should().StartWith(Harness.Qualification.Qualifier.Version);
        help.Out.Should().Contain("preflight").And.Contain("qualify").And.Contain("sweep").And.Contain("runs in the managed harness");
    }

    [Fact]
    public async Task ClusterCommands_AreHandedToTheManagedHarness()
    {
        var native = RequireNative();

        var qualify = await RunAsync(native, "qualify", "--help");
        var kind = await RunAsync(native, "kind-config");
        var missing = await RunAsync(native, "qualify", "--scenario", "fixtures/scenarios/no-such.yaml");

        qualify.Exit.Should().Be(0, qualify.Err);
        qualify.Out.Should().Contain("--scenario").And.Contain("--vehicle", "the managed harness's own help for qualify");
        kind.Exit.Should().Be(0, kind.Err);
        kind.Out.Should().Contain("kind: Cluster");
        missing.Exit.Should().Be(2);
        missing.Err.Should().StartWith("harness: ").And.Contain("no-such.yaml");
    }

    [Fact]
    public async Task RightsInstallAndSelf_AreHandedToTheManagedHarness_AndAnswerAsItDoes()
    {
        var native = RequireNative();
        var managed = RepoPaths.File("artifacts/cli/managed/Harness.Cli.dll");
        string[] self = ["rights", "self", "--mode", "find", "--namespace", "team-a", "--subject", "ServiceAccount:team-a/releaser"];
        string[] install = ["rights", "install", "--rights", "fixtures/sample-operator/rights.yaml", "--api-server", "172.18.0.2"];

        var nativeSelf = await RunAsync(native, self);
        var managedSelf = await RunAsync("dotnet", [managed, .. self]);
        var nativeInstall = await RunAsync(native, install);
        var managedInstall = await RunAsync("dotnet", [managed, .. install]);

        nativeSelf.Exit.Should().Be(0, nativeSelf.Err);
        nativeSelf.Out.Should().Be(managedSelf.Out).And.Contain("kind: ClusterRole");
        nativeInstall.Exit.Should().Be(0, nativeInstall.Err);
        nativeInstall.Out.Should().Be(managedInstall.Out).And.Contain("kind: CronJob");
    }

    [Fact]
    public async Task WithoutTheManagedHarness_AClusterCommandSaysWhatToInstall()
    {
        var native = RequireNative();
        var alone = Directory.CreateTempSubdirectory("harness-native-");
        try
        {
            var copy = Path.Combine(alone.FullName, "harness");
            File.Copy(native, copy);
            File.SetUnixFileMode(copy, (UnixFileMode)0b111_101_101);

            var (exit, _, error) = await RunAsync(copy, "qualify", "--scenario", "x.yaml");
            var preflight = await RunAsync(copy, "preflight", RepoPaths.File("fixtures/sample-operator/hardened"));

            exit.Should().Be(2);
            error.Should().Contain("`harness qualify` runs in the managed harness, which is not beside this native one").And.Contain("dotnet tool install -g OperatorHarness.Cli");
            preflight.Exit.Should().Be(0, "pre-flight needs nothing beside the native binary");
        }
        finally
        {
            alone.Delete(recursive: true);
        }
    }
}
