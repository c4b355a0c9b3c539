using System.Collections.Immutable;
using Harness.Clusters;
using Harness.Processes;

namespace Harness.Qualification;

/// <summary>Image signature verification with cosign, when a cosign binary and a key are given.</summary>
internal static class ImagePolicy
{
    /// <summary>Verifies each image; returns per-image results, or why verification was skipped.</summary>
    public static async Task<(ImmutableDictionary<string, string> Results, string? Skipped)> VerifyAsync(IReadOnlyList<string> images, string? key, string? searchPath, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (key is null)
        {
            return (ImmutableDictionary<string, string>.Empty, "no signature policy given (imagePolicy.cosign.key in the scenario, or --cosign-key)");
        }
        if (KindBinary.FindOnPath("cosign", searchPath) is not { } cosign)
        {
            return (ImmutableDictionary<string, string>.Empty, "cosign is not on PATH; install it to verify signatures");
        }
        if (!File.Exists(key))
        {
            return (ImmutableDictionary<string, string>.Empty, $"the cosign key {key} does not exist");
        }
        var results = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var run = await ProcessRunner.RunAsync(cosign, ["verify", "--key", key, image], TimeSpan.FromMinutes(2), ct: ct).ConfigureAwait(false);
            results[image] = run.ExitCode == 0 ? "verified" : $"failed: {run.Stderr.Trim().Split('\n').LastOrDefault()}";
        }
        return (results.ToImmutable(), null);
    }
}
