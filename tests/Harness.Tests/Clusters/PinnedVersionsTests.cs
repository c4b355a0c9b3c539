using Harness.Clusters;

namespace Harness.Tests.Clusters;

public sealed class PinnedVersionsTests
{
    private static string VersionsFile => Path.Combine(RepoPaths.Root, "eng", "versions.env");

    [Fact]
    public void The_embedded_versions_are_the_file_the_e2e_script_sources()
    {
        var file = PinnedVersions.Parse(File.ReadAllText(VersionsFile));
        PinnedVersions.Kind.Should().Be(file["KIND_VERSION"]).And.StartWith("v");
        PinnedVersions.KindNodeImage.Should().Be(file["KIND_NODE_IMAGE"]).And.Contain("@sha256:");
        PinnedVersions.Calico.Should().Be(file["CALICO_VERSION"]);
        PinnedVersions.KindSha256.Should().ContainKey("linux-amd64").WhoseValue.Should().Be(file["KIND_SHA256_LINUX_AMD64"]).And.HaveLength(64);
        new KindBinaryOptions().Version.Should().Be(PinnedVersions.Kind);
        new KindClusterOptions().NodeImage.Should().Be(PinnedVersions.KindNodeImage);
    }

    [Fact]
    public void The_e2e_script_pins_nothing_itself()
    {
        var script = File.ReadAllText(Path.Combine(RepoPaths.Root, "eng", "e2e.sh"));
        script.Should().Contain(". eng/versions.env");
        foreach (var (_, value) in PinnedVersions.Parse(File.ReadAllText(VersionsFile)))
        {
            script.Should().NotContain(value, "every version and checksum is read from eng/versions.env");
        }
    }

    [Theory]
    [InlineData("KIND_VERSION v0.30.0", "line 1")]
    [InlineData("# ok\nkind_version=v1", "line 2")]
    [InlineData("=v1", "line 1")]
    public void A_malformed_line_is_named(string text, string where) =>
        FluentActions.Invoking(() => PinnedVersions.Parse(text)).Should().Throw<FormatException>().WithMessage($"*{where}*KEY=VALUE*");
}
