using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Xml;
using Harness.Evidence;
using Harness.Verdicts;

namespace Harness.Qualification;

/// <summary>
/// Writes a qualification as Markdown, JSON, JUnit XML and a self-contained HTML page. Every string goes through the
/// redactor on the way out, whatever the probes already scrubbed. Pure apart from <see cref="WriteAllAsync"/>.
/// </summary>
public static class ReportWriters
{
    /// <summary>The file names in the output folder.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["qualification.md", "qualification.json", "qualification.junit.xml", "qualification.html"];

    /// <summary>Writes all four formats into <paramref name="directory"/> and returns their paths.</summary>
    public static async Task<IReadOnlyList<string>> WriteAllAsync(QualificationReport report, string directory, Redactor? redactor = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        redactor ??= Redactor.Default;
        string[] contents = [Markdown(report, redactor), Json(report, redactor), JUnit(report, redactor), Html(report, redactor)];
        var paths = new List<string>();
        for (var i = 0; i < contents.Length; i++)
        {
            var path = Path.Combine(directory, FileNames[i]);
            await File.WriteAllTextAsync(path, contents[i], new UTF8Encoding(false), ct).ConfigureAwait(false);
            paths.Add(path);
        }
        return paths;
    }

    private static ChecklistStatus Of(ProbeStatus s) => s switch
    {
        ProbeStatus.Passed => ChecklistStatus.Passed,
        ProbeStatus.Failed => ChecklistStatus.Failed,
        _ => ChecklistStatus.Inconclusive,
    };

    /// <summary>Markdown for people and pull requests.</summary>
    public static string Markdown(QualificationReport report, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = redactor ?? Redactor.Default;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Qualification of {r.Redact(report.Context.Operator)}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"**{r.Redact(report.Verdict)}** (exit code {report.ExitCode})");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Cluster: {r.Redact(report.Context.Cluster)}; vehicle: {report.Context.Vehicle}; started {report.Started:u}; took {report.Duration.TotalSeconds:0.0} s; harness {report.Context.HarnessVersion}.");
        sb.AppendLine();
        if (!report.Waived.IsEmpty)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Waived by the user (not tested or not proven, and accepted): {string.Join(", ", report.Waived)}.");
            sb.AppendLine();
        }
        sb.AppendLine("## The four checks");
        sb.AppendLine();
        sb.AppendLine("| Check | Status |");
        sb.AppendLine("| --- | --- |");
        foreach (var m in report.Mission)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {m.Check} | {report.StatusText(m)} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Hardening checklist");
        sb.AppendLine();
        sb.AppendLine("| Item | Status | Time |");
        sb.AppendLine("| --- | --- | --- |");
        foreach (var i in report.Checklist)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(i.Title)} (`{i.Id}`) | {report.StatusText(i)} | {i.DurationMs} ms |");
        }
        foreach (var i in report.Checklist)
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {report.StatusText(i)} {i.Title}");
            sb.AppendLine();
            foreach (var e in i.Evidence)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Redact(e)}");
            }
            if (!i.Controls.IsEmpty)
            {
                sb.AppendLine();
                sb.AppendLine("Controls:");
                foreach (var c in i.Controls)
                {
                    sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Redact(c)}");
                }
            }
        }
        if (!report.Timings.IsEmpty)
        {
            sb.AppendLine();
            sb.AppendLine("## Timings");
            sb.AppendLine();
            sb.AppendLine("| Phase | Seconds |");
            sb.AppendLine("| --- | --- |");
            foreach (var t in report.Timings)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {t.Phase} | {t.Duration.TotalSeconds:0.00} |");
            }
            if (Runs.PhaseClock.CriticalPath(report.Timings) is { Length: > 1 } path)
            {
                sb.AppendLine();
                sb.AppendLine(CultureInfo.InvariantCulture, $"Critical path (what the run waited on; other phases ran beside it): {string.Join(" → ", path.Select(p => $"{p.Phase} {p.Duration.TotalSeconds:0.00} s"))}; {path[^1].Phase} ended the run.");
            }
        }
        if (!report.Proof.IsEmpty)
        {
            sb.AppendLine();
            sb.AppendLine("## Proof (`harness prove`)");
            sb.AppendLine();
            sb.AppendLine("| Mutant | Control removed | Must fail | Outcome | Evidence |");
            sb.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var p in report.Proof)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| `{p.Mutant}` | {Cell(p.Control)} | `{p.Item}` | {p.Outcome.ToUpperInvariant()} | {Cell(r.Redact(p.Evidence))} |");
            }
        }
        if (!report.Notes.IsEmpty)
        {
            sb.AppendLine();
            sb.AppendLine("## Notes");
            sb.AppendLine();
            foreach (var n in report.Notes)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Redact(n)}");
            }
        }
        return sb.ToString();
    }

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>JSON for machines: the verdict, the checklist, the four checks, every probe and access answer.</summary>
    public static string Json(QualificationReport report, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = redactor ?? Redactor.Default;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("operator", r.Redact(report.Context.Operator));
            w.WriteString("cluster", r.Redact(report.Context.Cluster));
            w.WriteString("vehicle", report.Context.Vehicle);
            w.WriteString("harnessVersion", report.Context.HarnessVersion);
            w.WriteString("started", report.Started);
            w.WriteNumber("durationMs", (long)report.Duration.TotalMilliseconds);
            w.WriteNumber("exitCode", report.ExitCode);
            w.WriteString("outcome", report.Outcome.ToString());
            w.WriteString("verdict", r.Redact(report.Verdict));
            if (report.Approximation is { } approximation)
            {
                w.WriteString("approximation", approximation);
            }
            WriteStrings(w, "waived", report.Waived);
            w.WriteStartArray("mission");
            foreach (var m in report.Mission)
            {
                w.WriteStartObject();
                w.WriteString("check", m.Check.ToString());
                w.WriteString("status", m.Tested ? m.Status.ToString() : "Untested");
                w.WriteString("statusText", report.StatusText(m));
                WriteStrings(w, "evidence", m.Evidence.Select(r.Redact));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("checklist");
            foreach (var i in report.Checklist)
            {
                w.WriteStartObject();
                w.WriteString("id", i.Id);
                w.WriteString("title", i.Title);
                w.WriteString("status", i.Status.ToString());
                w.WriteString("statusText", report.StatusText(i));
                w.WriteBoolean("waived", report.IsWaived(i.Id) && i.Status is not (ChecklistStatus.Passed or ChecklistStatus.Failed));
                w.WriteNumber("durationMs", i.DurationMs);
                WriteStrings(w, "evidence", i.Evidence.Select(r.Redact));
                WriteStrings(w, "controls", i.Controls.Select(r.Redact));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("probes");
            foreach (var p in report.Probes)
            {
                w.WriteStartObject();
                w.WriteString("id", p.Probe.Id);
                w.WriteString("check", p.Probe.Check.ToString());
                w.WriteString("status", p.Status.ToString());
                w.WriteString("verdict", p.Verdict.ToString());
                w.WriteString("explanation", r.Redact(p.Explanation));
                w.WriteString("attempt", r.Redact(p.Evidence.Attempt));
                if (p.Evidence.Observed is { } observed)
                {
                    w.WriteString("observed", r.Redact(observed));
                }
                w.WriteStartObject("data");
                foreach (var (key, value) in p.Evidence.Data.Where(kv => kv.Key != Protocol.DataKeys.Observed).OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WriteString(key, r.Redact(value));
                }
                w.WriteEndObject();
                w.WriteNumber("durationMs", p.Evidence.DurationMs);
                if (p.Evidence.Control is { } c)
                {
                    w.WriteStartObject("control");
                    w.WriteString("proves", c.Proves);
                    w.WriteBoolean("succeeded", c.Succeeded);
                    w.WriteString("detail", r.Redact(c.Detail));
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("access");
            foreach (var a in report.Access)
            {
                w.WriteStartObject();
                w.WriteString("id", a.Question.Id);
                w.WriteString("question", a.Question.Description);
                w.WriteString("status", a.Status.ToString());
                w.WriteString("evidence", r.Redact(a.Evidence));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("timings");
            foreach (var t in report.Timings)
            {
                w.WriteStartObject();
                w.WriteString("phase", t.Phase.ToString());
                w.WriteNumber("seconds", Math.Round(t.Duration.TotalSeconds, 3));
                w.WriteNumber("startSeconds", Math.Round(t.Start.TotalSeconds, 3));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteStrings(w, "criticalPath", Runs.PhaseClock.CriticalPath(report.Timings).Select(t => t.Phase.ToString()));
            w.WriteStartArray("proof");
            foreach (var p in report.Proof)
            {
                w.WriteStartObject();
                w.WriteString("mutant", p.Mutant);
                w.WriteString("control", p.Control);
                w.WriteString("item", p.Item);
                w.WriteString("outcome", p.Outcome);
                w.WriteString("evidence", r.Redact(p.Evidence));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteStrings(w, "notes", report.Notes.Select(r.Redact));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStringValue(v);
        }
        w.WriteEndArray();
    }

    /// <summary>JUnit XML for CI: one test case per checklist item and per mission check; inconclusive is an error.</summary>
    public static string JUnit(QualificationReport report, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = redactor ?? Redactor.Default;
        var sb = new StringBuilder();
        // The file is written as UTF-8, and its declaration says so (a StringWriter would declare utf-16, which JUnit readers then refuse).
        using (var x = XmlWriter.Create(new Utf8StringWriter(sb), new XmlWriterSettings { Indent = true, OmitXmlDeclaration = false }))
        {
            x.WriteStartElement("testsuites");
            x.WriteAttributeString("name", $"qualification of {r.Redact(report.Context.Operator)}");
            x.WriteAttributeString("time", Seconds(report.Duration.TotalMilliseconds));
            // Untested, approximated and waived items are "skipped" with the status text as their message: never a pass.
            var cases = report.Mission.Select(m => (Suite: "mission", Name: m.Check.ToString(),
                    Status: !m.Tested || (m.Status == ProbeStatus.Inconclusive && report.IsWaived(m.Check.ToString())) ? ChecklistStatus.Skipped : Of(m.Status),
                    Text: report.StatusText(m), Evidence: m.Evidence, Ms: 0L))
                .Concat(report.Checklist.Select(i => (Suite: "checklist", Name: i.Id,
                    Status: i.Status is ChecklistStatus.Approximated || (i.Status is ChecklistStatus.Inconclusive && report.IsWaived(i.Id)) ? ChecklistStatus.Skipped : i.Status,
                    Text: report.StatusText(i), i.Evidence, Ms: i.DurationMs)))
                // A mutant is a test case: caught passes, a survivor fails, an unproven one is an error.
                .Concat(report.Proof.Select(p => (Suite: "proof", Name: p.Mutant,
                    Status: p.Outcome switch { "Caught" => ChecklistStatus.Passed, "Survived" => ChecklistStatus.Failed, _ => ChecklistStatus.Inconclusive },
                    Text: p.Outcome, Evidence: System.Collections.Immutable.ImmutableArray.Create($"{p.Control} removed, {p.Item} must fail: {p.Evidence}"), Ms: 0L)))
                .ToList();
            foreach (var suite in cases.GroupBy(c => c.Suite))
            {
                x.WriteStartElement("testsuite");
                x.WriteAttributeString("name", suite.Key);
                x.WriteAttributeString("tests", suite.Count().ToString(CultureInfo.InvariantCulture));
                x.WriteAttributeString("failures", suite.Count(c => c.Status == ChecklistStatus.Failed).ToString(CultureInfo.InvariantCulture));
                x.WriteAttributeString("errors", suite.Count(c => c.Status == ChecklistStatus.Inconclusive).ToString(CultureInfo.InvariantCulture));
                x.WriteAttributeString("skipped", suite.Count(c => c.Status == ChecklistStatus.Skipped).ToString(CultureInfo.InvariantCulture));
                if (!report.Timings.IsEmpty)
                {
                    x.WriteStartElement("properties");
                    foreach (var t in report.Timings)
                    {
                        x.WriteStartElement("property");
                        x.WriteAttributeString("name", $"timing.{t.Phase}");
                        x.WriteAttributeString("value", Seconds(t.Duration.TotalMilliseconds));
                        x.WriteEndElement();
                    }
                    x.WriteEndElement();
                }
                foreach (var c in suite)
                {
                    x.WriteStartElement("testcase");
                    x.WriteAttributeString("classname", $"harness.{suite.Key}");
                    x.WriteAttributeString("name", c.Name);
                    x.WriteAttributeString("time", Seconds(c.Ms));
                    var text = string.Join("\n", c.Evidence.Select(r.Redact));
                    switch (c.Status)
                    {
                        case ChecklistStatus.Failed:
                            x.WriteStartElement("failure");
                            x.WriteAttributeString("message", $"{c.Name} failed");
                            x.WriteString(text);
                            x.WriteEndElement();
                            break;
                        case ChecklistStatus.Inconclusive:
                            x.WriteStartElement("error");
                            x.WriteAttributeString("message", $"{c.Name} is inconclusive: nothing was proven");
                            x.WriteString(text);
                            x.WriteEndElement();
                            break;
                        case ChecklistStatus.Skipped:
                            x.WriteStartElement("skipped");
                            x.WriteAttributeString("message", $"{c.Text}: {text}");
                            x.WriteEndElement();
                            break;
                        default:
                            x.WriteElementString("system-out", text);
                            break;
                    }
                    x.WriteEndElement();
                }
                x.WriteEndElement();
            }
            x.WriteEndElement();
        }
        return sb.ToString() + "\n";
    }

    private sealed class Utf8StringWriter(StringBuilder sb) : StringWriter(sb, CultureInfo.InvariantCulture)
    {
        public override Encoding Encoding => Encoding.UTF8;
    }

    private static string Seconds(double ms) => (ms / 1000).ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>One self-contained HTML page (inline CSS, no external resources).</summary>
    public static string Html(QualificationReport report, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = redactor ?? Redactor.Default;
        string E(string s) => WebUtility.HtmlEncode(r.Redact(s));
        var sb = new StringBuilder();
        sb.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
            """);
        sb.Append(CultureInfo.InvariantCulture, $"<title>Qualification of {E(report.Context.Operator)}</title>");
        sb.Append("""
            <style>
            body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;background:#fff}
            h1{font-size:1.6rem;margin-bottom:.2rem} .meta{color:#59636e}
            .verdict{font-size:1.25rem;font-weight:600;padding:.8rem 1rem;border-radius:.4rem;margin:1rem 0}
            .s-Passed{background:#dafbe1;color:#116329} .s-Failed{background:#ffebe9;color:#a40e26} .s-Inconclusive{background:#fff8c5;color:#7d4e00} .s-Skipped{background:#f6f8fa;color:#59636e} .s-Approximated{background:#fbefff;color:#6e40c9}
            table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #d1d9e0;vertical-align:top}
            .badge{display:inline-block;min-width:7rem;text-align:center;border-radius:1rem;padding:.1rem .6rem;font-weight:600;font-size:.85rem}
            details{margin:.3rem 0} summary{cursor:pointer} code,pre{font:13px ui-monospace,monospace} pre{white-space:pre-wrap;background:#f6f8fa;padding:.6rem;border-radius:.3rem}
            </style></head><body>
            """);
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Qualification of {E(report.Context.Operator)}</h1>");
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">Cluster {E(report.Context.Cluster)} · vehicle {E(report.Context.Vehicle)} · {report.Started:u} · {report.Duration.TotalSeconds:0.0} s · harness {E(report.Context.HarnessVersion)}</p>");
        var verdictClass = report.Outcome switch { QualificationOutcome.Qualified => "Passed", QualificationOutcome.Failed => "Failed", QualificationOutcome.Untested => "Skipped", _ => "Inconclusive" };
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"verdict s-{verdictClass}\" id=\"verdict\">{E(report.Verdict)}</div>");
        if (!report.Waived.IsEmpty)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"waived\">Waived by the user (not tested or not proven, and accepted): {E(string.Join(", ", report.Waived))}</p>");
        }
        sb.Append("<h2>The four checks</h2><table><tr><th>Check</th><th>Status</th><th>Evidence</th></tr>");
        foreach (var m in report.Mission)
        {
            var s = m.Tested ? Of(m.Status) : ChecklistStatus.Skipped;
            sb.Append(CultureInfo.InvariantCulture, $"<tr class=\"check\"><td>{E(m.Check.ToString())}</td><td><span class=\"badge s-{s}\">{E(report.StatusText(m))}</span></td><td><details><summary>{m.Evidence.Length} lines</summary><pre>{string.Join("\n", m.Evidence.Select(E))}</pre></details></td></tr>");
        }
        sb.Append("</table><h2>Hardening checklist</h2><table><tr><th>Item</th><th>Status</th><th>Time</th><th>Evidence and controls</th></tr>");
        foreach (var i in report.Checklist)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr class=\"item\" data-status=\"{i.Status}\"><td>{E(i.Title)}<br><code>{E(i.Id)}</code></td><td><span class=\"badge s-{i.Status}\">{E(report.StatusText(i))}</span></td><td>{i.DurationMs} ms</td>");
            sb.Append(CultureInfo.InvariantCulture, $"<td><details{(i.Status is ChecklistStatus.Failed or ChecklistStatus.Inconclusive ? " open" : "")}><summary>{i.Evidence.Length} evidence, {i.Controls.Length} controls</summary><pre>{string.Join("\n", i.Evidence.Select(E))}</pre>");
            if (!i.Controls.IsEmpty)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<pre>{string.Join("\n", i.Controls.Select(E))}</pre>");
            }
            sb.Append("</details></td></tr>");
        }
        sb.Append("</table>");
        if (!report.Timings.IsEmpty)
        {
            sb.Append("<h2>Timings</h2><table><tr><th>Phase</th><th>Seconds</th></tr>");
            foreach (var t in report.Timings)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr class=\"timing\"><td>{t.Phase}</td><td>{t.Duration.TotalSeconds:0.00}</td></tr>");
            }
            sb.Append("</table>");
        }
        if (!report.Proof.IsEmpty)
        {
            sb.Append("<h2>Proof</h2><table><tr><th>Mutant</th><th>Control removed</th><th>Must fail</th><th>Outcome</th><th>Evidence</th></tr>");
            foreach (var p in report.Proof)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr class=\"mutant\"><td><code>{E(p.Mutant)}</code></td><td>{E(p.Control)}</td><td><code>{E(p.Item)}</code></td><td>{E(p.Outcome)}</td><td>{E(p.Evidence)}</td></tr>");
            }
            sb.Append("</table>");
        }
        if (!report.Notes.IsEmpty)
        {
            sb.Append("<h2>Notes</h2><ul>");
            foreach (var n in report.Notes)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<li>{E(n)}</li>");
            }
            sb.Append("</ul>");
        }
        // Marks the page as rendered (the report test reads the title back from a headless browser).
        sb.Append("<script>document.title = 'rendered: ' + document.querySelectorAll('tr.item').length + ' items, ' + document.querySelectorAll('tr.check').length + ' checks';</script>");
        sb.Append("</body></html>\n");
        return sb.ToString();
    }
}
