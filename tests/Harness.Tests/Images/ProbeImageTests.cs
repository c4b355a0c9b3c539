using System.Formats.Tar;
using Harness.Images;

namespace Harness.Tests.Images;

public sealed class ProbeImageTests
{
    private static readonly ProbeArtifacts Fake = new("/build/probe-agent", "/build/kprobe");

    private static bool Host(string path) =>
        path is "/lib64/ld-linux-x86-64.so.2" or "/lib/x86_64-linux-gnu/libc.so.6" or "/lib/x86_64-linux-gnu/libm.so.6"
            or "/usr/lib/x86_64-linux-gnu/libssl.so.3" or "/etc/ssl/certs/ca-certificates.crt";

    [Fact]
    public void Layout_SetuidHelper_IsSetuidRoot_AndThePlainHelperIsNot()
    {
        var layout = ProbeImage.Layout(Fake, Host);

        layout.Single(e => e.Path == ProbeImageLayout.SetuidHelper).Mode.Should().HaveFlag(UnixFileMode.SetUser);
        layout.Single(e => e.Path == ProbeImageLayout.KernelHelper).Mode.Should().NotHaveFlag(UnixFileMode.SetUser);
    }

    [Fact]
    public void ApplicationImage_GivesNobodyItsImageGidAndGroup_WhichTheProbeImageLacks()
    {
        // Issue #22's shape: runAsUser 65534 alone gets gid 65534 and group 2000 from the operator's image, not from the probe image.
        var probe = ProbeImage.Layout(Fake, Host);
        var app = ProbeImage.WithApplicationUsers(probe).ToList();

        probe.Single(e => e.Path == "/etc/passwd").Content.Should().NotContain("65534");
        app.Single(e => e.Path == "/etc/passwd").Content.Should().Contain("nobody:x:65534:65534:");
        app.Single(e => e.Path == "/etc/group").Content.Should().Contain("monitoring:x:2000:nobody").And.Contain("nogroup:x:65534:");
        app.Select(e => e.Path).Should().Equal(probe.Select(e => e.Path), "only the user entries differ");
    }

    [Fact]
    public void Layout_RootfsCanaryAndTmp_AreWorldWritableSticky()
    {
        var layout = ProbeImage.Layout(Fake, Host);

        foreach (var dir in new[] { ProbeImageLayout.RootfsCanary, "/tmp" })
        {
            layout.Single(e => e.Path == dir).Mode.Should().HaveFlag(UnixFileMode.StickyBit).And.HaveFlag(UnixFileMode.OtherWrite);
        }
    }

    [Fact]
    public void Layout_LibrariesComeFromTheHost_MissingOptionalOnesAreLeftOut()
    {
        var layout = ProbeImage.Layout(Fake, Host);

        layout.Should().Contain(e => e.Path == "/lib/x86_64-linux-gnu/libssl.so.3" && e.Source == "/usr/lib/x86_64-linux-gnu/libssl.so.3");
        layout.Should().NotContain(e => e.Path.EndsWith("libcrypto.so.3", StringComparison.Ordinal));
        layout.Should().Contain(e => e.Path == "/etc/passwd" && e.Content!.Contains("65532", StringComparison.Ordinal));
    }

    [Fact]
    public void Layout_NoLoader_SaysWhatIsMissing()
    {
        var act = () => ProbeImage.Layout(Fake, _ => false);

        act.Should().Throw<FileNotFoundException>().WithMessage("*loader*");
    }

    [Fact]
    public void Layout_NoLibc_NamesIt()
    {
        var act = () => ProbeImage.Layout(Fake, p => p == "/lib64/ld-linux-x86-64.so.2");

        act.Should().Throw<FileNotFoundException>().WithMessage("*libc.so.6*");
    }

    [Fact]
    public async Task WriteRootfsAsync_KeepsModesIncludingSetuid_AndRootOwnership()
    {
        var dir = Directory.CreateTempSubdirectory("harness-image-test");
        try
        {
            var agent = Path.Combine(dir.FullName, "agent");
            await File.WriteAllTextAsync(agent, "binary", TestContext.Current.CancellationToken);
            var layout = new[]
            {
                new ImageEntry("/probe/bin/kprobe-suid", agent, (UnixFileMode)0b100_111_101_101),
                new ImageEntry("/probe/rootfs-canary", null, (UnixFileMode)0b1_111_111_111),
                new ImageEntry("/etc/passwd", null, (UnixFileMode)0b110_100_100, "root:x:0:0::/:/sbin/nologin\n"),
            };
            using var tar = new MemoryStream();

            await ProbeImage.WriteRootfsAsync(layout, tar, TestContext.Current.CancellationToken);

            tar.Position = 0;
            var entries = new Dictionary<string, TarEntry>();
            using (var reader = new TarReader(tar))
            {
                while (reader.GetNextEntry() is { } e)
                {
                    entries[e.Name] = e;
                }
            }
            entries.Keys.Should().Contain(["probe/", "probe/bin/", "probe/bin/kprobe-suid", "probe/rootfs-canary/", "etc/", "etc/passwd"]);
            entries["probe/bin/kprobe-suid"].Mode.Should().HaveFlag(UnixFileMode.SetUser);
            entries["probe/bin/kprobe-suid"].Uid.Should().Be(0);
            entries["probe/rootfs-canary/"].Mode.Should().HaveFlag(UnixFileMode.StickyBit);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task TagAsync_DependsOnContent()
    {
        var a = await ProbeImage.TagAsync([new ImageEntry("/etc/x", null, UnixFileMode.UserRead, "one")], TestContext.Current.CancellationToken);
        var b = await ProbeImage.TagAsync([new ImageEntry("/etc/x", null, UnixFileMode.UserRead, "two")], TestContext.Current.CancellationToken);
        var a2 = await ProbeImage.TagAsync([new ImageEntry("/etc/x", null, UnixFileMode.UserRead, "one")], TestContext.Current.CancellationToken);

        a.Should().StartWith(ProbeImage.Repository + ":").And.NotBe(b).And.Be(a2);
    }

    [Fact]
    public void Locate_NothingBuilt_NamesWhereItLookedAndWhatToDo()
    {
        var empty = Directory.CreateTempSubdirectory("harness-empty");
        try
        {
            var act = () => ProbeArtifacts.Locate(empty.FullName, null, null);

            act.Should().Throw<FileNotFoundException>()
                .WithMessage($"*{Path.Combine(empty.FullName, "probe", ProbeArtifacts.Rid)}*OperatorHarness package*eng/build-probe.sh*{ProbeArtifacts.EnvironmentVariable}*");
        }
        finally
        {
            empty.Delete();
        }
    }

    [Fact]
    public void Locate_FromAnInstalledPackage_FindsTheAgentBesideTheLibraryOrTheApplication()
    {
        // The NuGet cache layout: <package>/<version>/lib/net10.0/Harness.dll and <package>/<version>/probe/<rid>/.
        var root = Directory.CreateTempSubdirectory("harness-pkg");
        try
        {
            var lib = Directory.CreateDirectory(Path.Combine(root.FullName, "operatorharness", "0.1.0", "lib", "net10.0"));
            var probe = Directory.CreateDirectory(Path.Combine(root.FullName, "operatorharness", "0.1.0", "probe", ProbeArtifacts.Rid));
            File.WriteAllText(Path.Combine(probe.FullName, "probe-agent"), "agent");
            File.WriteAllText(Path.Combine(probe.FullName, "kprobe"), "helper");
            var app = Directory.CreateDirectory(Path.Combine(root.FullName, "app"));

            ProbeArtifacts.Locate(app.FullName, null, Path.Combine(lib.FullName, "Harness.dll")).AgentPath
                .Should().Be(Path.Combine(probe.FullName, "probe-agent"));

            var copied = Directory.CreateDirectory(Path.Combine(app.FullName, "probe", ProbeArtifacts.Rid));
            File.WriteAllText(Path.Combine(copied.FullName, "probe-agent"), "agent");
            File.WriteAllText(Path.Combine(copied.FullName, "kprobe"), "helper");
            ProbeArtifacts.Locate(app.FullName, null, Path.Combine(lib.FullName, "Harness.dll")).AgentPath
                .Should().Be(Path.Combine(copied.FullName, "probe-agent"), "the copy beside the application comes first");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
