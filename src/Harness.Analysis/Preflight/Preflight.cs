// Preflight: findings from the manifests alone (PodSecurity, RBAC, NetworkPolicy), before anything runs.
using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Harness.Manifests;
using Harness.NetworkPolicies;
using Harness.PodSecurity;
using Harness.Rbac;
using k8s.Models;

namespace Harness.Preflight;

/// <summary>Options for a pre-flight run.</summary>
public sealed record PreflightOptions
{
    /// <summary>Pod Security level to check against (default restricted).</summary>
    public PodSecurityLevel Level { get; init; } = PodSecurityLevel.Restricted;

    /// <summary>Pod Security policy version (default latest).</summary>
    public PolicyVersion Version { get; init; } = PolicyVersion.Latest;

    /// <summary>
    /// Namespace for namespaced objects that do not name one (what <c>kubectl apply -n</c> would use). Null (the default):
    /// the one the manifests' bindings name for their namespace-less accounts, else <c>default</c>; the report says which.
    /// </summary>
    public string? DefaultNamespace { get; init; }

    /// <summary>An OLM bundle's install mode (OwnNamespace, SingleNamespace, MultiNamespace, AllNamespaces); null: the widest its CSV supports.</summary>
    public string? OlmInstallMode { get; init; }

    /// <summary>How a Helm chart among the inputs is rendered (release, values files, <c>--set</c>); its namespace defaults to <see cref="DefaultNamespace"/>.</summary>
    public HelmOptions Helm { get; init; } = HelmOptions.Default;
}

/// <summary>Pre-flight of one manifest file: whether it passes and what was found in it.</summary>
/// <param name="Path">The file.</param>
/// <param name="Objects">How many objects it holds.</param>
/// <param name="Findings">Findings that point into this file.</param>
public sealed record PreflightFile(string Path, int Objects, ImmutableArray<Finding> Findings)
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>No error points into this file.</summary>
    public bool Allowed => Findings.All(f => f.Severity != FindingSeverity.Error);
}

/// <summary>The result of a pre-flight run.</summary>
/// <param name="Options">What was checked.</param>
/// <param name="Files">Each manifest file, in path order.</param>
/// <param name="Notes">The note-level findings as lines: what pre-flight concluded or could not judge (where namespace-less objects went, kinds it does not model, bindings to roles not in the manifests, who injects a CA bundle).</param>
public sealed record PreflightReport(PreflightOptions Options, ImmutableArray<PreflightFile> Files, ImmutableArray<string> Notes)
{
    /// <summary>The text report's first line; by default the Pod Security level and version pre-flight held the pods to.</summary>
    public string? Title { get; init; }

    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>Every finding, errors first.</summary>
    public ImmutableArray<Finding> Findings => [.. Files.SelectMany(f => f.Findings).OrderByDescending(f => f.Severity)];

    /// <summary>Nothing is an error.</summary>
    public bool Passed => Files.All(f => f.Allowed);

    /// <summary>0 when everything passes, 1 when something violates.</summary>
    public int ExitCode => Passed ? 0 : 1;
}

/// <summary>
/// Pre-flight without a cluster: Pod Security for every pod and pod template, RBAC for every ServiceAccount a workload
/// runs as, NetworkPolicy for every workload, and the namespaces' PodSecurity labels and image pinning.
/// </summary>
public static partial class PreflightAnalyzer
{
    [System.Text.RegularExpressions.GeneratedRegex("containers? \"([^\"]+)\"")]
    private static partial System.Text.RegularExpressions.Regex NamedContainer();

    /// <summary>Loads a manifest file or folder and analyzes it.</summary>
    /// <exception cref="ManifestException">A file cannot be read or parsed (names the file, line and problem).</exception>
    public static PreflightReport Run(string path, PreflightOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var skipped = new List<string>();
        var report = Analyze(Load(path, options, skipped), options);
        return skipped.Count == 0 ? report : report with { Notes = [.. report.Notes, .. skipped] };
    }

    /// <summary>The manifests at <paramref name="path"/>, a chart among them rendered into the namespace objects default to.</summary>
    internal static IReadOnlyList<ManifestDocument> Load(string path, PreflightOptions options, ICollection<string> skipped) =>
        ManifestLoader.LoadPath(path, skipped, options.Helm with { Namespace = options.Helm.Namespace ?? options.DefaultNamespace },
            new OlmInstall { Namespace = options.DefaultNamespace, Mode = options.OlmInstallMode });

    /// <summary>Analyzes loaded manifests.</summary>
    public static PreflightReport Analyze(IReadOnlyList<ManifestDocument> documents, PreflightOptions options)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(options);
        var findings = new List<Finding>();
        var notes = new List<Finding>();
        var loaded = documents;
        documents = LastDefinitions(documents, notes);
        // A bundle's objects all go to the namespace OLM installs it into, its namespace-less ones too.
        var bundleNamespace = options.DefaultNamespace is null && documents.Any(d => d.Namespace == OlmInstall.UnknownNamespace) ? OlmInstall.UnknownNamespace : null;
        var (defaultNamespace, namespaceNote, namespaceWarning) = NamespaceInference.Resolve(documents, options.DefaultNamespace ?? bundleNamespace);
        options = options with { DefaultNamespace = defaultNamespace };
        if (namespaceNote is not null && documents.FirstOrDefault(d => d.Namespace is null && (d.Object is V1ServiceAccount || PodTemplates.TryGet(d.Object, out _, out _))) is { } first)
        {
            notes.Add(new Finding("NAMESPACE", FindingSeverity.Note, "namespace", namespaceNote, first.Path, first.Line));
        }
        if (namespaceWarning is not null)
        {
            findings.Add(namespaceWarning);
        }

        foreach (var doc in documents)
        {
            if (!PodTemplates.TryGet(doc.Object, out var metadata, out var spec))
            {
                continue;
            }
            var ns = doc.Namespace ?? defaultNamespace;
            var subject = $"{doc.Kind} {ns}/{doc.Name}";
            // The API server refuses a container without a name or an image (spec.containers[i].name: Required value).
            findings.AddRange((spec.InitContainers ?? []).Concat(spec.Containers ?? []).Select((c, i) => (c, i))
                .Where(x => string.IsNullOrEmpty(x.c.Name) || string.IsNullOrEmpty(x.c.Image))
                .Select(x => new Finding("CONTAINER-INCOMPLETE", FindingSeverity.Error, subject,
                    $"container #{x.i + 1}{(string.IsNullOrEmpty(x.c.Name) ? "" : $" \"{x.c.Name}\"")} has no {(string.IsNullOrEmpty(x.c.Name) ? string.IsNullOrEmpty(x.c.Image) ? "name and no image" : "name" : "image")}: the API server refuses it (is the file truncated?)", doc.Path, doc.Line)));
            var psa = PodSecurityEvaluator.Evaluate(metadata, spec, options.Level, options.Version);
            // At the container the violation names (the first one), else at the workload.
            findings.AddRange(psa.Violations.Select(v => new Finding("PSA", FindingSeverity.Error, subject, $"violates PodSecurity \"{Level(options)}\": {v}", doc.Path,
                NamedContainer().Match(v.ToString()) is { Success: true } m ? LineLocator.ContainerLine(doc, m.Groups[1].Value) : doc.Line)));
            findings.AddRange(ContainerImages.UnpinnedImages(spec).Select(image => new Finding("IMAGE-NOT-PINNED", FindingSeverity.Warning, subject, $"image \"{image}\" is not pinned by digest (@sha256:...)", doc.Path, doc.Line)));
            findings.AddRange(WritableRootFilesystems(spec).Select(c => new Finding("ROOTFS-WRITABLE", FindingSeverity.Warning, subject, $"container \"{c}\" does not set securityContext.readOnlyRootFilesystem=true; mount an emptyDir where it must write", doc.Path, string.IsNullOrEmpty(c) ? doc.Line : LineLocator.ContainerLine(doc, c))));
            findings.AddRange(NetworkPolicyAnalyzer.Analyze(documents, doc, defaultNamespace));
        }

        var accounts = DeclaredRights.WorkloadAccounts(documents, defaultNamespace);
        var rbac = RbacModel.From(documents, defaultNamespace);
        foreach (var account in accounts)
        {
            findings.AddRange(RbacAnalyzer.Analyze(rbac, account));
        }
        foreach (var (binding, role, at) in rbac.DanglingBindings)
        {
            notes.Add(new Finding("RBAC-ROLE-MISSING", FindingSeverity.Note, binding, $"refers to {role}, which is not in these manifests, so what it grants was not analyzed", at.Path, at.Line));
        }
        // A binding is never dropped silently: one whose ServiceAccount subjects no workload here runs as is named.
        foreach (var (binding, account, at) in rbac.Unmatched(accounts))
        {
            notes.Add(new Finding("RBAC-NOT-ANALYSED", FindingSeverity.Note, binding, $"binds ServiceAccount {account}, which no workload in these manifests runs as: what it grants was not analyzed", at.Path, at.Line));
        }
        findings.AddRange(ServiceAccounts.TokenExposureAnalyzer.Analyze(documents, rbac, defaultNamespace));
        findings.AddRange(Webhooks.WebhookAnalyzer.Analyze(documents, defaultNamespace));

        foreach (var doc in documents.Where(d => d.Object is V1Namespace))
        {
            var labels = doc.Object!.Metadata?.Labels;
            var enforce = labels is not null && labels.TryGetValue(PodSecurityEvaluator.EnforceLabel, out var l) ? l : null;
            var wanted = options.Level.ToString().ToLowerInvariant();
            if (enforce != wanted && !(options.Level == PodSecurityLevel.Baseline && enforce == "restricted"))
            {
                findings.Add(new Finding(
                    "NS-PSA-LABEL", FindingSeverity.Warning, $"Namespace {doc.Name}",
                    enforce is null ? $"has no {PodSecurityEvaluator.EnforceLabel} label; set it to {wanted}" : $"enforces {enforce}, not {wanted}", doc.Path, doc.Line));
            }
        }

        foreach (var kind in documents.Where(d => d.Object is null).GroupBy(d => d.Kind))
        {
            var example = kind.First();
            notes.Add(new Finding("KIND-NOT-ANALYSED", FindingSeverity.Note, $"{kind.Count()} {kind.Key}", "not analyzed: a kind without a built-in model", example.Path, example.Line));
        }
        findings.AddRange(notes);

        // The same rule reached twice (two bindings to one role, a role listed twice) is one finding, not two identical rows.
        var distinct = findings.Distinct().ToList();
        var files = loaded.GroupBy(d => d.Path, StringComparer.Ordinal)
            .Select(g => new PreflightFile(g.Key, g.Count(), [.. distinct.Where(f => f.Path == g.Key).OrderBy(f => f.Line).ThenByDescending(f => f.Severity)]))
            .ToImmutableArray();
        return new PreflightReport(options, files, [.. distinct.Where(f => f.Severity == FindingSeverity.Note).Select(f => $"{f.Subject}: {f.Message} ({f.Location})")]);
    }

    /// <summary>
    /// The last definition of each object (what <c>kubectl apply</c> of the files in order leaves), with a note for each
    /// object defined more than once: the earlier definitions are not analysed, so nothing is reported twice.
    /// </summary>
    private static IReadOnlyList<ManifestDocument> LastDefinitions(IReadOnlyList<ManifestDocument> documents, List<Finding> notes)
    {
        var groups = documents.Select((d, i) => (Doc: d, Index: i)).GroupBy(x => (x.Doc.ApiVersion.Split('/')[0], x.Doc.Kind, x.Doc.Namespace, x.Doc.Name)).ToList();
        foreach (var g in groups.Where(g => g.Count() > 1 && !string.IsNullOrEmpty(g.Key.Name)))
        {
            var last = g.Last().Doc;
            notes.Add(new Finding("DUPLICATE-OBJECT", FindingSeverity.Note, last.DisplayName,
                $"is defined {g.Count()} times ({string.Join(", ", g.Select(x => x.Doc.Location))}): applied in order, the last one wins, and only it is analysed", last.Path, last.Line));
        }
        var keep = groups.Select(g => string.IsNullOrEmpty(g.Key.Name) ? g.Select(x => x.Index) : [g.Last().Index]).SelectMany(i => i).ToHashSet();
        return [.. documents.Where((_, i) => keep.Contains(i))];
    }

    private static string Level(PreflightOptions options) => $"{options.Level.ToString().ToLowerInvariant()}:{options.Version}";

    private static IEnumerable<string> WritableRootFilesystems(V1PodSpec spec) =>
        (spec.InitContainers ?? []).Concat(spec.Containers ?? [])
            .Where(c => c.SecurityContext?.ReadOnlyRootFilesystem != true)
            .Select(c => c.Name);

    /// <summary>A readable table of findings, then notes and a one-line summary.</summary>
    public static string RenderText(PreflightReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        var findings = report.Findings.Where(f => f.Severity != FindingSeverity.Note).ToImmutableArray();
        sb.AppendLine(report.Title ?? $"Pre-flight at PodSecurity {Level(report.Options)} (policy {PodSecurityEvaluator.NewestVersion} is the newest this harness knows)");
        if (findings.Length > 0)
        {
            var rows = findings.Select(f => (Sev: f.Severity == FindingSeverity.Error ? "ERROR" : "warn", f.Id, f.Subject, f.Location, f.Message)).ToList();
            var w1 = Math.Max(5, rows.Max(r => r.Sev.Length));
            var w2 = Math.Max(5, rows.Max(r => r.Id.Length));
            var w3 = Math.Max(7, rows.Max(r => r.Subject.Length));
            var w4 = Math.Max(8, rows.Max(r => r.Location.Length));
            sb.AppendLine($"{"LEVEL".PadRight(w1)}  {"CHECK".PadRight(w2)}  {"SUBJECT".PadRight(w3)}  {"LOCATION".PadRight(w4)}  FINDING");
            foreach (var r in rows)
            {
                sb.AppendLine($"{r.Sev.PadRight(w1)}  {r.Id.PadRight(w2)}  {r.Subject.PadRight(w3)}  {r.Location.PadRight(w4)}  {r.Message}");
            }
        }
        foreach (var note in report.Notes)
        {
            sb.AppendLine($"note: {note}");
        }
        var errors = findings.Count(f => f.Severity == FindingSeverity.Error);
        var warnings = findings.Length - errors;
        var objects = report.Files.Sum(f => f.Objects);
        sb.AppendLine($"{report.Files.Length} files, {objects} objects: {errors} errors, {warnings} warnings: {(report.Passed ? "PASS" : "FAIL")}");
        return sb.ToString();
    }

    /// <summary>One JSON object per manifest file: its path, whether it is allowed, its violations (errors) and warnings.</summary>
    public static string RenderJson(PreflightReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (var file in report.Files)
            {
                w.WriteStartObject();
                w.WriteString("path", file.Path);
                w.WriteBoolean("allowed", file.Allowed);
                w.WriteString("level", report.Options.Level.ToString().ToLowerInvariant());
                w.WriteString("version", report.Options.Version.ToString());
                WriteFindings(w, "violations", file.Findings.Where(f => f.Severity == FindingSeverity.Error));
                WriteFindings(w, "warnings", file.Findings.Where(f => f.Severity == FindingSeverity.Warning));
                WriteFindings(w, "notes", file.Findings.Where(f => f.Severity == FindingSeverity.Note));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    private static void WriteFindings(Utf8JsonWriter w, string name, IEnumerable<Finding> findings)
    {
        w.WriteStartArray(name);
        foreach (var f in findings)
        {
            w.WriteStartObject();
            w.WriteString("check", f.Id);
            w.WriteString("subject", f.Subject);
            w.WriteNumber("line", f.Line);
            w.WriteString("message", f.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
