using System.Text.Json.Nodes;
using Harness.Deployment;
using Harness.Runs;

namespace Harness.Tests.Deployment;

/// <summary>
/// Issue #26: the deploy is located as soon as its manifests are applied (its pod template), and its rollout is awaited
/// apart, so a twin pod starts beside it. A twin keeps the operator's labels: the rollout must never take it for the operator.
/// </summary>
public sealed class ApplyThenRolloutTests
{
    private static JsonObject RunningPod(string ns, string name, JsonNode template, params (string Key, string Value)[] extraLabels)
    {
        var labels = template["metadata"]!["labels"]!.DeepClone().AsObject();
        foreach (var (key, value) in extraLabels)
        {
            labels[key] = value;
        }
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = labels },
            ["spec"] = template["spec"]!.DeepClone(),
            ["status"] = new JsonObject
            {
                ["phase"] = "Running",
                ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }),
                ["containerStatuses"] = new JsonArray([.. template["spec"]!["containers"]!.AsArray().Select(c => (JsonNode)new JsonObject
                {
                    ["name"] = c!["name"]!.DeepClone(), ["ready"] = true, ["started"] = true, ["restartCount"] = 0, ["image"] = c["image"]!.DeepClone(), ["imageID"] = "",
                    ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = "2026-11-27T12:00:00Z" } },
                })]),
            },
        };
    }

    [Fact]
    public async Task Apply_LocatesTheTemplate_AndTheRolloutResolvesTheOperatorsPod_NeverTheTwin()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        // A Deployment controller that reports the rollout done at once, and a kubelet that has not started the pod yet.
        api.Created = (_, obj) =>
        {
            if ((string?)obj["kind"] == "Deployment")
            {
                obj["status"] = new JsonObject { ["observedGeneration"] = 1, ["replicas"] = 1, ["updatedReplicas"] = 1, ["readyReplicas"] = 1, ["availableReplicas"] = 1 };
            }
        };
        await using var cluster = SharedClusterTests.Cluster(api);

        await using var deployed = await OperatorDeployment.ApplyAsync(cluster, SharedClusterTests.Sample("hardened"), SessionId.Parse("apply1"), TextWriter.Null, ct: ct);

        var template = deployed.Template;
        template.PodName.Should().BeNull("nothing runs yet: this is the pod template");
        template.Namespace.Should().EndWith("apply1");
        template.ServiceAccount.Should().Be("greeter-operator");
        template.Container.Should().Be("operator");
        template.PodSpec.SecurityContext!.RunAsNonRoot.Should().BeTrue();
        FluentActions.Invoking(() => deployed.Target).Should().Throw<InvalidOperationException>().WithMessage("*await RolloutAsync*");

        // A twin pod of this run, running and ready, with the operator's labels (it sorts before the operator's own pod).
        var podTemplate = api.Get("apis/apps/v1/deployments", template.Namespace, "greeter-operator")!["spec"]!["template"]!;
        api.Put(RunningPod(template.Namespace, "greeter-operator-0-harness-twin-apply1", podTemplate, (SessionLabels.Role, "twin"), (SessionLabels.Session, "apply1")), "harness");
        var rolling = deployed.RolloutAsync(ct);
        // Once the rollout has looked at the pods (and found only the twin), the operator's pod starts.
        await Until(() => api.Requests.Any(r => r.Contains("/events", StringComparison.Ordinal)), ct);
        api.Put(RunningPod(template.Namespace, "greeter-operator-7c9d-abcde", podTemplate), "kubelet");

        var running = await rolling;

        running.PodName.Should().Be("greeter-operator-7c9d-abcde");
        deployed.Target.Should().BeSameAs(running);
        (await deployed.RolloutAsync(ct)).Should().BeSameAs(running, "the rollout is seen through once");
    }

    private static async Task Until(Func<bool> condition, CancellationToken ct)
    {
        while (!condition())
        {
            await Task.Delay(20, ct);
        }
    }
}
