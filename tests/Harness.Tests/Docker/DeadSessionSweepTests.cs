using Harness.Docker;
using Harness.Runs;

namespace Harness.Tests.Docker;

/// <summary>
/// Issue #35 item 5: a killed run must not turn the next CI red, nor leak. Docker objects carry their owning process;
/// a session whose owners are all gone is swept at the next start (and by `harness sweep`), a live one never.
/// </summary>
public sealed class DeadSessionSweepTests(DockerFixture docker) : IClassFixture<DockerFixture>
{
    private const string Boot = "0f3c-boot";

    [Fact]
    public void IsDead_ThisHostsProcessGone_OrRestarted_OrAReboot_ButNeverAnotherHostsOrAnUnreadableOne()
    {
        var alive = SessionOwner.Describe(4242, "ci-1", Boot, "9000");
        string? Ticks(int pid) => pid == 4242 ? "9000" : pid == 4343 ? "1234" : null;

        SessionOwner.IsDead(alive, "ci-1", Boot, Ticks).Should().BeFalse();
        SessionOwner.IsDead(SessionOwner.Describe(5555, "ci-1", Boot, "9000"), "ci-1", Boot, Ticks).Should().BeTrue("no such process");
        SessionOwner.IsDead(SessionOwner.Describe(4343, "ci-1", Boot, "9000"), "ci-1", Boot, Ticks).Should().BeTrue("the pid was reused by a later process");
        SessionOwner.IsDead(alive, "ci-1", "another-boot", Ticks).Should().BeTrue("the machine booted since");
        SessionOwner.IsDead(alive, "ci-2", Boot, Ticks).Should().BeFalse("another machine's process cannot be judged here");
        SessionOwner.IsDead("garbage", "ci-1", Boot, Ticks).Should().BeFalse();
        SessionOwner.IsDead(null, "ci-1", Boot, Ticks).Should().BeFalse();
    }

    [Fact]
    public void SessionIsDead_AllOwnersGone_OrOnlyAgeWhenNoOwnerCanBeJudged()
    {
        var old = DateTimeOffset.UtcNow.AddHours(-7).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var recent = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var cutoff = DateTimeOffset.UtcNow.AddHours(-6);
        Dictionary<string, string> L(string created, string? owner = null) => owner is null
            ? new() { [SessionLabels.Created] = created }
            : new() { [SessionLabels.Created] = created, [SessionOwner.Label] = owner };

        DockerHost.SessionIsDead([L(recent, "dead"), L(recent, "dead")], cutoff, o => o == "dead").Should().BeTrue("a killed run an hour ago: swept now");
        DockerHost.SessionIsDead([L(recent, "dead"), L(recent, "alive")], cutoff, o => o == "dead").Should().BeFalse("one owner still runs");
        DockerHost.SessionIsDead([L(old)], cutoff, _ => false).Should().BeTrue("an older harness's objects: only their age tells");
        DockerHost.SessionIsDead([L(recent)], cutoff, _ => false).Should().BeFalse();
    }

    [Fact]
    public async Task Sweep_RemovesADeadSessionsNetwork_AndLeavesALiveOne()
    {
        var (host, _) = docker.Require();
        var ct = TestContext.Current.CancellationToken;
        var deadSession = SessionId.New().Value;
        var liveSession = SessionId.New().Value;
        var deadOwner = SessionOwner.Describe(int.MaxValue - 7, Environment.MachineName, File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), "1");
        async Task<string> Network(string session, string owner)
        {
            var labels = host.Labels("network");
            labels[SessionLabels.Session] = session;
            labels[SessionOwner.Label] = owner;
            var name = $"harness-{session}-sweep-test";
            await host.Client.Networks.CreateNetworkAsync(new global::Docker.DotNet.Models.NetworksCreateParameters { Name = name, Labels = labels }, ct);
            return name;
        }
        var dead = await Network(deadSession, deadOwner);
        var live = await Network(liveSession, SessionOwner.Current);
        try
        {
            var removed = await host.SweepDeadSessionsAsync(TimeSpan.FromHours(6), ct);

            removed.Should().Contain((deadSession, 1));
            removed.Select(r => r.Session).Should().NotContain(liveSession);
            var names = (await host.Client.Networks.ListNetworksAsync(cancellationToken: ct)).Select(n => n.Name).ToList();
            names.Should().NotContain(dead).And.Contain(live);
        }
        finally
        {
            await host.RemoveNetworkAsync(dead, CancellationToken.None);
            await host.RemoveNetworkAsync(live, CancellationToken.None);
        }
    }
}
