using Harness.Clusters;

namespace Harness.Tests.Clusters;

/// <summary>
/// Issue #35 item 2: an existing cluster can name an image loader (HARNESS_IMAGE_LOADER, --image-loader), run as
/// `COMMAND IMAGE` where kind would run `kind load`; once per image per connection; a failing loader is a clear error.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ImageLoaderTests : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("harness-loader-");

    public void Dispose() => dir.Delete(recursive: true);

    private string Script(string body)
    {
        var path = Path.Combine(dir.FullName, "load.sh");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    [Fact]
    public async Task Load_RunsTheCommandWithItsWordsAndTheImage_OncePerImage()
    {
        var calls = Path.Combine(dir.FullName, "calls");
        var loader = ImageLoaderCommand.Parse($"{Script($"echo \"$@\" >> {calls}")}  --name  staging ");
        using var log = new StringWriter();

        await loader.LoadAsync("harness.local/op:dev", log, TestContext.Current.CancellationToken);
        await loader.LoadAsync("harness.local/op:dev", log, TestContext.Current.CancellationToken);
        await loader.LoadAsync("harness/probe:abc", log, TestContext.Current.CancellationToken);

        File.ReadAllLines(calls).Should().Equal(["--name staging harness.local/op:dev", "--name staging harness/probe:abc"]);
        log.ToString().Should().Contain("image harness.local/op:dev: loading with");
    }

    [Fact]
    public async Task Load_AFailingLoader_NamesTheCommandItsExitAndItsLastLine_AndIsTriedAgainNextTime()
    {
        var loader = ImageLoaderCommand.Parse(Script("echo 'load-image: not in Docker (build or pull it first): x:1' >&2; exit 3"));

        var act = () => loader.LoadAsync("x:1", TextWriter.Null, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should().Contain("load.sh x:1` exited 3: load-image: not in Docker (build or pull it first): x:1");
        await act.Should().ThrowAsync<PrerequisiteException>("a failed load is not remembered as done");
    }

    [Fact]
    public void Parse_AnEmptyCommand_SaysWhatToGive()
    {
        var act = () => ImageLoaderCommand.Parse("   ");

        act.Should().Throw<ArgumentException>().WithMessage("*HARNESS_IMAGE_LOADER*kind load docker-image*");
    }

    [Fact]
    public void FromEnvironment_ReadsTheLoader()
    {
        var options = ClusterOptions.FromEnvironment(name => name switch
        {
            "HARNESS_KUBECONFIG" => "/tmp/k",
            "HARNESS_IMAGE_LOADER" => "/opt/kit/load-image.sh",
            _ => null,
        });

        options.Provider.Should().Be(ClusterProvider.Existing);
        options.ImageLoader.Should().Be("/opt/kit/load-image.sh");
    }
}
