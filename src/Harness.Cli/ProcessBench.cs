using System.Diagnostics;
using System.Globalization;

namespace Harness.Cli;

/// <summary>
/// Whole-process benchmarks: <c>harness preflight</c> (with kubectl's read of the same files beside it) and
/// <c>harness qualify</c>, each run N times as a user runs them, start-up included. Prints min, median and max wall
/// time. A benchmark, not a test: it asserts nothing.
/// </summary>
internal static class ProcessBench
{
    /// <summary>One command line, measured.</summary>
    /// <param name="Label">What the row says.</param>
    /// <param name="Milliseconds">Wall time of each run.</param>
    /// <param name="Exit">The exit code of the last run.</param>
    internal sealed record Row(string Label, IReadOnlyList<double> Milliseconds, int Exit);

    /// <summary>This harness as a command line: the native or apphost binary, or <c>dotnet Harness.Cli.dll</c>.</summary>
    internal static (string File, string[] Prefix) Self()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the harness cannot tell its own path");
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? (process, [Path.Combine(AppContext.BaseDirectory, "Harness.Cli.dll")]) : (process, []);
    }

    public static async Task<int> PreflightAsync(string? path, double syntheticMegabytes, int runs, TextWriter stdout, CancellationToken ct)
    {
        if (path is null)
        {
            var dir = Directory.CreateTempSubdirectory("harness-bench-");
            try
            {
                var file = Path.Combine(dir.FullName, $"install-{syntheticMegabytes:0.#}mb.yaml");
                await File.WriteAllTextAsync(file, SyntheticInstall(syntheticMegabytes), ct).ConfigureAwait(false);
                return await PreflightAsync(file, 0, runs, stdout, ct).ConfigureAwait(false);
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }
        var (self, prefix) = Self();
        var rows = new List<Row> { await MeasureAsync("harness preflight", self, [.. prefix, "preflight", path], runs, ct).ConfigureAwait(false) };
        var kubectl = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(d => d.Length > 0).Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);
        var note = kubectl is null ? "kubectl is not on PATH: no read-time column"
            : "kubectl reads and parses the same objects (`kubectl label --local --dry-run=client -f PATH -R -o name x=y`)";
        if (kubectl is not null)
        {
            rows.Add(await MeasureAsync("kubectl read of the same files", kubectl, ["label", "--local", "--dry-run=client", "-f", path, "-R", "-o", "name", "bench=x"], runs, ct).ConfigureAwait(false));
        }
        var bytes = File.Exists(path) ? new FileInfo(path).Length : Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        await WriteAsync(stdout, $"benchmark: pre-flight of {path} ({bytes / 1024.0:F0} KiB), {runs} runs of each whole process, {Environment.ProcessorCount} cores; {note}", rows).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// An install file of about <paramref name="megabytes"/> MB shaped like a real operator's release bundle: mostly CRDs
    /// with deep OpenAPI schemas, then per component a ServiceAccount, ClusterRole, ClusterRoleBinding and Deployment.
    /// </summary>
    internal static string SyntheticInstall(double megabytes)
    {
        var text = new System.Text.StringBuilder();
        var target = (long)(megabytes * 1024 * 1024);
        for (var i = 0; text.Length < target; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $$$"""
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata:
                  name: widgets{{{i}}}.bench.example.com
                spec:
                  group: bench.example.com
                  scope: Namespaced
                  names: {kind: Widget{{{i}}}, plural: widgets{{{i}}}, singular: widget{{{i}}}, listKind: Widget{{{i}}}List}
                  versions:
                    - name: v1
                      served: true
                      storage: true
                      schema:
                        openAPIV3Schema:
                          type: object
                          properties:
                            spec:
                              type: object
                              properties:

                """);
            for (var f = 0; f < 120; f++)
            {
                text.Append(CultureInfo.InvariantCulture, $$$"""
                                    field{{{f}}}:
                                      type: object
                                      description: "Field {{{f}}} of widget {{{i}}}: a nested object as generated CRDs have them."
                                      properties:
                                        name: {type: string, maxLength: 253}
                                        replicas: {type: integer, format: int32, minimum: 0}
                                        labels: {type: object, additionalProperties: {type: string}}

                    """);
            }
            text.Append(CultureInfo.InvariantCulture, $$$"""
                ---
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: widget-{{{i}}}, namespace: bench-system}
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: ClusterRole
                metadata: {name: widget-{{{i}}}}
                rules:
                  - {apiGroups: [bench.example.com], resources: [widgets{{{i}}}, widgets{{{i}}}/status], verbs: [get, list, watch, update, patch]}
                  - {apiGroups: [""], resources: [configmaps, events], verbs: [get, list, watch, create, update, patch]}
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: ClusterRoleBinding
                metadata: {name: widget-{{{i}}}}
                roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-{{{i}}}}
                subjects: [{kind: ServiceAccount, name: widget-{{{i}}}, namespace: bench-system}]
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: widget-{{{i}}}, namespace: bench-system}
                spec:
                  selector: {matchLabels: {app: widget-{{{i}}}}}
                  template:
                    metadata: {labels: {app: widget-{{{i}}}}}
                    spec:
                      serviceAccountName: widget-{{{i}}}
                      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
                      containers:
                        - name: manager
                          image: registry.example/widget@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
                          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
                ---

                """);
        }
        return text.ToString();
    }

    public static async Task<int> QualifyAsync(string scenario, int runs, TextWriter stdout, CancellationToken ct)
    {
        var (self, prefix) = Self();
        var output = Directory.CreateTempSubdirectory("harness-bench-");
        try
        {
            var row = await MeasureAsync("harness qualify", self, [.. prefix, "qualify", "--scenario", scenario, "--output", output.FullName], runs, ct).ConfigureAwait(false);
            await WriteAsync(stdout, $"benchmark: qualification of {scenario}, {runs} runs of the whole process (exit {row.Exit}); each report's phase timings are in its Markdown", [row]).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    internal static async Task<Row> MeasureAsync(string label, string file, IReadOnlyList<string> args, int runs, CancellationToken ct)
    {
        var times = new List<double>();
        var exit = 0;
        // One warm-up run, not measured: the page cache, as a user's second run has it.
        for (var i = -1; i < runs; i++)
        {
            var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }
            var clock = Stopwatch.StartNew();
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
            var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(ct), process.StandardError.ReadToEndAsync(ct));
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            await drain.ConfigureAwait(false);
            if (i >= 0)
            {
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            exit = process.ExitCode;
        }
        return new Row(label, times, exit);
    }

    internal static async Task WriteAsync(TextWriter stdout, string title, IReadOnlyList<Row> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync(title).ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(inv, $"{"command",-32} {"min ms",9} {"median ms",10} {"max ms",9} {"exit",5}")).ConfigureAwait(false);
        foreach (var row in rows)
        {
            var sorted = row.Milliseconds.Order().ToList();
            await stdout.WriteLineAsync(string.Create(inv, $"{row.Label,-32} {sorted[0],9:F0} {Median(sorted),10:F0} {sorted[^1],9:F0} {row.Exit,5}")).ConfigureAwait(false);
        }
    }

    internal static double Median(IReadOnlyList<double> sorted)
    {
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
