using Harness.Runs;
using Harness.Vehicles;

namespace Harness.Tests.Runs;

public sealed class SessionIdTests
{
    [Fact]
    public void New_IsAFreshDnsLabel()
    {
        var a = SessionId.New();
        var b = SessionId.New();
        a.Should().NotBe(b);
        a.Value.Should().MatchRegex("^[0-9a-f]{8}$");
        SessionId.Parse(a.Value).Should().Be(a);
        $"ns-{a}".Should().Be("ns-" + a.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("UPPER")]
    [InlineData("-lead")]
    [InlineData("trail-")]
    [InlineData("has_underscore")]
    [InlineData("a23456789012345678901")]
    public void Parse_RefusesWhatCannotBeALabel(string value) =>
        FluentActions.Invoking(() => SessionId.Parse(value)).Should().Throw<ArgumentException>().WithMessage($"*got '{value}'*");

    [Fact]
    public void Default_HasNoValue_AndSaysSo() =>
        FluentActions.Invoking(() => default(SessionId).Value).Should().Throw<InvalidOperationException>().WithMessage("*SessionId.New()*");

    [Fact]
    public void VehicleNames_RoundTrip_AndOnlyDockerRunsWithoutACluster()
    {
        foreach (var kind in Enum.GetValues<VehicleKind>())
        {
            VehicleKinds.Parse(kind.Name()).Should().Be(kind);
            kind.OnCluster().Should().Be(kind != VehicleKind.Docker);
        }
        VehicleKinds.All.Should().Equal("twin-pod", "ephemeral-container", "direct-exec", "docker");
        VehicleKinds.Parse("sidecar").Should().BeNull();
    }
}
