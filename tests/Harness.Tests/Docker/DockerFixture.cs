using Harness.Docker;
using Harness.Images;

namespace Harness.Tests.Docker;

/// <summary>
/// One Docker session and one probe image for the whole test assembly. When Docker or the probe artifacts are
/// missing it records why; tests then skip with that reason, or fail when HARNESS_REQUIRE_DOCKER=1 (CI), so a
/// broken environment can never pass as "skipped".
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    internal DockerHost? Docker { get; private set; }

    public string? ProbeImage { get; private set; }

    public string? Unavailable { get; private set; }

    public static bool Required => Environment.GetEnvironmentVariable("HARNESS_REQUIRE_DOCKER") == "1";

    public async ValueTask InitializeAsync()
    {
        try
        {
            var artifacts = ProbeArtifacts.Locate();
            Docker = await DockerHost.ConnectAsync(ct: TestContext.Current.CancellationToken);
            await Docker.ReapStaleAsync(TimeSpan.FromHours(2), TestContext.Current.CancellationToken);
            ProbeImage = await Harness.Images.ProbeImage.BuildAsync(Docker, artifacts, TestContext.Current.CancellationToken);
        }
        catch (Exception ex) when (ex is DockerUnavailableException or FileNotFoundException)
        {
            Unavailable = ex.Message;
        }
    }

    /// <summary>Skips (or, when Docker is required, fails) the calling test if Docker is unavailable.</summary>
    internal (DockerHost Docker, string Image) Require()
    {
        if (Unavailable is not null)
        {
            if (Required)
            {
                throw new InvalidOperationException($"HARNESS_REQUIRE_DOCKER=1 but Docker tests cannot run: {Unavailable}");
            }
            Assert.Skip($"Docker tests need an engine and the probe artifacts: {Unavailable}");
        }
        return (Docker!, ProbeImage!);
    }

    public async ValueTask DisposeAsync()
    {
        if (Docker is not null)
        {
            await Docker.DisposeAsync();
        }
    }
}
