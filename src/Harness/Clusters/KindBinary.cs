using System.Collections.Immutable;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Polly;
using Polly.Retry;

namespace Harness.Clusters;

/// <summary>Where the kind binary comes from: PATH, else a pinned release verified by SHA-256 and cached per user.</summary>
public sealed record KindBinaryOptions
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>The pinned kind release.</summary>
    public string Version { get; init; } = PinnedVersions.Kind;

    /// <summary>SHA-256 of the release binary per platform (<c>linux-amd64</c>); a platform without one is never downloaded.</summary>
    public ImmutableDictionary<string, string> Sha256 { get; init; } = PinnedVersions.KindSha256;

    /// <summary>Release downloads: <c>{DownloadBase}{Version}/kind-{platform}</c>.</summary>
    public Uri DownloadBase { get; init; } = new("https://kind.sigs.k8s.io/dl/");

    /// <summary>Per-user cache (<c>$XDG_CACHE_HOME/harness/kind</c> or <c>~/.cache/harness/kind</c>).</summary>
    public string CacheDirectory { get; init; } = Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "harness", "kind");

    /// <summary>Whether a download may happen (off with <c>HARNESS_KIND_DOWNLOAD=0</c>).</summary>
    public bool AllowDownload { get; init; } = Environment.GetEnvironmentVariable("HARNESS_KIND_DOWNLOAD") != "0";

    /// <summary>The PATH searched for <c>kind</c> (and the CNI installers, <c>kubectl</c> and <c>helm</c>); the process's PATH by default.</summary>
    public string? SearchPath { get; init; } = Environment.GetEnvironmentVariable("PATH");

    /// <summary>Bound on the download.</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromMinutes(3);
}

/// <summary>Finds or fetches the kind binary.</summary>
internal static class KindBinary
{
    /// <summary>The release platform name for this machine (<c>linux-amd64</c>, <c>darwin-arm64</c>).</summary>
    public static string CurrentPlatform => Platform(
        OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsWindows() ? "windows" : "unknown",
        RuntimeInformation.OSArchitecture);

    /// <summary>The release platform name for an OS and architecture.</summary>
    public static string Platform(string os, Architecture architecture) => $"{os}-{architecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        _ => architecture.ToString().ToLowerInvariant(),
    }}";

    /// <summary>The download URL of the pinned release for a platform.</summary>
    public static Uri DownloadUrl(KindBinaryOptions options, string platform)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Uri(options.DownloadBase, $"{options.Version}/kind-{platform}");
    }

    /// <summary>Returns the path of a usable kind: on PATH, in the cache (checksum verified), or freshly downloaded and verified.</summary>
    /// <exception cref="PrerequisiteException">None of those worked; says what was tried and what to do.</exception>
    public static async Task<string> ResolveAsync(KindBinaryOptions options, HttpClient? http = null, string? platform = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        platform ??= CurrentPlatform;
        if (FindOnPath("kind", options.SearchPath) is { } onPath)
        {
            return onPath;
        }
        var tried = new List<string> { "kind is not on PATH" };
        if (!options.Sha256.TryGetValue(platform, out var expected))
        {
            tried.Add($"no pinned SHA-256 for kind {options.Version} on {platform}, so it is not downloaded");
            throw Missing(tried);
        }
        var cached = Path.Combine(options.CacheDirectory, options.Version, "kind");
        if (File.Exists(cached))
        {
            if (string.Equals(await Sha256Async(cached, ct).ConfigureAwait(false), expected, StringComparison.OrdinalIgnoreCase))
            {
                return cached;
            }
            File.Delete(cached); // tampered or truncated: fetch again
        }
        if (!options.AllowDownload)
        {
            tried.Add("downloading is turned off (HARNESS_KIND_DOWNLOAD=0)");
            throw Missing(tried);
        }
        await DownloadAsync(options, DownloadUrl(options, platform), expected, cached, http, ct).ConfigureAwait(false);
        return cached;
    }

    private static PrerequisiteException Missing(List<string> tried) =>
        new("kind", string.Join("; ", tried) + ".", "Install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) on PATH, or allow the pinned download.");

    /// <summary>The first executable file called <paramref name="name"/> on a PATH-style list, or null.</summary>
    public static string? FindOnPath(string name, string? searchPath)
    {
        foreach (var dir in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }
        return null;
    }

    private static async Task DownloadAsync(KindBinaryOptions options, Uri url, string expected, string destination, HttpClient? http, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        var temp = destination + $".{Environment.ProcessId}.partial";
        var ownClient = http is null;
        http ??= new HttpClient();
        try
        {
            var retry = new ResiliencePipelineBuilder()
                .AddRetry(new RetryStrategyOptions
                {
                    MaxRetryAttempts = 2,
                    Delay = TimeSpan.FromSeconds(1),
                    ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>(e => e.StatusCode is null or >= HttpStatusCode.InternalServerError),
                })
                .AddTimeout(options.DownloadTimeout)
                .Build();
            await retry.ExecuteAsync(async token =>
            {
                using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new HttpRequestException($"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
                }
                var file = File.Create(temp);
                await using (file.ConfigureAwait(false))
                {
                    await response.Content.CopyToAsync(file, token).ConfigureAwait(false);
                }
            }, ct).ConfigureAwait(false);

            var actual = await Sha256Async(temp, ct).ConfigureAwait(false);
            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            {
                throw new PrerequisiteException("kind", $"the download from {url} has SHA-256 {actual}, but {options.Version} is pinned to {expected}; the harness will not run it.",
                    "Check for a proxy rewriting downloads, or install kind on PATH yourself.");
            }
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            File.Move(temp, destination, overwrite: true);
        }
        catch (Exception e) when (e is HttpRequestException or Polly.Timeout.TimeoutRejectedException or IOException)
        {
            throw new PrerequisiteException("kind", $"not on PATH, and the pinned download from {url} failed: {e.Message}.",
                "Install kind on PATH, or check the network (an offline runner needs kind pre-installed).", e);
        }
        finally
        {
            File.Delete(temp);
            if (ownClient)
            {
                http.Dispose();
            }
        }
    }

    private static async Task<string> Sha256Async(string path, CancellationToken ct)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
        }
    }
}
