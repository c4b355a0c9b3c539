namespace Harness.Clusters;

/// <summary>Something the harness needs is missing or unusable; names it and says what to do.</summary>
public sealed class PrerequisiteException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PrerequisiteException(string prerequisite, string problem, string remedy, Exception? inner = null)
        : base($"{prerequisite}: {problem} {remedy}", inner)
    {
        Prerequisite = prerequisite;
        Problem = problem;
        Remedy = remedy;
    }

    /// <summary>What is missing (<c>kind</c>, <c>Docker</c>, <c>kubeconfig</c>).</summary>
    public string Prerequisite { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }

    /// <summary>What to do about it.</summary>
    public string Remedy { get; }
}
