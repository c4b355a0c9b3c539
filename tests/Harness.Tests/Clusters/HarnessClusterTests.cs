using Harness.Clusters;
using Harness.Tests.Docker;

namespace Harness.Tests.Clusters;

/// <summary>
/// The cluster lifecycle against a fake `kind` (a script that records its arguments) and a kubeconfig that points at a
/// closed loopback port: everything the harness decides and runs is real, only kind's own work is not.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HarnessClusterTests(DockerFixture docker) : IDisposable
{
    private const string DeadKubeconfig = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: dead
          cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
        users:
        - name: u
          user: {token: not-a-real-token}
        contexts:
        - name: dead
          context: {cluster: dead, user: u}
        current-context: dead
        """;

    private const string FakeKind = """
        #!/bin/sh
        d=$(dirname "$0")
        echo "$*" >> "$d/calls.log"
        echo "$KIND_EXPERIMENTAL_DOCKER_NETWORK" >> "$d/network.log"
        case "$1 $2" in
          "get clusters") cat "$d/clusters" 2>/dev/null || echo "No kind clusters found." ;;
          "create cluster"|"export kubeconfig")
            while [ $# -gt 0 ]; do [ "$1" = "--kubeconfig" ] && cp "$d/kubeconfig" "$2"; shift; done ;;
          "export logs") mkdir -p "$3" && echo "node logs" > "$3/kind.log" ;;
        esac
        exit 0
        """;

    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("harness-fake-kind-");
    private readonly string network = $"harness-test-kind-{Guid.NewGuid():N}"[..28];

    private string Bin => Path.Combine(work.FullName, "bin");

    private string[] Calls => File.Exists(Path.Combine(Bin, "calls.log")) ? File.ReadAllLines(Path.Combine(Bin, "calls.log")) : [];

    public void Dispose()
    {
        work.Delete(recursive: true);
        if (docker.Docker is { } host)
        {
            host.RemoveNetworkAsync(network).GetAwaiter().GetResult();
        }
    }

    private ClusterOptions Options(Cni cni = Cni.Kindnet)
    {
        Directory.CreateDirectory(Bin);
        var kind = Path.Combine(Bin, "kind");
        File.WriteAllText(kind, FakeKind.Replace("\r", "", StringComparison.Ordinal) + "\n");
        File.SetUnixFileMode(kind, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(Bin, "kubeconfig"), DeadKubeconfig);
        return ClusterOptions.ForKind(new KindClusterOptions { Cni = cni, DockerNetwork = network }) with
        {
            KindBinary = new KindBinaryOptions { SearchPath = Bin, AllowDownload = false },
            LogDirectory = Path.Combine(work.FullName, "logs"),
            RemoveStaleAfter = null,
            ProbeImage = "harness.local/probe:test",
        };
    }

    [Fact]
    public async Task StartAsync_KindApiServerDead_ExportsLogsDeletesTheClusterAndSaysWhy()
    {
        docker.Require();
        var options = Options();
        var name = options.KindClusterName;

        var act = () => HarnessCluster.StartAsync(options, ct: TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<PrerequisiteException>()).Which;
        ex.Prerequisite.Should().Be("cluster");
        ex.Message.Should().Contain("https://127.0.0.1:1").And.Contain("did not answer");
        Calls.Should().HaveCount(4);
        Calls[0].Should().Be("get clusters");
        Calls[1].Should().MatchRegex($@"^create cluster --name {name} --config \S+/harness-{name}/kind-config.yaml --image kindest/node:v1\.34\.0@sha256:[0-9a-f]{{64}} --kubeconfig \S+/kubeconfig --wait 480s$");
        Calls[2].Should().Be($"export logs {Path.Combine(work.FullName, "logs", name)} --name {name}");
        Calls[3].Should().StartWith($"delete cluster --name {name} --kubeconfig ");
        File.Exists(Path.Combine(work.FullName, "logs", name, "kind.log")).Should().BeTrue();
        File.ReadAllText(Path.Combine(Bin, "network.log")).Should().Contain(network, "kind is told which network to use");
        Directory.Exists(Path.Combine(Path.GetTempPath(), $"harness-{name}")).Should().BeFalse("the session folder goes with the cluster");
    }

    [Fact]
    public async Task StartAsync_KeepOnFailure_RetainsNodesAndKeepsTheCluster()
    {
        docker.Require();
        var options = Options() with { KeepOnFailure = true };
        var name = options.KindClusterName;

        await FluentActions.Awaiting(() => HarnessCluster.StartAsync(options, ct: TestContext.Current.CancellationToken)).Should().ThrowAsync<PrerequisiteException>();

        Calls[1].Should().EndWith("--retain");
        Calls.Should().NotContain(c => c.StartsWith("delete", StringComparison.Ordinal));
        var session = Path.Combine(Path.GetTempPath(), $"harness-{name}");
        File.ReadAllText(Path.Combine(session, "podsecurity", "admission-config.yaml")).Should().Contain("enforce: \"restricted\"");
        Directory.Delete(session, recursive: true);
    }

    [Fact]
    public async Task StartAsync_ReuseOfARunningCluster_ExportsItsKubeconfigAndNeverDeletesIt()
    {
        docker.Require();
        var options = Options() with { Reuse = true };
        File.WriteAllText(Path.Combine(Bin, "clusters"), "harness\nsomething-else\n");

        await FluentActions.Awaiting(() => HarnessCluster.StartAsync(options, ct: TestContext.Current.CancellationToken)).Should().ThrowAsync<PrerequisiteException>();

        Calls.Should().Contain(c => c.StartsWith("export kubeconfig --name harness --kubeconfig ", StringComparison.Ordinal));
        Calls.Should().NotContain(c => c.StartsWith("create", StringComparison.Ordinal) || c.StartsWith("delete", StringComparison.Ordinal));
        Directory.Delete(Path.Combine(Path.GetTempPath(), "harness-harness"), recursive: true);
    }

    [Fact]
    public async Task StartAsync_CalicoWithoutKubectl_StopsBeforeCreatingAnything()
    {
        docker.Require();

        var act = () => HarnessCluster.StartAsync(Options(Cni.Calico), ct: TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<PrerequisiteException>()).Which;
        ex.Prerequisite.Should().Be("kubectl");
        ex.Message.Should().Contain("install Calico");
        Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task StartAsync_NoKindAndNoDownload_NamesKind()
    {
        docker.Require();
        var options = Options() with { KindBinary = new KindBinaryOptions { SearchPath = work.FullName, AllowDownload = false } };

        var act = () => HarnessCluster.StartAsync(options, ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().StartWith("kind: kind is not on PATH; downloading is turned off");
    }

    [Fact]
    public async Task StartAsync_ExistingClusterWithoutProbeImage_SaysHowToProvideOne()
    {
        var act = () => HarnessCluster.StartAsync(ClusterOptions.ForExisting("/nonexistent"), ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().Contain("HARNESS_PROBE_IMAGE");
    }

    [Fact]
    public async Task ConnectAsync_MissingKubeconfig_NamesThePath()
    {
        var act = () => HarnessCluster.ConnectAsync("/nonexistent/kubeconfig", null, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().Be(
            "kubeconfig: no file at /nonexistent/kubeconfig. Set HARNESS_KUBECONFIG (or KUBECONFIG) to the cluster's kubeconfig, or let the harness create a kind cluster.");
    }

    [Fact]
    public async Task ConnectAsync_UnknownContext_NamesIt()
    {
        var path = Path.Combine(work.FullName, "kubeconfig");
        await File.WriteAllTextAsync(path, DeadKubeconfig, TestContext.Current.CancellationToken);

        var act = () => HarnessCluster.ConnectAsync(path, "staging", TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().Contain("(context staging) cannot be used");
    }

    [Fact]
    public async Task ConnectAsync_ApiServerNotAnswering_SaysSoWithoutLeakingTheToken()
    {
        var path = Path.Combine(work.FullName, "kubeconfig");
        await File.WriteAllTextAsync(path, DeadKubeconfig, TestContext.Current.CancellationToken);

        var act = () => HarnessCluster.ConnectAsync(path, null, TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<PrerequisiteException>()).Which;
        ex.Message.Should().StartWith("cluster: the API server at https://127.0.0.1:1").And.NotContain("not-a-real-token");
    }
}

public sealed class CustomProviderTests
{
    private sealed class DeadProvider : IClusterProvider
    {
        public List<bool> Teardowns { get; } = [];

        public string Name => "dead";

        public Task<HarnessCluster> StartAsync(ClusterOptions options, TextWriter log, CancellationToken ct)
        {
            var config = new k8s.KubernetesClientConfiguration { Host = "https://127.0.0.1:1", SkipTlsVerify = true, AccessToken = "not-a-real-token" };
            return Task.FromResult(HarnessCluster.Adopt("dead", "/none", null, new k8s.Kubernetes(config), "harness.local/probe:x", "none", null, failed =>
            {
                Teardowns.Add(failed);
                return ValueTask.CompletedTask;
            }));
        }
    }

    [Fact]
    public async Task StartAsync_CustomProviderFailingVerification_TearsDownAsFailedAndSaysWhy()
    {
        var provider = new DeadProvider();

        var act = () => HarnessCluster.StartAsync(provider, new ClusterOptions(), ct: TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<PrerequisiteException>()).Which;
        ex.Message.Should().StartWith("cluster: verification of dead could not complete against the API server").And.NotContain("not-a-real-token");
        provider.Teardowns.Should().Equal(true);
    }

    [Fact]
    public async Task StartAsync_VerifyingBesideTheRun_HandsTheClusterOutAtOnce_AndVerifiedAsyncCarriesTheFailure()
    {
        // Issue #26: the deploy, the vantage and the twin do not wait for the canaries; whatever awaits VerifiedAsync does.
        var provider = new DeadProvider();
        var clock = new Harness.Runs.PhaseClock();

        var cluster = await HarnessCluster.StartAsync(provider, new ClusterOptions(), ct: TestContext.Current.CancellationToken, verifyBeside: clock);
        var verified = () => cluster.VerifiedAsync(TestContext.Current.CancellationToken);

        (await verified.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().StartWith("cluster: verification of dead could not complete against the API server");
        clock.Timings.Should().ContainSingle(t => t.Phase == Harness.Runs.RunPhase.Verification);
        await cluster.DisposeAsync();
        provider.Teardowns.Should().Equal([true], "a cluster that failed verification is torn down as failed (its logs exported)");
    }

    [Fact]
    public async Task StartAsync_VerificationOff_HandsTheClusterOutAndTearsDownOnDispose()
    {
        var provider = new DeadProvider();

        var cluster = await HarnessCluster.StartAsync(provider, new ClusterOptions { Verify = false }, ct: TestContext.Current.CancellationToken);
        provider.Teardowns.Should().BeEmpty();
        await cluster.DisposeAsync();
        await cluster.DisposeAsync();

        provider.Teardowns.Should().Equal(false);
        cluster.Verification.Should().BeNull();
    }
}

public sealed class KindNetworkTests(DockerFixture docker)
{
    [Fact]
    public async Task EnsureBridgeNetworkAsync_CreatesWithTheSubnetOnceAndReportsAnExistingOnesSubnet()
    {
        var (host, _) = docker.Require();
        var name = $"harness-test-net-{Guid.NewGuid():N}"[..26];
        try
        {
            // Outside Docker's default address pools (172.17-31/16, 192.168/20), where networks other tests create concurrently land.
            var first = await host.EnsureBridgeNetworkAsync(name, "10.213.47.0/24", TestContext.Current.CancellationToken);
            var second = await host.EnsureBridgeNetworkAsync(name, "10.99.0.0/24", TestContext.Current.CancellationToken);

            first.Should().Be("10.213.47.0/24");
            second.Should().Be("10.213.47.0/24", "an existing network keeps its subnet, and the harness says which it is");
        }
        finally
        {
            await host.RemoveNetworkAsync(name, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Issue #26: several fixtures in one test run share one vantage.</summary>
public sealed class SharedVantageTests
{
    private sealed class Control : Harness.Vehicles.IProbeVehicle
    {
        public string Name => "control";

        public System.Collections.Immutable.ImmutableArray<string> Notes => [];

        public Task<Harness.Protocol.AgentReport> RunAsync(Harness.Protocol.AgentPlan plan, CancellationToken ct = default) => throw new NotSupportedException();
    }

    [Fact]
    public async Task SharedVantageAsync_StartsOnceForConcurrentRuns_BorrowedCopiesRemoveNothing_TheClusterRemovesIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var starts = 0;
        var removed = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cluster = new HarnessCluster(ClusterProvider.Existing, "shared", "/dev/null", null, new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "https://127.0.0.1:1" }), "probe", "cni", null, _ => ValueTask.CompletedTask)
        {
            VantageStarter = async (_, token) =>
            {
                Interlocked.Increment(ref starts);
                await release.Task.WaitAsync(token);
                return EgressVantage.Of(EgressVantageKind.InClusterSink, [], new Control(), () =>
                {
                    Interlocked.Increment(ref removed);
                    return ValueTask.CompletedTask;
                });
            },
        };

        var runs = Enumerable.Range(0, 3).Select(_ => cluster.SharedVantageAsync(TextWriter.Null, ct)).ToList();
        release.SetResult();
        var vantages = await Task.WhenAll(runs);
        foreach (var v in vantages)
        {
            await v.DisposeAsync();
        }

        starts.Should().Be(1, "three runs, one vantage");
        removed.Should().Be(0, "a run's copy is borrowed");
        vantages.Select(v => v.Control).Distinct().Should().ContainSingle();
        await cluster.DisposeAsync();
        removed.Should().Be(1, "the cluster removes it, once");
        await FluentActions.Awaiting(() => cluster.SharedVantageAsync(TextWriter.Null, ct)).Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task SharedVantageAsync_TheStartingRunEndsAndClosesItsLog_TheStartStillCompletesForTheOthers()
    {
        // Issue #35, on the real cluster: the first run's operator was refused by PodSecurity at once, its log closed, and
        // the vantage it had started wrote its last line there: "Cannot write to a closed TextWriter" for every later run.
        var ct = TestContext.Current.CancellationToken;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var cluster = new HarnessCluster(ClusterProvider.Existing, "shared", "/dev/null", null, new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "https://127.0.0.1:1" }), "probe", "cni", null, _ => ValueTask.CompletedTask)
        {
            VantageStarter = async (log, token) =>
            {
                await release.Task.WaitAsync(token);
                await log.WriteLineAsync("egress: the harness's sink on Docker network kind");
                return EgressVantage.Of(EgressVantageKind.InClusterSink, [], new Control(), () => ValueTask.CompletedTask);
            },
        };
        var firstRunsLog = new StringWriter();
        var first = cluster.SharedVantageAsync(firstRunsLog, ct);
        firstRunsLog.Dispose();

        var second = cluster.SharedVantageAsync(TextWriter.Null, ct);
        release.SetResult();

        (await second).Kind.Should().Be(EgressVantageKind.InClusterSink);
        (await first).Kind.Should().Be(EgressVantageKind.InClusterSink);
    }

    [Fact]
    public async Task SharedVantageAsync_AStartThatFailed_IsTriedAgainByTheNextRun()
    {
        var ct = TestContext.Current.CancellationToken;
        var attempts = 0;
        await using var cluster = new HarnessCluster(ClusterProvider.Existing, "shared", "/dev/null", null, new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "https://127.0.0.1:1" }), "probe", "cni", null, _ => ValueTask.CompletedTask)
        {
            VantageStarter = (_, _) => ++attempts == 1
                ? Task.FromException<EgressVantage>(new ClusterVerificationException("egress", "the control pod cannot reach the sink"))
                : Task.FromResult(EgressVantage.Of(EgressVantageKind.InClusterSink, [], new Control(), () => ValueTask.CompletedTask)),
        };

        await FluentActions.Awaiting(() => cluster.SharedVantageAsync(TextWriter.Null, ct)).Should().ThrowAsync<ClusterVerificationException>();
        (await cluster.SharedVantageAsync(TextWriter.Null, ct)).Kind.Should().Be(EgressVantageKind.InClusterSink);
        attempts.Should().Be(2);
    }
}
