using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Harness.Clusters;

namespace Harness.Tests.Clusters;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KindBinaryTests : IDisposable
{
    private static readonly byte[] Binary = "#!/bin/sh\necho kind v0.30.0 go1.24 linux/amd64\n"u8.ToArray();
    private readonly DirectoryInfo cache = Directory.CreateTempSubdirectory("harness-kind-cache-");
    private readonly DirectoryInfo emptyPath = Directory.CreateTempSubdirectory("harness-empty-path-");
    private readonly LoopbackServer server = new();

    private KindBinaryOptions Options(string? sha = null) => new()
    {
        DownloadBase = server.BaseUrl,
        CacheDirectory = cache.FullName,
        SearchPath = emptyPath.FullName,
        AllowDownload = true,
        Sha256 = ImmutableDictionary<string, string>.Empty.Add("linux-amd64", sha ?? Convert.ToHexStringLower(SHA256.HashData(Binary))),
    };

    public void Dispose()
    {
        server.Dispose();
        cache.Delete(recursive: true);
        emptyPath.Delete(recursive: true);
    }

    [Fact]
    public async Task ResolveAsync_NotOnPath_DownloadsVerifiesCachesAndMakesExecutable()
    {
        server.Serve("/dl/v0.30.0/kind-linux-amd64", Binary);
        var ct = TestContext.Current.CancellationToken;

        var path = await KindBinary.ResolveAsync(Options(), platform: "linux-amd64", ct: ct);
        var again = await KindBinary.ResolveAsync(Options(), platform: "linux-amd64", ct: ct);

        path.Should().Be(Path.Combine(cache.FullName, "v0.30.0", "kind"));
        again.Should().Be(path);
        (await File.ReadAllBytesAsync(path, ct)).Should().Equal(Binary);
        File.GetUnixFileMode(path).Should().HaveFlag(UnixFileMode.UserExecute);
        server.Requests.Should().ContainSingle("the second call uses the verified cache");
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().ContainSingle("no partial download is left behind");
    }

    [Fact]
    public async Task ResolveAsync_WrongChecksum_RefusesAndLeavesNothing()
    {
        server.Serve("/dl/v0.30.0/kind-linux-amd64", "#!/bin/sh\necho tampered\n"u8.ToArray());
        var pinned = Convert.ToHexStringLower(SHA256.HashData(Binary));

        var act = () => KindBinary.ResolveAsync(Options(pinned), platform: "linux-amd64", ct: TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<PrerequisiteException>()).Which;
        ex.Prerequisite.Should().Be("kind");
        ex.Message.Should().Contain($"pinned to {pinned}").And.Contain("will not run it").And.Contain(server.BaseUrl.ToString());
        Directory.EnumerateFiles(cache.FullName, "*", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Fact]
    public async Task ResolveAsync_TamperedCache_IsReplacedByAVerifiedDownload()
    {
        server.Serve("/dl/v0.30.0/kind-linux-amd64", Binary);
        var cached = Path.Combine(cache.FullName, "v0.30.0", "kind");
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        await File.WriteAllTextAsync(cached, "evil", TestContext.Current.CancellationToken);

        var path = await KindBinary.ResolveAsync(Options(), platform: "linux-amd64", ct: TestContext.Current.CancellationToken);

        (await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken)).Should().Equal(Binary);
        server.Requests.Should().ContainSingle();
    }

    [Fact]
    public async Task ResolveAsync_ServerSays404_NamesTheUrlAndStatus()
    {
        var act = () => KindBinary.ResolveAsync(Options(), platform: "linux-amd64", ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message
            .Should().Contain($"{server.BaseUrl}v0.30.0/kind-linux-amd64").And.Contain("404").And.Contain("Install kind on PATH");
    }

    [Fact]
    public async Task ResolveAsync_OnPath_UsesItWithoutDownloading()
    {
        var kind = Path.Combine(emptyPath.FullName, "kind");
        await File.WriteAllBytesAsync(kind, Binary, TestContext.Current.CancellationToken);
        File.SetUnixFileMode(kind, UnixFileMode.UserRead | UnixFileMode.UserExecute);

        var path = await KindBinary.ResolveAsync(Options(), platform: "linux-amd64", ct: TestContext.Current.CancellationToken);

        path.Should().Be(kind);
        server.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task ResolveAsync_DownloadTurnedOff_SaysWhatWasTried()
    {
        var act = () => KindBinary.ResolveAsync(Options() with { AllowDownload = false }, platform: "linux-amd64", ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message
            .Should().Be("kind: kind is not on PATH; downloading is turned off (HARNESS_KIND_DOWNLOAD=0). Install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) on PATH, or allow the pinned download.");
    }

    [Fact]
    public async Task ResolveAsync_PlatformWithoutPinnedChecksum_IsNeverDownloaded()
    {
        var act = () => KindBinary.ResolveAsync(Options(), platform: "darwin-arm64", ct: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().Contain("no pinned SHA-256 for kind v0.30.0 on darwin-arm64");
        server.Requests.Should().BeEmpty();
    }

    [Theory]
    [InlineData("linux", Architecture.X64, "linux-amd64")]
    [InlineData("linux", Architecture.Arm64, "linux-arm64")]
    [InlineData("darwin", Architecture.Arm64, "darwin-arm64")]
    public void Platform_MapsToReleaseNames(string os, Architecture arch, string expected)
    {
        KindBinary.Platform(os, arch).Should().Be(expected);
    }

    [Fact]
    public void DownloadUrl_IsThePinnedReleaseAsset()
    {
        KindBinary.DownloadUrl(new KindBinaryOptions(), "linux-amd64").ToString().Should().Be("https://kind.sigs.k8s.io/dl/v0.30.0/kind-linux-amd64");
    }
}
