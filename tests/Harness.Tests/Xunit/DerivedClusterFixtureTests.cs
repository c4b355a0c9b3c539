using Harness.Clusters;
using Harness.Deployment;
using Harness.Xunit;
using Xunit.Sdk;

namespace Harness.Tests.Xunit;

/// <summary>
/// A user's cluster fixture that overrides <c>CreateOptions</c> (the documented extension point). It never creates a
/// cluster here: the override answers null, which is "no cluster".
/// </summary>
public sealed class DerivedClusterFixture(IMessageSink messages) : HarnessClusterFixture(messages)
{
    public bool OptionsRequested { get; private set; }

    protected override ClusterOptions? CreateOptions()
    {
        OptionsRequested = true;
        return null;
    }
}

public sealed class DerivedOperatorFixture(DerivedClusterFixture cluster, IMessageSink log) : OperatorFixture<DerivedClusterFixture>(cluster, log)
{
    protected override OperatorSpec Operator => new() { Manifests = ["deploy/"], Workload = "my-operator" };
}

/// <summary>Issue #11, item 3: xUnit resolves fixtures by exact type; the operator fixture must receive the derived one.</summary>
public sealed class DerivedClusterFixtureTests(DerivedOperatorFixture fixture) : IClassFixture<DerivedOperatorFixture>
{
    [Fact]
    public void OperatorFixture_OverADerivedClusterFixture_ReceivesThatFixtureFromXunit()
    {
        fixture.ClusterFixture.Should().BeOfType<DerivedClusterFixture>();
        fixture.ClusterFixture.OptionsRequested.Should().BeTrue("xUnit initialized the derived fixture, which used its own options");
        fixture.ClusterFixture.Unavailable.Should().StartWith("no cluster");
        fixture.SetupFailure.Should().BeNull();
        // The four mission facts accept it too (a compile-time check of the constraint, without running cluster tests here).
        typeof(OperatorHardeningTests<DerivedOperatorFixture>).GetMethods().Select(m => m.Name)
            .Should().Contain(["EgressToTheInternetIsDenied", "RootFilesystemIsReadOnly", "PrivilegeEscalationIsDenied", "ServiceAccountCannotReadSecrets"]);
    }

    [Fact]
    public void RequireReport_WithoutACluster_SkipsWithTheClusterFixturesReason()
    {
        var act = () => fixture.RequireReport();

        act.Should().Throw<Exception>().Which.Message.Should().Be("$XunitDynamicSkip$" + fixture.ClusterFixture.Unavailable, "a dynamic skip carrying the reason");
    }
}
