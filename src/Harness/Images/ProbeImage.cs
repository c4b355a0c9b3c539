// Images: building the probe image (the NativeAOT agent and kernel helper) and its layout.
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Harness.Clusters;
using Harness.Docker;

namespace Harness.Images;

/// <summary>The build inputs of the probe image: the NativeAOT agent and the kernel helper, built by <c>eng/build-probe.sh</c>.</summary>
/// <param name="AgentPath">The NativeAOT <c>probe-agent</c> binary.</param>
/// <param name="KernelHelperPath">The static <c>kprobe</c> helper.</param>
public sealed record ProbeArtifacts(string AgentPath, string KernelHelperPath)
{
    /// <summary>Environment variable naming the folder that holds <c>probe-agent</c> and <c>kprobe</c>.</summary>
    public const string EnvironmentVariable = "HARNESS_PROBE_ARTIFACTS";

    /// <summary>The folder name of this machine's agent build (<c>linux-x64</c>, <c>linux-arm64</c>).</summary>
    public static string Rid => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.Arm64 => "linux-arm64",
        _ => "linux-x64",
    };

    /// <summary>
    /// Finds the artifacts, first match wins: <see cref="EnvironmentVariable"/>; <c>artifacts/probe</c> in the start
    /// directory or a parent (a repository build); <c>probe/RID</c> beside the application (copied there from the
    /// OperatorHarness package, or from the Harness project); <c>probe/RID</c> in the package the Harness assembly was
    /// loaded from (the NuGet cache).
    /// </summary>
    /// <exception cref="FileNotFoundException">Not built yet; the message says where it looked and which script builds them.</exception>
    public static ProbeArtifacts Locate(string? startDirectory = null) => Locate(startDirectory, Environment.GetEnvironmentVariable(EnvironmentVariable), typeof(ProbeArtifacts).Assembly.Location);

    /// <summary>The search of <see cref="Locate(string?)"/> with its inputs given (tests).</summary>
    internal static ProbeArtifacts Locate(string? startDirectory, string? environment, string? assemblyLocation)
    {
        var candidates = Candidates(startDirectory ?? AppContext.BaseDirectory, environment, assemblyLocation);
        foreach (var folder in candidates)
        {
            var agent = Path.Combine(folder, "probe-agent");
            var helper = Path.Combine(folder, "kprobe");
            if (File.Exists(agent) && File.Exists(helper))
            {
                return new ProbeArtifacts(agent, helper);
            }
        }
        throw new FileNotFoundException(
            $"The probe agent is not built: no probe-agent and kprobe in {string.Join(", ", candidates)}. " +
            $"Install the OperatorHarness package (it carries the agent for {Rid}), run `bash eng/build-probe.sh` in a repository build, or set {EnvironmentVariable} to a folder holding them.");
    }

    private static List<string> Candidates(string start, string? environment, string? assemblyLocation)
    {
        var candidates = new List<string>();
        if (environment is { Length: > 0 })
        {
            candidates.Add(environment);
        }
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var repo = Path.Combine(dir.FullName, "artifacts", "probe");
            if (Directory.Exists(repo) || File.Exists(Path.Combine(dir.FullName, "Harness.sln")))
            {
                candidates.Add(repo);
            }
        }
        candidates.Add(Path.Combine(start, "probe", Rid));
        if (assemblyLocation is { Length: > 0 } && Path.GetDirectoryName(assemblyLocation) is { } lib)
        {
            // ~/.nuget/packages/operatorharness/VERSION/lib/net10.0/Harness.dll -> ~/.nuget/packages/operatorharness/VERSION/probe/RID
            candidates.Add(Path.GetFullPath(Path.Combine(lib, "..", "..", "probe", Rid)));
        }
        return [.. candidates.Distinct(StringComparer.Ordinal)];
    }
}

/// <summary>One file or directory of the image.</summary>
/// <param name="Path">Absolute path inside the image.</param>
/// <param name="Source">Host file to copy, or null for a directory.</param>
/// <param name="Mode">Unix mode bits, including setuid (04000) and sticky (01000).</param>
/// <param name="Content">Inline content instead of a host file.</param>
internal sealed record ImageEntry(string Path, string? Source, UnixFileMode Mode, string? Content = null)
{
    /// <summary>True for a directory entry.</summary>
    public bool IsDirectory => Source is null && Content is null;
}

/// <summary>
/// Builds the probe image FROM scratch: the agent, the kernel helper (plain and setuid-root), the loader and the
/// few libraries the agent needs, CA certificates, a passwd entry for the non-root user. No registry is involved.
/// </summary>
internal static class ProbeImage
{
    /// <summary>Repository part of the image tag; the tag is a hash of the inputs, so identical inputs reuse the image.</summary>
    public const string Repository = "harness/probe";

    private const UnixFileMode Exec = (UnixFileMode)0b111_101_101; // 0755
    private const UnixFileMode Data = (UnixFileMode)0b110_100_100; // 0644
    private const UnixFileMode Sticky = (UnixFileMode)0b1_111_111_111; // 1777
    private const UnixFileMode SetuidExec = (UnixFileMode)0b100_111_101_101; // 4755

    /// <summary>Shared libraries the agent loads: glibc and its loader always, OpenSSL for HTTPS (dlopen'ed).</summary>
    internal static readonly string[] RequiredLibraries = ["libc.so.6", "libm.so.6"];

    internal static readonly string[] OptionalLibraries = ["libssl.so.3", "libcrypto.so.3"];

    private static readonly string[] LibraryDirectories =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

    /// <summary>The image's files. Pure given <paramref name="fileExists"/>; throws when a required library is missing.</summary>
    /// <exception cref="FileNotFoundException">The loader or libc was not found on this host.</exception>
    public static IReadOnlyList<ImageEntry> Layout(ProbeArtifacts artifacts, Func<string, bool>? fileExists = null)
    {
        ArgumentNullException.ThrowIfNull(artifacts);
        var entries = new List<ImageEntry>
        {
            new("/probe", null, Exec),
            new("/probe/bin", null, Exec),
            new(ProbeImageLayout.Agent, artifacts.AgentPath, Exec),
            new(ProbeImageLayout.KernelHelper, artifacts.KernelHelperPath, Exec),
            new(ProbeImageLayout.SetuidHelper, artifacts.KernelHelperPath, SetuidExec),
            new(ProbeImageLayout.RootfsCanary, null, Sticky),
            new(ProbeImageLayout.MountPoint, null, Exec),
        };
        entries.AddRange(RuntimeLayout(fileExists));
        return entries;
    }

    /// <summary>
    /// What a NativeAOT program needs in a scratch image: the loader, glibc, libm, OpenSSL when present, CA
    /// certificates, passwd and group entries for the non-root user, <c>/tmp</c>. Pure given <paramref name="fileExists"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The loader or libc was not found on this host.</exception>
    public static IReadOnlyList<ImageEntry> RuntimeLayout(Func<string, bool>? fileExists = null)
    {
        fileExists ??= File.Exists;
        var id = ProbeImageLayout.NonRootId;
        var entries = new List<ImageEntry>
        {
            new("/tmp", null, Sticky),
            // Present so the standard read-only probes of /usr and /var hit the filesystem, not ENOENT.
            new("/usr", null, Exec),
            new("/var", null, Exec),
            new("/etc", null, Exec),
            new("/etc/passwd", null, Data, $"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{id}:{id}:nonroot:/home/nonroot:/sbin/nologin\n"),
            new("/etc/group", null, Data, $"root:x:0:\nnonroot:x:{id}:\n"),
            new("/etc/nsswitch.conf", null, Data, "hosts: files dns\n"),
        };

        var loader = new[] { "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1" }.FirstOrDefault(fileExists)
            ?? throw new FileNotFoundException("The dynamic loader (ld-linux) was not found on this host; the probe image needs it.");
        entries.Add(new(Path.GetDirectoryName(loader)!, null, Exec));
        entries.Add(new(loader, loader, Exec));
        var libDir = LibraryDirectories.First(d => RequiredLibraries.All(l => fileExists(Path.Combine(d, l))) || d == LibraryDirectories[^1]);
        foreach (var lib in RequiredLibraries.Concat(OptionalLibraries))
        {
            var found = LibraryDirectories.Select(d => Path.Combine(d, lib)).FirstOrDefault(fileExists);
            if (found is null)
            {
                if (RequiredLibraries.Contains(lib))
                {
                    throw new FileNotFoundException($"{lib} was not found in {string.Join(", ", LibraryDirectories)}; the agent cannot run without it.");
                }
                continue; // Without OpenSSL only HTTPS probes fail, and they say so.
            }
            entries.Add(new(Path.Combine(libDir, lib), found, Exec));
        }
        if (!entries.Any(e => e.Path == libDir))
        {
            entries.Add(new(libDir, null, Exec));
        }
        const string ca = "/etc/ssl/certs/ca-certificates.crt";
        if (fileExists(ca))
        {
            entries.Add(new("/etc/ssl", null, Exec));
            entries.Add(new("/etc/ssl/certs", null, Exec));
            entries.Add(new(ca, ca, Data));
        }
        return entries;
    }

    /// <summary>
    /// The image configuration applied on import. The image is imported from a rootfs tar rather than built from a
    /// Dockerfile: the classic builder's COPY drops the setuid bit, which would make the setuid probe meaningless.
    /// </summary>
    internal static IReadOnlyList<string> ImageChanges() =>
    [
        $"USER {ProbeImageLayout.NonRootId}:{ProbeImageLayout.NonRootId}",
        "ENV DOTNET_gcServer=0",
        "LABEL io.harness.owner=harness",
        $"ENTRYPOINT [\"{ProbeImageLayout.Agent}\"]",
        "CMD [\"idle\"]",
    ];

    /// <summary>Writes the root filesystem as a tar stream; modes (setuid included) and ownership come from <paramref name="layout"/>.</summary>
    internal static async Task WriteRootfsAsync(IReadOnlyList<ImageEntry> layout, Stream output, CancellationToken ct)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var dir in ParentsOf(layout))
        {
            await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = Exec }, ct).ConfigureAwait(false);
        }
        foreach (var e in layout.OrderBy(e => e.Path, StringComparer.Ordinal))
        {
            var name = e.Path.TrimStart('/');
            if (e.IsDirectory)
            {
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name + "/") { Mode = e.Mode }, ct).ConfigureAwait(false);
                continue;
            }
            var bytes = e.Content is not null ? Encoding.UTF8.GetBytes(e.Content) : await File.ReadAllBytesAsync(e.Source!, ct).ConfigureAwait(false);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = e.Mode, Uid = 0, Gid = 0, DataStream = new MemoryStream(bytes) };
            await tar.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        }
    }

    private static IEnumerable<string> ParentsOf(IReadOnlyList<ImageEntry> layout)
    {
        var declared = layout.Where(e => e.IsDirectory).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        return layout.SelectMany(e => Ancestors(e.Path)).Distinct().Where(p => !declared.Contains(p)).Order(StringComparer.Ordinal).Select(p => p.TrimStart('/'));
    }

    private static IEnumerable<string> Ancestors(string path)
    {
        for (var p = Path.GetDirectoryName(path); p is not null && p != "/"; p = Path.GetDirectoryName(p))
        {
            yield return p;
        }
    }

    /// <summary>A content hash of the layout: equal inputs give the same tag.</summary>
    internal static Task<string> TagAsync(IReadOnlyList<ImageEntry> layout, CancellationToken ct) => TagAsync(Repository, layout, ImageChanges(), ct);

    private static async Task<string> TagAsync(string repository, IReadOnlyList<ImageEntry> layout, IReadOnlyList<string> changes, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(string.Join('\n', changes)));
        foreach (var e in layout.OrderBy(e => e.Path, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{e.Path}\0{(int)e.Mode}\0{e.Content}\0"));
            if (e.Source is not null)
            {
                hash.AppendData(await File.ReadAllBytesAsync(e.Source, ct).ConfigureAwait(false));
            }
        }
        return $"{repository}:{Convert.ToHexStringLower(hash.GetHashAndReset())[..16]}";
    }

    /// <summary>Builds the image (or reuses an identical one) and returns its tag.</summary>
    /// <exception cref="FileNotFoundException">An input is missing.</exception>
    /// <exception cref="InvalidOperationException">The Docker build failed; the message carries the builder's error.</exception>
    public static Task<string> BuildAsync(DockerHost docker, ProbeArtifacts artifacts, CancellationToken ct = default) =>
        BuildAsync(docker, artifacts, [], ct);

    /// <summary>Builds the image with <paramref name="extra"/> files added (a shell for comparisons, test fixtures).</summary>
    /// <exception cref="FileNotFoundException">An input is missing.</exception>
    /// <exception cref="InvalidOperationException">The Docker build failed; the message carries the builder's error.</exception>
    public static async Task<string> BuildAsync(DockerHost docker, ProbeArtifacts artifacts, IReadOnlyList<ImageEntry> extra, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(extra);
        return await ImportAsync(docker, Repository, [.. Layout(artifacts).Concat(extra)], ImageChanges(), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Builds a scratch image for a NativeAOT program (the sample operator's, yours): the runtime files, the binary at
    /// <c>/app/NAME</c> as entrypoint, the non-root user; then tags it <paramref name="image"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The binary or a runtime file is missing.</exception>
    public static Task<string> BuildApplicationAsync(DockerHost docker, string binaryPath, string image, CancellationToken ct = default) =>
        BuildApplicationAsync(docker, binaryPath, image, null, ct);

    /// <summary>
    /// As <see cref="BuildApplicationAsync(DockerHost, string, string, CancellationToken)"/>, with the probe agent's
    /// layout added when <paramref name="agent"/> is given: an operator image the direct-exec vehicle can probe.
    /// </summary>
    /// <exception cref="FileNotFoundException">The binary, an agent file or a runtime file is missing.</exception>
    public static async Task<string> BuildApplicationAsync(DockerHost docker, string binaryPath, string image, ProbeArtifacts? agent, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        if (!File.Exists(binaryPath))
        {
            throw new FileNotFoundException($"{binaryPath} does not exist; publish the program with NativeAOT first.", binaryPath);
        }
        var entrypoint = "/app/" + Path.GetFileName(binaryPath);
        var layout = new List<ImageEntry> { new("/app", null, Exec), new(entrypoint, binaryPath, Exec) };
        layout.AddRange(WithApplicationUsers(agent is null ? RuntimeLayout() : Layout(agent)));
        string[] changes =
        [
            $"USER {ProbeImageLayout.NonRootId}:{ProbeImageLayout.NonRootId}",
            "LABEL io.harness.owner=harness",
            $"ENTRYPOINT [\"{entrypoint}\"]",
        ];
        return await BuildTaggedAsync(docker, image, layout, changes, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// An application image's users, as distribution images have them: besides the non-root user, <c>nobody</c> (65534)
    /// whose primary group is <c>nogroup</c> (65534) and who is also in <c>monitoring</c> (2000). A pod that sets only
    /// <c>runAsUser: 65534</c> gets gid 65534 and group 2000 from these entries, which the probe image does not have:
    /// the shape a twin must learn the operator's ids for (issue #22). Pure.
    /// </summary>
    internal static IEnumerable<ImageEntry> WithApplicationUsers(IEnumerable<ImageEntry> layout)
    {
        var id = ProbeImageLayout.NonRootId;
        foreach (var entry in layout)
        {
            yield return entry.Path switch
            {
                "/etc/passwd" => entry with { Content = $"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{id}:{id}:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" },
                "/etc/group" => entry with { Content = $"root:x:0:\nnonroot:x:{id}:\nmonitoring:x:2000:nobody\nnogroup:x:65534:\n" },
                _ => entry,
            };
        }
    }

    /// <summary>Imports <paramref name="layout"/> as an image FROM scratch with <paramref name="changes"/>, tagged <paramref name="image"/>.</summary>
    internal static async Task<string> BuildTaggedAsync(DockerHost docker, string image, IReadOnlyList<ImageEntry> layout, IReadOnlyList<string> changes, CancellationToken ct)
    {
        var colon = image.LastIndexOf(':');
        var repository = colon > image.LastIndexOf('/') ? image[..colon] : image;
        var built = await ImportAsync(docker, repository, layout, changes, ct).ConfigureAwait(false);
        await docker.Client.Images.TagImageAsync(built, new ImageTagParameters { RepositoryName = repository, Tag = colon > image.LastIndexOf('/') ? image[(colon + 1)..] : "latest" }, ct).ConfigureAwait(false);
        return image;
    }

    private static async Task<string> ImportAsync(DockerHost docker, string repository, IReadOnlyList<ImageEntry> layout, IReadOnlyList<string> changes, CancellationToken ct)
    {
        var tag = await TagAsync(repository, layout, changes, ct).ConfigureAwait(false);
        try
        {
            await docker.Client.Images.InspectImageAsync(tag, ct).ConfigureAwait(false);
            return tag;
        }
        catch (DockerImageNotFoundException)
        {
            // Build it.
        }
        using var rootfs = new MemoryStream();
        await WriteRootfsAsync(layout, rootfs, ct).ConfigureAwait(false);
        rootfs.Position = 0;
        var progress = new BuildLog();
        var colon = tag.LastIndexOf(':');
        await docker.Client.Images.CreateImageAsync(
            new ImagesCreateParameters { FromSrc = "-", Repo = tag[..colon], Tag = tag[(colon + 1)..], Changes = [.. changes] },
            rootfs, new AuthConfig(), progress, ct).ConfigureAwait(false);
        try
        {
            await docker.Client.Images.InspectImageAsync(tag, ct).ConfigureAwait(false);
        }
        catch (DockerImageNotFoundException)
        {
            var why = progress.Errors.Count > 0 ? string.Join("; ", progress.Errors) : "the builder reported no error";
            throw new PrerequisiteException("image import", $"Docker could not import the image {tag}: {why}.", "Check the Docker engine's log and free disk space.");
        }
        return tag;
    }

    /// <summary>Collects build errors synchronously (Progress&lt;T&gt; would post them after the build returned).</summary>
    private sealed class BuildLog : IProgress<JSONMessage>
    {
        private readonly List<string> errors = [];

        public IReadOnlyList<string> Errors
        {
            get
            {
                lock (errors)
                {
                    return [.. errors];
                }
            }
        }

        public void Report(JSONMessage value)
        {
            if (value.Error?.Message is { } message)
            {
                lock (errors)
                {
                    errors.Add(message);
                }
            }
        }
    }
}
