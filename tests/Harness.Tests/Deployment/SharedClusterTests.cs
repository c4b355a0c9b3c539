using k8s;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Runs;

namespace Harness.Tests.Deployment;

/// <summary>
/// Issue #23, items 1 and 2, reproduced against the loopback API server: runs on one cluster (concurrent, or one after
/// another while the previous one's CRD is still terminating), a run killed without teardown, and what the next run and
/// the sweep make of it. The server terminates namespaces and CRDs the way the real one does, refuses custom resources
/// of a terminating CRD with the real message, and its "controllers" roll Deployments out.
/// </summary>
public sealed class SharedClusterTests
{
    private const string CrdCollection = "apis/apiextensions.k8s.io/v1/customresourcedefinitions";

    /// <summary>A cluster with the API server's Service and EndpointSlice, and a Deployment controller plus kubelet that make every Deployment roll out at once.</summary>
    internal static async Task<FakeKubeApiServer> ClusterAsync(CancellationToken ct)
    {
        var api = await FakeKubeApiServer.StartAsync(ct);
        api.Seed("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"v1","kind":"Service","metadata":{"name":"kubernetes","namespace":"default"},"spec":{"clusterIP":"10.96.0.1","clusterIPs":["10.96.0.1"],"ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":6443}]}}""", "kube-apiserver");
        api.Seed("""{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"kubernetes","namespace":"default","labels":{"kubernetes.io/service-name":"kubernetes"}},"addressType":"IPv4","endpoints":[{"addresses":["172.18.0.2"]}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}""", "kube-apiserver");
        api.Created = (server, obj) =>
        {
            if ((string?)obj["kind"] != "Deployment")
            {
                return;
            }
            var ns = (string)obj["metadata"]!["namespace"]!;
            var name = (string)obj["metadata"]!["name"]!;
            var template = obj["spec"]!["template"]!;
            server.Put(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Pod",
                ["metadata"] = new JsonObject { ["name"] = $"{name}-7c9d-abcde", ["namespace"] = ns, ["labels"] = template["metadata"]!["labels"]!.DeepClone() },
                ["spec"] = template["spec"]!.DeepClone(),
                ["status"] = new JsonObject
                {
                    ["phase"] = "Running",
                    ["podIP"] = "10.244.0.9",
                    ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }),
                    ["containerStatuses"] = new JsonArray([.. template["spec"]!["containers"]!.AsArray().Select(c => (JsonNode)new JsonObject
                    {
                        ["name"] = c!["name"]!.DeepClone(), ["ready"] = true, ["started"] = true, ["restartCount"] = 0, ["image"] = c["image"]!.DeepClone(), ["imageID"] = "", ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = "2026-11-27T12:00:00Z" } },
                    })]),
                },
            }, "kubelet");
            obj["status"] = new JsonObject { ["observedGeneration"] = 1, ["replicas"] = 1, ["updatedReplicas"] = 1, ["readyReplicas"] = 1, ["availableReplicas"] = 1 };
        };
        return api;
    }

    internal static HarnessCluster Cluster(FakeKubeApiServer api) =>
        HarnessCluster.Adopt("fake", "/dev/null", null, api.Client(), "harness.local/probe:test", "fake", null, _ => ValueTask.CompletedTask);

    internal static OperatorSpec Sample(string variant) => new()
    {
        Manifests = [RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File($"fixtures/sample-operator/{variant}")],
        Workload = "greeter-operator",
        RolloutTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>A second operator (its own Deployment, namespace and roles) that uses the sample's CRD.</summary>
    private static OperatorSpec SecondOperator(DirectoryInfo dir)
    {
        var text = File.ReadAllText(RepoPaths.File("fixtures/sample-operator/weak/deployment.yaml")).Replace("greeter-operator", "greeting-auditor", StringComparison.Ordinal).Replace("greeter-weak", "auditor-system", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir.FullName, "auditor.yaml"), text);
        File.WriteAllText(Path.Combine(dir.FullName, "rbac.yaml"), File.ReadAllText(RepoPaths.File("fixtures/sample-operator/weak/rbac.yaml")).Replace("greeter-operator", "greeting-auditor", StringComparison.Ordinal).Replace("greeter-weak", "auditor-system", StringComparison.Ordinal));
        return new OperatorSpec { Manifests = [RepoPaths.File("fixtures/sample-operator/shared/crd.yaml"), dir.FullName], Workload = "greeting-auditor", RolloutTimeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>What the harness left: every object with its labels, or an API-server object the sample declares.</summary>
    private static async Task<IReadOnlyList<string>> LeftAsync(FakeKubeApiServer api)
    {
        await Task.Delay(api.TerminationDelay * 3);
        return [.. api.Keys.Where(k => !k.StartsWith("api/v1/namespaces|", StringComparison.Ordinal) || !k.EndsWith("|default", StringComparison.Ordinal))
            .Where(k => !k.Contains("|default|", StringComparison.Ordinal))];
    }

    [Fact]
    public async Task TerminatingCrd_RefusesItsCustomResourcesWithTheRealMessage()
    {
        // The failure of issue #23 item 1, as the real server answered it
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        api.TerminationDelay = TimeSpan.FromSeconds(30);
        using var client = api.Client();
        await client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(k8s.KubernetesYaml.Deserialize<k8s.Models.V1CustomResourceDefinition>(File.ReadAllText(RepoPaths.File("fixtures/sample-operator/shared/crd.yaml"))), cancellationToken: ct);
        await client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync("greetings.demo.harness.dev", cancellationToken: ct);

        var act = () => client.CustomObjects.CreateNamespacedCustomObjectAsync(new { apiVersion = "demo.harness.dev/v1", kind = "Greeting", metadata = new { name = "hello" } }, "demo.harness.dev", "v1", "greeter-system", "greetings", cancellationToken: ct);

        (await act.Should().ThrowAsync<k8s.Autorest.HttpOperationException>()).Which.Response.Content
            .Should().Contain("greetings.demo.harness.dev \\u0022hello\\u0022 is forbidden: create not allowed while custom resource definition is terminating");
    }

    [Fact]
    public async Task OneAfterAnother_TheNextRunWaitsForTheReleasedCrdToGo_ThenCreatesIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        api.TerminationDelay = TimeSpan.FromSeconds(2);
        await using var cluster = Cluster(api);
        var log = new StringWriter();

        var first = await OperatorDeployment.DeployAsync(cluster, Sample("hardened"), SessionId.Parse("run1"), log, ct: ct);
        await first.DisposeAsync(); // the last holder: its CRD is deleted and stays terminating for 2 s
        api.Get(CrdCollection, null, "greetings.demo.harness.dev")!["metadata"]!["deletionTimestamp"].Should().NotBeNull();
        await using var second = await OperatorDeployment.DeployAsync(cluster, Sample("hardened"), SessionId.Parse("run2"), log, ct: ct);

        log.ToString().Should().Contain("CustomResourceDefinition greetings.demo.harness.dev is being deleted (another run's teardown, or a sweep); waiting for it to go before applying");
        api.Get("apis/demo.harness.dev/v1/greetings", second.Target.Namespace, "hello").Should().NotBeNull("the second run's Greeting went in once the CRD was back");
        var crd = api.Get(CrdCollection, null, "greetings.demo.harness.dev")!;
        crd["metadata"]!["deletionTimestamp"].Should().BeNull();
        crd["metadata"]!["labels"]!["hold.harness.dev/run2"]!.GetValue<string>().Should().Be("true");
    }

    [Fact]
    public async Task FourConcurrentRuns_SameOperatorAndOneSharingItsCrd_NeverInterfere_AndLeaveNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        await using var cluster = Cluster(api);
        var dir = Directory.CreateTempSubdirectory("harness-auditor-");
        try
        {
            var specs = new[] { Sample("weak"), Sample("weak"), Sample("hardened"), SecondOperator(dir) };
            var logs = specs.Select(_ => new StringWriter()).ToArray();
            var watch = Stopwatch.StartNew();

            // All four deploy at once; each checks what it sees while the others hold the cluster too.
            var deployed = await Task.WhenAll(specs.Select((spec, i) => OperatorDeployment.DeployAsync(cluster, spec, SessionId.Parse($"conc{i}"), logs[i], ct: ct)));
            var deployTime = watch.Elapsed;
            for (var i = 0; i < 4; i++)
            {
                var ns = deployed[i].Target.Namespace;
                ns.Should().EndWith($"-conc{i}");
                if (i < 2)
                {
                    // Each weak run binds its own renamed ClusterRole to its own account: nobody rewrote it.
                    var binding = api.Get("apis/rbac.authorization.k8s.io/v1/clusterrolebindings", null, $"greeter-operator-weak-conc{i}")!;
                    binding["subjects"]![0]!["namespace"]!.GetValue<string>().Should().Be(ns);
                    binding["roleRef"]!["name"]!.GetValue<string>().Should().Be($"greeter-operator-weak-conc{i}");
                }
                if (i < 3)
                {
                    api.Get("apis/demo.harness.dev/v1/greetings", ns, "hello").Should().NotBeNull("its own Greeting, in its own namespace");
                }
            }
            api.Get(CrdCollection, null, "greetings.demo.harness.dev")!["metadata"]!["labels"]!.AsObject().Select(kv => kv.Key).Where(k => k.StartsWith("hold.", StringComparison.Ordinal))
                .Should().BeEquivalentTo(["hold.harness.dev/conc0", "hold.harness.dev/conc1", "hold.harness.dev/conc2", "hold.harness.dev/conc3"]);

            // They finish in any order; the CRD outlives every run but the last.
            await deployed[1].DisposeAsync();
            api.Get("apis/demo.harness.dev/v1/greetings", deployed[0].Target.Namespace, "hello").Should().NotBeNull("one run's teardown never takes another's objects");
            await Task.WhenAll(deployed[0].DisposeAsync().AsTask(), deployed[3].DisposeAsync().AsTask(), deployed[2].DisposeAsync().AsTask());
            TestContext.Current.TestOutputHelper?.WriteLine($"4 concurrent deploys: {deployTime.TotalMilliseconds:0} ms; with teardown {watch.Elapsed.TotalMilliseconds:0} ms");

            (await LeftAsync(api)).Should().BeEmpty("every namespace, renamed cluster-scoped object and the shared CRD is gone");
            string.Concat(logs.Select(l => l.ToString())).Should().Contain("still held by").And.Contain("(the last run that held it)");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>A run holding a lease last renewed at <paramref name="renewed"/> deploys and is killed (-9): no teardown, no more renewals.</summary>
    private static async Task KilledRunAsync(HarnessCluster cluster, IKubernetes client, SessionId session, OperatorSpec spec, DateTimeOffset renewed, CancellationToken ct)
    {
        await client.CoordinationV1.CreateNamespacedLeaseAsync(SessionLease.Build(session, renewed), SessionLease.Namespace, cancellationToken: ct);
        _ = await OperatorDeployment.DeployAsync(cluster, spec, session, TextWriter.Null, ct: ct);
    }

    [Fact]
    public async Task KilledRun_ItsObjectsAreRemovedByTheSweep_AndNeverAdopted()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        await using var cluster = Cluster(api);
        using var client = api.Client();
        var dead = SessionId.Parse("killed1");
        var spec = Sample("weak") with { Namespace = "greeter-weak" };
        await KilledRunAsync(cluster, client, dead, spec, DateTimeOffset.UtcNow, ct);
        // A live run shares the cluster and the CRD.
        await using var live = await SessionLease.AcquireAsync(client, SessionId.Parse("live1"), ct: ct);
        var other = await OperatorDeployment.DeployAsync(cluster, Sample("hardened"), SessionId.Parse("live1"), TextWriter.Null, ct: ct);

        // While the killed run's lease is current, nothing of it is touched...
        var log = new StringWriter();
        (await LeftoverSweep.SweepAsync(client, TimeSpan.FromHours(6), null, log, ct)).Should().BeEmpty();
        // ...and a run that wants its fixed namespace is refused with the reason.
        var clash = () => OperatorDeployment.DeployAsync(cluster, spec, SessionId.Parse("next1"), TextWriter.Null, ct: ct);
        (await clash.Should().ThrowAsync<DeploymentException>()).Which.Message.Should().Contain("belongs to harness session killed1, which is still running");

        // Once its lease has lapsed (Duration after its last renewal), the sweep removes all of it and releases its CRD hold.
        api.Update("apis/coordination.k8s.io/v1/leases", SessionLease.Namespace, SessionLease.Name(dead), l => l["spec"]!["renewTime"] = DateTimeOffset.UtcNow.AddSeconds(-31).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture));
        var watch = Stopwatch.StartNew();
        var swept = await LeftoverSweep.SweepAsync(client, TimeSpan.FromHours(6), null, log, ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"sweep of a dead session: {watch.Elapsed.TotalMilliseconds:0} ms");
        swept.Should().BeEquivalentTo(["Namespace greeter-weak", "ClusterRoleBinding greeter-operator-weak-killed1", "ClusterRole greeter-operator-weak-killed1", "Lease default/harness-session-killed1"]);
        log.ToString().Should().Contain("released CustomResourceDefinition greetings.demo.harness.dev from dead sessions killed1; live runs still hold it");
        api.Get(CrdCollection, null, "greetings.demo.harness.dev")!["metadata"]!["labels"]!["hold.harness.dev/killed1"].Should().BeNull();

        // The next run with that namespace creates it afresh (it does not adopt it), and its teardown removes it.
        await Task.Delay(api.TerminationDelay * 2, ct);
        var next = await OperatorDeployment.DeployAsync(cluster, spec, SessionId.Parse("next2"), TextWriter.Null, ct: ct);
        next.Applied.Single(a => a.Object.Kind == "Namespace").Created.Should().BeTrue();
        await next.DisposeAsync();
        await other.DisposeAsync();
        await live.DisposeAsync();
        (await LeftAsync(api)).Should().BeEmpty();
    }

    [Fact]
    public async Task KilledRun_ANextRunFindsItsNamespaceTerminatingOrLeft_RemovesItInsteadOfAdoptingIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        await using var cluster = Cluster(api);
        using var client = api.Client();
        var spec = Sample("hardened") with { Namespace = "greeter-system" };
        await KilledRunAsync(cluster, client, SessionId.Parse("killed2"), spec, DateTimeOffset.UtcNow.AddMinutes(-5), ct);
        var log = new StringWriter();

        await using var next = await OperatorDeployment.DeployAsync(cluster, spec, SessionId.Parse("next3"), log, ct: ct);

        log.ToString().Should().Contain("Namespace greeter-system was left by session killed2, which is dead; removing it before applying");
        log.ToString().Should().Contain("applied Namespace greeter-system (created)");
        api.Get("api/v1/namespaces", null, "greeter-system")!["metadata"]!["labels"]!["io.harness.session"]!.GetValue<string>().Should().Be("next3");
    }

    [Fact]
    public async Task SweepCommand_RemovesADeadSessionsObjects_AndLeavesALiveOnesAlone()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        var now = DateTimeOffset.UtcNow;
        foreach (var (session, renewed) in new[] { ("dead9", now.AddMinutes(-2)), ("live9", now) })
        {
            api.Seed(k8s.KubernetesJson.Serialize(SessionLease.Build(SessionId.Parse(session), renewed)), "harness");
            api.Seed("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"harness-op-@S","labels":{"io.harness.owner":"harness","io.harness.session":"@S"}}}""".Replace("@S", session, StringComparison.Ordinal), "harness");
        }
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        try
        {
            var (exit, output, errors) = await CliRunner.RunAsync("sweep", "--kubeconfig", kubeconfig);

            exit.Should().Be(0, errors);
            output.Should().Contain("sweep: deleted Namespace harness-op-dead9 (session dead9 dead: its lease expired").And.Contain("sweep: removed 2 objects left by dead runs");
            api.Get("api/v1/namespaces", null, "harness-op-dead9")!["metadata"]!["deletionTimestamp"].Should().NotBeNull();
            api.Get("api/v1/namespaces", null, "harness-op-live9")!["metadata"]!["deletionTimestamp"].Should().BeNull("a live session's objects are never touched");
            api.Get("apis/coordination.k8s.io/v1/leases", "default", "harness-session-live9").Should().NotBeNull();
            api.Get("apis/coordination.k8s.io/v1/leases", "default", "harness-session-dead9").Should().BeNull();
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task CancelledRun_StopsAtOnce_AndRemovesWhatItCreated_LeaseIncluded()
    {
        // What `dotnet test` cancellation (and the CLI's SIGINT/SIGTERM) does to a run: its token is cancelled mid-deploy.
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        api.Created = null; // no controller: the rollout never finishes
        var cluster = Cluster(api);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = OperatorRun.Deploy(cluster, Sample("hardened") with { RolloutTimeout = TimeSpan.FromMinutes(2) }, new Harness.Probes.OperatorProbeOptions());
        var log = new StringWriter();
        var running = run.RunAsync(new RunSession(TextWriter.Synchronized(log), SessionId.Parse("cancel1"), ct: cancel.Token));
        while (!log.ToString().Contains("applied Deployment", StringComparison.Ordinal))
        {
            running.IsCompleted.Should().BeFalse($"the run stops only when cancelled: {running.Exception?.InnerException?.Message}\n{log}");
            await Task.Delay(50, ct);
        }
        api.Get("apis/coordination.k8s.io/v1/leases", "default", "harness-session-cancel1").Should().NotBeNull("the run holds its lease while it runs");

        var watch = Stopwatch.StartNew();
        await cancel.CancelAsync();
        await FluentActions.Awaiting(() => running).Should().ThrowAsync<OperationCanceledException>();

        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "it stops, it does not wait out the rollout");
        // What is left is the cluster's: the egress vantage every run on it shares (its control pod, started beside the
        // deploy), labelled with the cluster's session and removed with the cluster.
        (await LeftAsync(api)).Should().OnlyContain(k => k.Contains("|harness-control-", StringComparison.Ordinal), "the run's namespace, the CRD it held and its lease are gone");
        await cluster.DisposeAsync();
        (await LeftAsync(api)).Should().BeEmpty("the cluster takes its shared vantage with it");
    }

    [Fact]
    public async Task ReapplyInTheSameSession_KeepsItsLabels_AsServerSideApplyOwnsThem()
    {
        // Server-side apply removes a label its field manager set before and no longer sends (how a CRD lost every label).
        var ct = TestContext.Current.CancellationToken;
        await using var api = await ClusterAsync(ct);
        using var client = api.Client();
        var plan = ManifestPlan.Build(Harness.Manifests.ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened/namespace.yaml")), new Placement("harness-op-same1", "same1"));
        var session = SessionId.Parse("same1");

        await ManifestApplier.ApplyAsync(client, plan, new List<AppliedObject>(), session, ct: ct);
        var again = new List<AppliedObject>();
        await ManifestApplier.ApplyAsync(client, plan, again, session, ct: ct);

        again.Should().OnlyContain(a => a.Created, "this session created them");
        api.Get("api/v1/namespaces", null, "harness-op-same1")!["metadata"]!["labels"]!["io.harness.session"]!.GetValue<string>().Should().Be("same1");
    }
}
