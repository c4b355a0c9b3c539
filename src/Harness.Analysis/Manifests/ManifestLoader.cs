// Manifests: reading YAML manifests into typed objects with file and line, labels and pod templates.
using System.Collections.Frozen;
using System.Globalization;
using System.Reflection;
using k8s;
using k8s.Models;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Harness.Manifests;

/// <summary>
/// Reads Kubernetes manifests: a file or a folder (every <c>.yaml</c>, <c>.yml</c> and <c>.json</c> in it, recursively, in
/// path order), multi-document YAML, and <c>List</c> objects. Built-in kinds become typed KubernetesClient models; other
/// kinds (custom resources) are kept untyped. Errors name the file, line and column.
/// </summary>
public static partial class ManifestLoader
{
    private static readonly string[] Extensions = [".yaml", ".yml", ".json"];

    // apiVersion/kind -> model type. KubernetesClient names its models after version and kind (apps/v1 Deployment is
    // V1Deployment), so one lookup by name, checked against the type's KubernetesEntity attribute, finds nearly all; the
    // few named otherwise (core v1 Event is Corev1Event) come from one scan of the assembly, made on the first miss in a
    // built-in group only. Scanning every time cost a quarter of a second at each start.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Type?> Models = new(StringComparer.Ordinal);

    private static readonly Lazy<FrozenDictionary<string, Type>> Scanned = new(ScanModels);

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "KubernetesClient's models are kept whole in the native harness (Harness.Cli/native-roots.xml).")]
    private static FrozenDictionary<string, Type> ScanModels() => typeof(V1Pod).Assembly.GetTypes()
        .Select(t => (Type: t, Entity: t.GetCustomAttribute<KubernetesEntityAttribute>()))
        .Where(x => x.Entity is not null && !string.IsNullOrEmpty(x.Entity.Kind) && typeof(IKubernetesObject<V1ObjectMeta>).IsAssignableFrom(x.Type))
        .GroupBy(x => Key(string.IsNullOrEmpty(x.Entity!.Group) ? x.Entity.ApiVersion : $"{x.Entity.Group}/{x.Entity.ApiVersion}", x.Entity.Kind), StringComparer.Ordinal)
        .ToFrozenDictionary(g => g.Key, g => g.First().Type, StringComparer.Ordinal);

    // KubernetesClient's own JSON settings (its converters for quantities, int-or-string, dates).
    private static readonly System.Text.Json.JsonSerializerOptions ModelJson = CaptureModelJson();

    private static System.Text.Json.JsonSerializerOptions CaptureModelJson()
    {
        System.Text.Json.JsonSerializerOptions? options = null;
        KubernetesJson.AddJsonOptions(o => options = o);
        return options ?? throw new InvalidOperationException("KubernetesClient did not share its JSON options");
    }

    /// <summary>The KubernetesClient model of a built-in kind; null for custom resources and kinds it does not know.</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "KubernetesClient's models are kept whole in the native harness (Harness.Cli/native-roots.xml).")]
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "As above: the model names are looked up in an assembly whose models are kept.")]
    internal static Type? ModelType(string apiVersion, string kind) => Models.GetOrAdd(Key(apiVersion, kind), key =>
    {
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        var (group, version) = slash < 0 ? ("", apiVersion) : (apiVersion[..slash], apiVersion[(slash + 1)..]);
        if (version.Length == 0 || kind.Length == 0)
        {
            return null;
        }
        var named = typeof(V1Pod).Assembly.GetType($"k8s.Models.{char.ToUpperInvariant(version[0])}{version[1..]}{kind}");
        if (named?.GetCustomAttribute<KubernetesEntityAttribute>() is { } entity && entity.Kind == kind && entity.ApiVersion == version
            && (entity.Group ?? "") == group && typeof(IKubernetesObject<V1ObjectMeta>).IsAssignableFrom(named))
        {
            return named;
        }
        // Built-in groups have no dot (apps, batch, policy) or end in .k8s.io; a custom resource's group never does.
        var builtInGroup = !group.Contains('.', StringComparison.Ordinal) || group.EndsWith(".k8s.io", StringComparison.Ordinal);
        return builtInGroup && Scanned.Value.TryGetValue(key, out var scanned) ? scanned : null;
    });

    /// <summary>Loads a file or every manifest under a folder.</summary>
    /// <exception cref="ManifestException">The path does not exist, a file is not valid YAML, or a document lacks apiVersion or kind.</exception>
    public static IReadOnlyList<ManifestDocument> LoadPath(string path) => LoadPath(path, new List<string>());

    /// <summary>
    /// As <see cref="LoadPath(string)"/>, and says in <paramref name="skipped"/> what it left out on purpose: files that are
    /// not manifests by their role (<c>kustomization.yaml</c> outside a rendered tree, <c>Chart.yaml</c>, <c>values*.yaml</c>)
    /// and the harness's own objects (<c>harness.dev</c> kinds, such as a scenario file beside the manifests). A folder
    /// holding a <c>kustomization.yaml</c> is rendered with kustomize (<see cref="Kustomize"/>), as <c>kubectl apply -k</c> would.
    /// </summary>
    /// <exception cref="ManifestException">The path does not exist, a file is not valid YAML, a document lacks apiVersion or kind, or a kustomization cannot be rendered.</exception>
    public static IReadOnlyList<ManifestDocument> LoadPath(string path, ICollection<string> skipped) => LoadPath(path, skipped, HelmOptions.Default);

    /// <summary>As <see cref="LoadPath(string, ICollection{string})"/>, rendering a chart with <paramref name="helm"/>.</summary>
    /// <exception cref="ManifestException">The path does not exist, a file is not valid YAML, a document lacks apiVersion or kind, or a kustomization or chart cannot be rendered.</exception>
    public static IReadOnlyList<ManifestDocument> LoadPath(string path, ICollection<string> skipped, HelmOptions helm) =>
        LoadPath(path, skipped, helm, new OlmInstall { Namespace = helm?.Namespace });

    /// <summary>As <see cref="LoadPath(string, ICollection{string}, HelmOptions)"/>, an OLM bundle expanded as installed by <paramref name="olm"/>.</summary>
    /// <exception cref="ManifestException">The path does not exist, a file is not valid YAML, a document lacks apiVersion or kind, a kustomization or chart cannot be rendered, or a bundle cannot be installed so.</exception>
    public static IReadOnlyList<ManifestDocument> LoadPath(string path, ICollection<string> skipped, HelmOptions helm, OlmInstall olm)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(skipped);
        ArgumentNullException.ThrowIfNull(helm);
        ArgumentNullException.ThrowIfNull(olm);
        if (Directory.Exists(path) && Kustomize.IsKustomization(path))
        {
            return Kustomize.Render(path);
        }
        if (Directory.Exists(path) && Helm.IsChart(path))
        {
            return Helm.Render(path, helm, skipped);
        }
        if (Directory.Exists(path))
        {
            // Folders below that are rendered, not read (a kustomization, a chart) are left out, each with what to give instead.
            var rendered = new List<string>();
            var files = FilesBelow(path, rendered)
                .Where(f => Extensions.Contains(System.IO.Path.GetExtension(f), StringComparer.OrdinalIgnoreCase) || Kustomize.FileNames.Contains(System.IO.Path.GetFileName(f)))
                .Order(StringComparer.Ordinal)
                .ToList();
            foreach (var folder in rendered)
            {
                skipped.Add($"{folder}: {(Helm.IsChart(folder) ? "a Helm chart" : "a kustomization")}, left out of {path} (give `{folder}` itself to render it)");
            }
            foreach (var config in files.Where(f => System.IO.Path.GetFileName(f) is "kustomizeconfig.yaml" or "kustomizeconfig.yml").ToList())
            {
                skipped.Add($"{config}: kustomize's own configuration, not a manifest, left out");
                files.Remove(config);
            }
            if (files.Count == 0 && rendered.Count > 0)
            {
                var suggestion = rendered.FirstOrDefault(r => System.IO.Path.GetFileName(r) == "default") ?? rendered[0];
                throw new ManifestException(path, 0, 0, $"the folder holds no manifests of its own, only {(rendered.Count == 1 ? "a folder" : "folders")} to render: {string.Join(", ", rendered)}. Give one of them (for a kubebuilder tree, `{suggestion}`).");
            }
            foreach (var notManifest in files.Where(f => NotAManifest(System.IO.Path.GetFileName(f))).ToList())
            {
                skipped.Add($"{notManifest}: not a manifest ({System.IO.Path.GetFileName(notManifest)} is a Helm or kustomize file), left out");
                files.Remove(notManifest);
            }
            foreach (var metadata in files.Where(OlmBundle.IsBundleMetadata).ToList())
            {
                skipped.Add($"{metadata}: not a manifest (an OLM bundle's metadata or scorecard configuration), left out");
                files.Remove(metadata);
            }
            if (files.Count == 0)
            {
                throw new ManifestException(path, 0, 0, "the folder has no .yaml, .yml or .json files; give a manifest file or a folder of manifests.");
            }
            var read = files.SelectMany(LoadFile).ToList();
            var all = WithoutHarnessKinds(read.SelectMany(ExpandBundle(skipped, BundleInstall(read, olm))), skipped);
            return all.Count > 0 ? all
                : throw new ManifestException(path, 0, 0, $"the folder's {files.Count} manifest files hold no Kubernetes object (only comments or empty documents); give manifests with apiVersion and kind.");
        }
        if (!File.Exists(path))
        {
            throw new ManifestException(path, 0, 0, "no such file or folder.");
        }
        var inFile = LoadFile(path).ToList();
        var loaded = WithoutHarnessKinds(inFile.SelectMany(ExpandBundle(skipped, BundleInstall(inFile, olm))), skipped);
        return loaded.Count > 0 ? loaded
            : throw new ManifestException(path, 0, 0, "the file holds no Kubernetes object (only comments or empty documents); give manifests with apiVersion and kind.");
    }

    /// <summary>
    /// The files below <paramref name="root"/>, not descending into a folder that is a kustomization or a chart (those go
    /// to <paramref name="rendered"/>), and never following a directory link (<c>loop -> .</c> would read a file forever).
    /// </summary>
    private static IEnumerable<string> FilesBelow(string root, List<string> rendered)
    {
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out var folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                yield return file;
            }
            foreach (var sub in Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal))
            {
                if (new DirectoryInfo(sub).LinkTarget is not null)
                {
                    continue;
                }
                if (Kustomize.IsKustomization(sub) || Helm.IsChart(sub))
                {
                    rendered.Add(sub);
                    continue;
                }
                pending.Push(sub);
            }
        }
    }

    // A file's text in one read into a buffer of its size (File.ReadAllText grows a builder: an eighth of the time of a
    // 5 MB install file went there). The encoding follows a byte order mark, UTF-8 without one, as File.ReadAllText.
    private static string ReadText(string file)
    {
        using var reader = new StreamReader(file, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var buffer = new char[Math.Max(1, reader.BaseStream.Length)];
        var read = reader.ReadBlock(buffer, 0, buffer.Length);
        return new string(buffer, 0, read);
    }

    /// <summary>
    /// Where a bundle read with these documents is installed when no namespace was given: the only Namespace they declare
    /// (a bundle given beside its install namespace, its labels and policies), else as <paramref name="olm"/> says. Pure.
    /// </summary>
    internal static OlmInstall BundleInstall(IReadOnlyList<ManifestDocument> documents, OlmInstall olm) =>
        olm.Namespace is null && documents.Any(OlmBundle.IsCsv) && OnlyDeclaredNamespace(documents) is { } only
            ? olm with { Namespace = only }
            : olm;

    /// <summary>The one Namespace <paramref name="documents"/> declare, or null when they declare none or several. Pure.</summary>
    internal static string? OnlyDeclaredNamespace(IEnumerable<ManifestDocument> documents) =>
        documents.Where(d => d.Kind == "Namespace" && d.ApiVersion == "v1").Select(d => d.Name).Distinct(StringComparer.Ordinal).ToList() is [var only] ? only : null;

    // An OLM ClusterServiceVersion stands for what OLM would create from it; the rest of the bundle (its CRDs) is read as is.
    private static Func<ManifestDocument, IEnumerable<ManifestDocument>> ExpandBundle(ICollection<string> skipped, OlmInstall olm) => d =>
    {
        if (!OlmBundle.IsCsv(d))
        {
            return [d];
        }
        var expanded = OlmBundle.Expand(d, olm, skipped);
        skipped.Add($"{d.Location}: ClusterServiceVersion {d.Name} read as the {expanded.Count} objects OLM would create from it (deployed without OLM; OLM injects webhook CA bundles)");
        return expanded;
    };

    private static bool NotAManifest(string fileName) =>
        Kustomize.FileNames.Contains(fileName) || fileName is "Chart.yaml" or "Chart.yml"
        || (fileName.StartsWith("values", StringComparison.Ordinal) && (fileName.EndsWith(".yaml", StringComparison.Ordinal) || fileName.EndsWith(".yml", StringComparison.Ordinal)));

    // The harness's own files (a scenario beside the manifests) are not the operator's objects.
    private static List<ManifestDocument> WithoutHarnessKinds(IEnumerable<ManifestDocument> documents, ICollection<string> skipped)
    {
        var kept = new List<ManifestDocument>();
        foreach (var d in documents)
        {
            if (d.ApiVersion.StartsWith("harness.dev/", StringComparison.Ordinal))
            {
                skipped.Add($"{d.Location}: {d.Kind} {d.Name} is the harness's own ({d.ApiVersion}), not the operator's; left out");
                continue;
            }
            kept.Add(d);
        }
        return kept;
    }

    /// <summary>Loads every document of one file's text.</summary>
    /// <param name="text">YAML or JSON, possibly several documents.</param>
    /// <param name="path">The name used in errors and in <see cref="ManifestDocument.Path"/>.</param>
    /// <exception cref="ManifestException">Invalid YAML, or a document without apiVersion or kind.</exception>
    public static IReadOnlyList<ManifestDocument> LoadText(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<ManifestDocument>();
        foreach (var (docText, line) in SplitDocuments(text, path))
        {
            result.AddRange(LoadDocument(docText, line, path));
        }
        return result;
    }

    /// <summary>
    /// Reads the later documents of a large file in a second process while this one reads the earlier ones, when set (the
    /// native harness sets it): YAML parsing is most of the time of reading an install file, and two threads of one
    /// process are slower than one (YamlDotNet's scanner shares a static pool both would contend for, and the fresh
    /// memory both fault in is the process's one address space). Given the file, the byte offset where the later
    /// documents start and how many there are, it starts the reader and returns what collects its lines
    /// (<see cref="ReadForSecondProcess"/>), or null when the reader failed: this process then reads them itself. A line
    /// that is not a read document (<c>!</c>), or not the document this process split there, is read here too, so every
    /// document and every error are this process's own.
    /// </summary>
    internal static Func<string, long, int, Func<IReadOnlyList<string>?>>? SecondReader { get; set; }

    /// <summary>Files smaller than this are read in one process: starting the second costs more than it saves.</summary>
    internal const int SecondReaderMinimumChars = 1 << 20;

    private static IReadOnlyList<ManifestDocument> LoadFile(string file)
    {
        var text = ReadText(file);
        if (SecondReader is not { } second || text.Length < SecondReaderMinimumChars || SplitByMarkers(text) is not { Count: > 1 } parts
            || new FileInfo(file).Length != System.Text.Encoding.UTF8.GetByteCount(text))
        {
            // Small, split by the parser (directives), or not plain UTF-8 (a byte order mark): one reader.
            return LoadText(text, file);
        }
        // Half the characters each: the second process starts first, reads the later half, and this one the earlier.
        var (split, chars) = (0, 0L);
        while (split < parts.Count - 1 && chars + parts[split].Text.Length <= text.Length / 2)
        {
            chars += parts[split++].Text.Length;
        }
        split = Math.Max(split, 1);
        var offset = 0;
        for (var line = 1; line < parts[split].Line; line++)
        {
            offset = text.IndexOf('\n', offset) + 1;
        }
        var collect = second(file, System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(0, offset)), parts.Count - split);
        var result = LoadParts(parts, file, 0, split, []);
        var lines = collect();
        // Every line must be the document this process split there (its length, or "!"): otherwise none is taken.
        var aligned = lines is { } l && l.Count == parts.Count - split
            && l.Select((line, i) => line == "!" || line.StartsWith(string.Create(CultureInfo.InvariantCulture, $"{parts[split + i].Text.Length} "), StringComparison.Ordinal)).All(ok => ok);
        result.AddRange(LoadParts(parts, file, split, parts.Count, aligned ? lines! : []));
        return result;
    }

    // Documents [from, to) of a file; a line the second process read (its index from `from`) is taken from it.
    private static List<ManifestDocument> LoadParts(List<(string Text, int Line)> parts, string path, int from, int to, IReadOnlyList<string> read)
    {
        var result = new List<ManifestDocument>();
        for (var i = from; i < to; i++)
        {
            var (docText, line) = parts[i];
            result.AddRange(i - from < read.Count && FromSecondProcess(read[i - from]) is { } done
                ? LoadDocument(docText, line, path, done)
                : LoadDocument(docText, line, path));
        }
        return result;
    }

    /// <summary>
    /// The second process's half of <see cref="SecondReader"/>: the first <paramref name="count"/> documents of
    /// <paramref name="file"/> from byte <paramref name="offset"/> (where a document starts), one line each:
    /// <c>LENGTH LINE COLUMN JSON</c> (the document's length in characters, so that a different split is noticed; where
    /// its root starts within it; the document as compact JSON, <c>null</c> when empty), or <c>!</c> when it cannot be
    /// read (the first process reads it and reports why). Only its part of the file is read.
    /// </summary>
    internal static IEnumerable<string> ReadForSecondProcess(string file, long offset, int count)
    {
        string text;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            stream.Seek(offset, SeekOrigin.Begin);
            var bytes = new byte[Math.Max(0, stream.Length - offset)];
            stream.ReadExactly(bytes);
            text = System.Text.Encoding.UTF8.GetString(bytes);
        }
        var parts = SplitByMarkers(text) ?? [];
        for (var i = 0; i < Math.Min(parts.Count, count); i++)
        {
            string line;
            try
            {
                var (json, start) = Read(parts[i].Text);
                line = string.Create(CultureInfo.InvariantCulture, $"{parts[i].Text.Length} {start.Line} {start.Column} {json?.ToJsonString() ?? "null"}");
            }
            catch (YamlException)
            {
                line = "!";
            }
            yield return line;
        }
    }

    // A line LoadFile found aligned (its length is the document's): where the root starts, and the JSON; null for "!" or a cut line.
    private static (JsonNode? Json, Mark Start)? FromSecondProcess(string line)
    {
        var fields = line.Split(' ', 4);
        if (fields.Length != 4 || !long.TryParse(fields[1], CultureInfo.InvariantCulture, out var l) || !long.TryParse(fields[2], CultureInfo.InvariantCulture, out var c))
        {
            return null;
        }
        try
        {
            return (JsonNode.Parse(fields[3]), new Mark(0, l, c));
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static List<ManifestDocument> LoadDocument(string docText, int startLine, string path, (JsonNode? Json, Mark Start)? read = null)
    {
        var result = new List<ManifestDocument>();
        // One pass of the parser straight into JSON: no node model in between (the node model, kept for the rare
        // List document and for locating a wrong-typed field, cost half the time of reading a large install file).
        JsonNode? json;
        Mark start;
        try
        {
            (json, start) = read ?? Read(docText);
        }
        catch (YamlException e)
        {
            throw Located(path, startLine, e, docText: docText);
        }
        if (json is null || (json is JsonValue v && v.TryGetValue<string>(out var str) && str.Length == 0))
        {
            return result; // an empty document (only comments, or a Helm template that rendered nothing)
        }
        if (json is not JsonObject root)
        {
            throw new ManifestException(path, startLine, 0, "the document is not a mapping; a manifest is an object with apiVersion, kind and metadata.");
        }
        AddObject(root, start, docText, path, startLine, result);
        return result;
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "KubernetesClient's models are kept whole in the native harness (Harness.Cli/native-roots.xml); System.Text.Json reflection is on there.")]
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AOT", "IL3050", Justification = "The models bind through System.Text.Json's reflection reader, which needs no generated code for these reference types.")]
    private static void AddObject(JsonObject root, Mark start, string docText, string path, int startLine, List<ManifestDocument> result)
    {
        var apiVersion = Text(root["apiVersion"]);
        var kind = Text(root["kind"]);
        var line = startLine + (int)start.Line - 1;
        if (string.IsNullOrEmpty(apiVersion) || string.IsNullOrEmpty(kind))
        {
            throw new ManifestException(path, line, (int)start.Column, $"the object has no {(string.IsNullOrEmpty(apiVersion) ? "apiVersion" : "kind")}; every manifest needs apiVersion and kind.");
        }
        if (kind.EndsWith("List", StringComparison.Ordinal) && root["items"] is JsonArray)
        {
            // A List: each item becomes a document of its own, with its own text (from the node model, rare enough).
            var stream = new YamlStream();
            stream.Load(new StringReader(docText));
            if (stream.Documents[0].RootNode is YamlMappingNode listNode && listNode.Children.TryGetValue(new YamlScalarNode("items"), out var items) && items is YamlSequenceNode seq)
            {
                foreach (var item in seq.Children.OfType<YamlMappingNode>())
                {
                    var itemText = Serialize(item);
                    var (itemJson, _) = YamlJson.Read(itemText);
                    if (itemJson is JsonObject itemRoot)
                    {
                        AddObject(itemRoot, item.Start, itemText, path, startLine, result);
                    }
                }
            }
            return;
        }
        var metadata = root["metadata"] as JsonObject;
        var name = Text(metadata?["name"]) ?? "";
        var ns = Text(metadata?["namespace"]);
        if (name.Length == 0 && string.IsNullOrEmpty(Text(metadata?["generateName"])))
        {
            // A truncated document (a Job cut after `metadata:`) was read as an object with nothing in it, and passed.
            throw new ManifestException(path, line, (int)start.Column, $"{kind} has no metadata.name: the API server refuses an object without one (\"resource name may not be empty\"). Give it a name, or check that the file is not cut short.");
        }
        IKubernetesObject<V1ObjectMeta>? typed = null;
        if (ModelType(apiVersion, kind) is { } type)
        {
            // KubernetesClient's JSON model binding: what kubectl does (so a bare `true` where a string belongs is
            // refused, as kubectl refuses it), and far cheaper at start than a YAML binder for every model.
            try
            {
                typed = System.Text.Json.JsonSerializer.Deserialize(kind == "CustomResourceDefinition" ? WithoutSchemas(root) : root, type, ModelJson) as IKubernetesObject<V1ObjectMeta>;
            }
            catch (System.Text.Json.JsonException e)
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(docText));
                throw WrongType(path, startLine, (YamlMappingNode)stream.Documents[0].RootNode, e, $"{kind} {name}: ");
            }
        }
        result.Add(new ManifestDocument(path, line, apiVersion, kind, name, ns, typed, docText));
    }

    // A CRD's typed object leaves out each version's OpenAPI schema: nothing judges schemas, binding them was most of the
    // time of reading a release bundle, and what is applied comes from the document's text (ManifestDocument.Text).
    private static JsonObject WithoutSchemas(JsonObject crd)
    {
        foreach (var version in (crd["spec"]?["versions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            version.Remove("schema");
        }
        return crd;
    }

    // A scalar's text whatever its YAML type (a name written as a bare number is still the name).
    private static string? Text(JsonNode? node) => node is JsonValue v
        ? v.TryGetValue<string>(out var s) ? s : v.ToJsonString()
        : null;

    private static string Key(string apiVersion, string kind) => $"{apiVersion}/{kind}";

    private static string Serialize(YamlNode node)
    {
        var stream = new YamlStream(new YamlDocument(node));
        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    private static ManifestException Located(string path, int startLine, YamlException e, string? docText = null)
    {
        var line = startLine + (int)e.Start.Line - 1;
        var column = (int)e.Start.Column;
        // YamlDotNet reports a tab in indentation at the mapping that holds it; the user needs the line with the tab.
        if (docText is not null && e.Message.Contains("tab", StringComparison.OrdinalIgnoreCase)
            && docText.Split('\n').Select((text, i) => (Text: text, Index: i)).FirstOrDefault(l => l.Text.TrimStart(' ').StartsWith('\t')) is { Text: not null } tabbed)
        {
            line = startLine + tabbed.Index;
            column = tabbed.Text.IndexOf('\t', StringComparison.Ordinal) + 1;
        }
        var problem = e.InnerException is { } inner && inner.Message != e.Message ? $"{e.Message} {inner.Message}" : e.Message;
        // YamlDotNet prefixes its messages with the position; the exception already carries it.
        var at = problem.IndexOf("): ", StringComparison.Ordinal);
        if (problem.StartsWith("(Line:", StringComparison.Ordinal) && at > 0)
        {
            problem = problem[(at + 3)..];
        }
        return new ManifestException(path, line, column, problem.Trim(), e);
    }

    // A field of the wrong type, at its line and column in the file, in the manifest's terms.
    private static ManifestException WrongType(string path, int startLine, YamlMappingNode root, System.Text.Json.JsonException e, string prefix)
    {
        YamlNode node = root;
        foreach (var step in JsonPathSteps(e.Path ?? "$"))
        {
            YamlNode? next = node switch
            {
                YamlMappingNode m => m.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode k && k.Value == step).Value,
                YamlSequenceNode s when int.TryParse(step, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < s.Children.Count => s.Children[i],
                _ => null,
            };
            if (next is null)
            {
                break;
            }
            node = next;
        }
        var expected = ExpectedType().Match(e.Message) is { Success: true } m2 ? TypeWords(m2.Groups[1].Value) : "another type";
        var found = node switch
        {
            YamlSequenceNode => "a list",
            YamlMappingNode => "a map",
            YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } => "true or false (quote it if it is text)",
            YamlScalarNode { Style: ScalarStyle.Plain } s when double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) => "a number (quote it if it is text)",
            YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" } => "nothing",
            _ => "a string",
        };
        return new ManifestException(path, startLine + (int)node.Start.Line - 1, (int)node.Start.Column, $"{prefix}wrong type for this field: expected {expected}, found {found}.", e);
    }

    // $.spec.containers[0].name and $['odd.key'] as their steps.
    private static IEnumerable<string> JsonPathSteps(string jsonPath)
    {
        var i = jsonPath.StartsWith('$') ? 1 : 0;
        while (i < jsonPath.Length)
        {
            if (jsonPath[i] == '.')
            {
                var end = jsonPath.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? jsonPath.Length : end;
                yield return jsonPath[(i + 1)..end];
                i = end;
            }
            else if (jsonPath[i] == '[')
            {
                var quoted = i + 1 < jsonPath.Length && jsonPath[i + 1] == '\'';
                var end = quoted ? jsonPath.IndexOf("']", i + 2, StringComparison.Ordinal) : jsonPath.IndexOf(']', i + 1);
                end = end < 0 ? jsonPath.Length : end;
                yield return quoted ? jsonPath[(i + 2)..end] : jsonPath[(i + 1)..end];
                i = Math.Min(jsonPath.Length, end + (quoted ? 2 : 1));
            }
            else
            {
                yield break;
            }
        }
    }

    // One document into JSON, as both readers do. A CRD's version schemas are parsed and checked but not built: its typed
    // object leaves them out anyway.
    private static (JsonNode? Json, Mark Start) Read(string docText) => YamlJson.Read(docText, versionSchemasUnread: CrdKindLine().IsMatch(docText));

    // A block-style document's own kind is its only key line at column 0 naming it (a block scalar's lines are indented).
    [System.Text.RegularExpressions.GeneratedRegex(@"^kind:[ \t]*[""']?CustomResourceDefinition[""']?[ \t]*\r?$", System.Text.RegularExpressions.RegexOptions.Multiline)]
    private static partial System.Text.RegularExpressions.Regex CrdKindLine();

    [System.Text.RegularExpressions.GeneratedRegex(@"could not be converted to (\S+?)\.? Path")]
    private static partial System.Text.RegularExpressions.Regex ExpectedType();

    [System.Text.RegularExpressions.GeneratedRegex(@"^System\.Nullable`1\[(.+)\]$")]
    private static partial System.Text.RegularExpressions.Regex NullableOf();

    private static string TypeWords(string clrType)
    {
        if (clrType.Contains("IList", StringComparison.Ordinal) || clrType.Contains("List`1", StringComparison.Ordinal))
        {
            return "a list";
        }
        if (clrType.Contains("IDictionary", StringComparison.Ordinal))
        {
            return "a map";
        }
        // System.Nullable`1[System.Int32]: the value type inside; a field that may be absent is still that type when present.
        if (NullableOf().Match(clrType) is { Success: true } nullable)
        {
            clrType = nullable.Groups[1].Value;
        }
        return clrType switch
        {
            "System.String" => "a string",
            "System.Int32" or "System.Int64" or "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.DateTime" or "System.DateTimeOffset" => "a date and time (RFC 3339)",
            "k8s.Models.IntOrString" or "k8s.Models.IntstrIntOrString" => "a number or a string",
            "k8s.Models.ResourceQuantity" => "a quantity (such as 100m or 64Mi)",
            _ when clrType.StartsWith("k8s.Models.", StringComparison.Ordinal) => $"an object ({clrType["k8s.Models.".Length..]})",
            // Never a .NET type name in a message about YAML.
            _ => "another type",
        };
    }

    /// <summary>Splits a multi-document stream into each document's text and its first line.</summary>
    internal static List<(string Text, int Line)> SplitDocuments(string text, string path) => SplitByMarkers(text) ?? ParseDocuments(text, path);

    /// <summary>
    /// The documents between <c>---</c> (and <c>...</c>) lines: YAML forbids those at the start of a line anywhere but as
    /// document markers, so a line scan splits as the parser would, without parsing the stream twice. Null when the
    /// stream has what a line scan should not judge (a directive, content on a marker line): the parser splits it then.
    /// </summary>
    internal static List<(string Text, int Line)>? SplitByMarkers(string text)
    {
        var documents = new List<(string, int)>();
        var from = 0;
        var fromLine = 1;
        var line = 1;
        for (var at = 0; at <= text.Length; line++)
        {
            var end = text.IndexOf('\n', at);
            end = end < 0 ? text.Length : end;
            var content = text.AsSpan(at, end - at).TrimEnd('\r');
            if (content.StartsWith("%") && (content.StartsWith("%YAML") || content.StartsWith("%TAG")))
            {
                return null;
            }
            var marker = content.StartsWith("---") || content.StartsWith("...");
            if (marker && content.Length > 3 && content[3] is not (' ' or '\t'))
            {
                marker = false; // ----- or ---x: content, not a marker
            }
            if (marker && content[3..].Trim().Length > 0 && !content[3..].TrimStart().StartsWith("#"))
            {
                return null; // "--- {a: b}" or "--- !tag": the parser knows
            }
            if (marker)
            {
                documents.Add((text[from..at], fromLine));
                from = Math.Min(end + 1, text.Length);
                fromLine = line + 1;
            }
            at = end + 1;
        }
        documents.Add((text[from..], fromLine));
        return [.. documents.Where(d => d.Item1.Length > 0)];
    }

    private static List<(string Text, int Line)> ParseDocuments(string text, string path)
    {
        var documents = new List<(string, int)>();
        var parser = new Parser(new StringReader(text));
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out var start))
            {
                var depth = 0;
                while (true)
                {
                    var e = parser.Consume<ParsingEvent>();
                    if (e is DocumentEnd end && depth == 0)
                    {
                        var from = (int)start.Start.Index;
                        var to = (int)Math.Min(end.End.Index, text.Length);
                        // Keep the leading lines so that positions inside the document stay true to the file.
                        var line = (int)start.Start.Line;
                        documents.Add((text[from..Math.Max(from, to)], line));
                        break;
                    }
                    depth += e.NestingIncrease;
                }
            }
        }
        catch (YamlException e)
        {
            throw Located(path, 1, e, docText: text);
        }
        return documents;
    }
}
