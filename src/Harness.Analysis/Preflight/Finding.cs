namespace Harness.Preflight;

/// <summary>How much a finding matters: an error fails pre-flight, a warning is reported, a note explains.</summary>
public enum FindingSeverity
{
    /// <summary>Not a weakness: what the analyzer concluded and why (who injects a CA bundle, where namespace-less objects went).</summary>
    Note = -1,

    /// <summary>Worth knowing; does not fail pre-flight.</summary>
    Warning,

    /// <summary>A weakness; fails pre-flight.</summary>
    Error,
}

/// <summary>One thing pre-flight found in the manifests.</summary>
/// <param name="Id">Stable identifier (<c>PSA</c>, <c>RBAC-SECRETS</c>, <c>NETPOL-EGRESS-OPEN</c>).</param>
/// <param name="Severity">Error or warning.</param>
/// <param name="Subject">What it is about (<c>Deployment demo/op</c>, <c>ServiceAccount demo/op</c>).</param>
/// <param name="Message">What was found, in the API server's words where it has them.</param>
/// <param name="Path">The manifest file it points at.</param>
/// <param name="Line">1-based line in that file.</param>
public sealed record Finding(string Id, FindingSeverity Severity, string Subject, string Message, string Path, int Line)
{
    /// <summary><c>path:line</c>.</summary>
    public string Location => $"{Path}:{Line}";
}
