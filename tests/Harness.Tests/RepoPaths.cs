namespace Harness.Tests;

/// <summary>Files of this repository and of the shared folder beside it, found from the test binaries.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string File(string relative) => Path.Combine(Root, relative);

    /// <summary>The conformance fixtures: <c>HARNESS_PSA_CONFORMANCE</c>, else <c>../shared/psa-conformance</c> beside the clone.</summary>
    public static string PsaConformance =>
        Environment.GetEnvironmentVariable("HARNESS_PSA_CONFORMANCE") is { Length: > 0 } env
            ? env
            : Path.GetFullPath(Path.Combine(Root, "..", "shared", "psa-conformance"));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Harness.sln")))
            {
                return dir.FullName;
            }
        }
        throw new FileNotFoundException("repository root (Harness.sln) not found above the test binaries");
    }
}
