using Harness.Deployment;
using Harness.Probes;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Scenarios;

/// <summary>The sample operator (fixtures/sample-operator): its image is built by `bash eng/build-sample-operator.sh`.</summary>
internal static class SampleOperator
{
    public const string Image = "harness.local/greeter-operator:dev";

    public static OperatorSpec Spec(string variant) => new()
    {
        Manifests = [RepoPath("fixtures/sample-operator/shared"), RepoPath($"fixtures/sample-operator/{variant}")],
        Workload = "greeter-operator",
        LocalImages = [Image],
    };

    public static string RepoPath(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Harness.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }
        throw new FileNotFoundException("repository root (Harness.sln) not found above the test binaries");
    }
}

public sealed class HardenedGreeterFixture(HarnessClusterFixture cluster, IMessageSink log) : OperatorFixture(cluster, log)
{
    protected override OperatorSpec Operator => SampleOperator.Spec("hardened");
}

/// <summary>The hardened sample passes the four checks: the three-line user test.</summary>
public sealed class HardenedGreeterHardening : OperatorHardeningTests<HardenedGreeterFixture>;

public sealed class WeakGreeterFixture(HarnessClusterFixture cluster, IMessageSink log) : OperatorFixture(cluster, log)
{
    protected override OperatorSpec Operator => SampleOperator.Spec("weak");
}

/// <summary>The weak sample fails each check, each for its own reason: the harness catches what it claims to catch.</summary>
public sealed class WeakGreeterIsCaught(WeakGreeterFixture fixture) : IClassFixture<WeakGreeterFixture>
{
    [Fact]
    public void Egress_IsOpenWithoutANetworkPolicy() =>
        fixture.RequireReport()[HardeningCheck.EgressDenied].Should().Fail("egress.sink.tcp: Failed");

    [Fact]
    public void RootFilesystem_IsWritable() =>
        fixture.RequireReport()[HardeningCheck.RootFilesystemReadOnly].Should().Fail("fs.root: Failed");

    [Fact]
    public void PrivilegeEscalation_RootAndAPrivilegedPodAreAllowed() =>
        fixture.RequireReport()[HardeningCheck.PrivilegeEscalationDenied].Should().Fail("api.pod.privileged: Failed");

    [Fact]
    public void Secrets_AreReadableByItsServiceAccount() =>
        fixture.RequireReport()[HardeningCheck.SecretsNotReadable].Should().Fail("api.secrets.namespace: Failed");
}
