using Harness.Kubernetes;
using k8s.Models;

namespace Harness.Tests.Deployment;

/// <summary>
/// Issue #36 item 5: an operator that cannot start is said at once, naming the pod, the container and the kubelet's
/// reason, instead of waiting out the rollout (180 s) or the twin (120 s). The reasons and messages are the real
/// kubelet's (containerd 2.1), as seen on a v1.36 node.
/// </summary>
public sealed class StartFailureTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static V1Pod Pod(double ageSeconds, V1ContainerState? state = null, V1ContainerState? last = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = "op-7d9c-x2", CreationTimestamp = Now.AddSeconds(-ageSeconds).UtcDateTime },
        Status = new V1PodStatus { Phase = "Pending", ContainerStatuses = [new V1ContainerStatus { Name = "manager", State = state, LastState = last, Image = "op:1", ImageID = "", Ready = false, RestartCount = 1 }] },
    };

    private static V1ContainerState Waiting(string reason, string message) => new() { Waiting = new V1ContainerStateWaiting { Reason = reason, Message = message } };

    [Fact]
    public void ACommandThatDoesNotExist_FailsAtOnce()
    {
        var pod = Pod(3, Waiting("RunContainerError", "failed to create containerd task: exec: \"/manager\": stat /manager: no such file or directory"));

        Pods.StartFailure([pod], Now).Should().Be("pod op-7d9c-x2 container \"manager\" cannot start: RunContainerError: failed to create containerd task: exec: \"/manager\": stat /manager: no such file or directory");
    }

    [Fact]
    public void AStartErrorExitBetweenRestarts_Fails()
    {
        var pod = Pod(10, Waiting("CrashLoopBackOff", "back-off 10s restarting failed container"),
            new V1ContainerState { Terminated = new V1ContainerStateTerminated { Reason = "StartError", ExitCode = 128, Message = "exec: \"/manager\": stat /manager: no such file or directory" } });

        Pods.StartFailure([pod], Now).Should().Contain("StartError: exec: \"/manager\"");
    }

    [Fact]
    public void AMissingSecret_GetsAShortGrace_ThenFails()
    {
        var waiting = Waiting("CreateContainerConfigError", "secret \"argocd-redis\" not found");

        Pods.StartFailure([Pod(5, waiting)], Now).Should().BeNull("another controller may still create it");
        Pods.StartFailure([Pod(25, waiting)], Now).Should().Contain("CreateContainerConfigError: secret \"argocd-redis\" not found (still, 25 s after the pod was created)");
    }

    [Fact]
    public void ACrashThatIsNotAStartError_AndAPullInProgress_AreWaitedFor()
    {
        Pods.StartFailure([Pod(30, Waiting("ContainerCreating", ""))], Now).Should().BeNull();
        Pods.StartFailure([Pod(30, Waiting("CrashLoopBackOff", "back-off"), new V1ContainerState { Terminated = new V1ContainerStateTerminated { Reason = "Error", ExitCode = 1 } })], Now)
            .Should().BeNull("a crash can be a dependency not up yet; the rollout's bound decides");
    }
}
