using k8s;
using k8s.Models;

namespace Harness.Manifests;

/// <summary>One object from a manifest file, with where it came from.</summary>
/// <param name="Path">The file, as given.</param>
/// <param name="Line">1-based line where the document starts.</param>
/// <param name="ApiVersion">The object's <c>apiVersion</c>.</param>
/// <param name="Kind">The object's <c>kind</c>.</param>
/// <param name="Name">The object's <c>metadata.name</c>, or empty.</param>
/// <param name="Namespace">The object's <c>metadata.namespace</c>, or null when not set.</param>
/// <param name="Object">The typed object for a built-in kind; null for kinds the harness does not model (custom resources). A CustomResourceDefinition's leaves out its versions' OpenAPI schemas (nothing judges them; <paramref name="Text"/> has them).</param>
/// <param name="Text">The document's YAML.</param>
public sealed record ManifestDocument(
    string Path,
    int Line,
    string ApiVersion,
    string Kind,
    string Name,
    string? Namespace,
    IKubernetesObject<V1ObjectMeta>? Object,
    string Text)
{
    /// <summary>The object's kind and name.</summary>
    public WorkloadRef Ref => new(Kind, Name);

    /// <summary>
    /// When <see cref="Text"/> is rendered output (kustomize), the object's text as written in its source file
    /// (<see cref="Path"/>, from <see cref="Line"/>): findings are located in it. Null when <see cref="Text"/> is the source.
    /// </summary>
    public string? SourceText { get; init; }

    /// <summary><c>Kind/name</c>.</summary>
    public string DisplayName => Ref.ToString();

    /// <summary><c>path:line</c>.</summary>
    public string Location => $"{Path}:{Line}";
}

/// <summary>A manifest that cannot be read: names the file, the line and column, and the problem.</summary>
public sealed class ManifestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ManifestException(string path, int line, int column, string problem, Exception? inner = null)
        : base(column > 0 ? $"{path}:{line}:{column}: {problem}" : line > 0 ? $"{path}:{line}: {problem}" : $"{path}: {problem}", inner)
    {
        Path = path;
        Line = line;
        Column = column;
        Problem = problem;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>1-based line (0 when the file itself is the problem).</summary>
    public int Line { get; }

    /// <summary>1-based column, 0 when not known.</summary>
    public int Column { get; }

    /// <summary>What is wrong and what to do.</summary>
    public string Problem { get; }
}

/// <summary>An object by kind and name (<c>Deployment/widget-operator</c>): how the operator's workload is named and matched.</summary>
/// <param name="Kind">The kind (<c>Deployment</c>, <c>Pod</c>...).</param>
/// <param name="Name">The name; empty for a document without one.</param>
public readonly record struct WorkloadRef(string Kind, string Name)
{
    /// <inheritdoc/>
    public override string ToString() => string.IsNullOrEmpty(Name) ? Kind : $"{Kind}/{Name}";
}
