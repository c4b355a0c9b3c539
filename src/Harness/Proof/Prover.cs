using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Harness.Clusters;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Probes;
using Harness.Qualification;
using Harness.Runs;
using Harness.Vehicles;

namespace Harness.Proof;

/// <summary>What became of one mutant.</summary>
/// <param name="Mutant">The mutant.</param>
/// <param name="Outcome">Caught (its item failed), Survived (it did not), or Unproven (the original fails that item or is inconclusive on it, so nothing can be shown).</param>
/// <param name="Evidence">The item's status and the line that shows it.</param>
public sealed record MutantVerdict(Mutant Mutant, MutantOutcome Outcome, string Evidence);

/// <summary>A mutant's fate.</summary>
public enum MutantOutcome
{
    /// <summary>The check that must catch it failed it.</summary>
    Caught,

    /// <summary>The check passed it anyway: the harness cannot see this control on this operator with this configuration.</summary>
    Survived,

    /// <summary>The unmutated operator does not pass that check, so the mutant proves nothing.</summary>
    Unproven,
}

/// <summary>The kill matrix of one operator (issue #28).</summary>
/// <param name="Operator">Which operator and vehicle.</param>
/// <param name="Original">The unmutated operator's qualification.</param>
/// <param name="Verdicts">One per mutant.</param>
/// <param name="Set">The derivation: absent and unobservable controls.</param>
/// <param name="Wall">Wall time of the whole proof.</param>
/// <param name="Parallel">How many runs went at once.</param>
public sealed record ProofReport(string Operator, QualificationReport Original, ImmutableArray<MutantVerdict> Verdicts, MutantSet Set, TimeSpan Wall, int Parallel)
{
    /// <inheritdoc/>
    public override string ToString() => $"proof of {Operator}: {Verdicts.Count(v => v.Outcome == MutantOutcome.Caught)} of {Verdicts.Length} mutants caught";

    /// <summary>0 when every mutant was caught; 1 when one survived or is unproven, or when there was none.</summary>
    public int ExitCode => !Verdicts.IsEmpty && Verdicts.All(v => v.Outcome == MutantOutcome.Caught) ? 0 : 1;

    /// <summary>The verdict on the mutant that removes the control <paramref name="item"/> guards; null when no mutant does (<see cref="WhyNoMutant"/>).</summary>
    public MutantVerdict? For(HardeningItem item) => Verdicts.FirstOrDefault(v => v.Mutant.Item == item);

    /// <summary>Why no mutant removes the control <paramref name="item"/> guards (the operator does not have it, or it was not run, and why); null when one does.</summary>
    public string? WhyNoMutant(HardeningItem item)
    {
        if (For(item) is not null)
        {
            return null;
        }
        var tag = $"({item.Id()})";
        return Set.Absent.FirstOrDefault(a => a.Contains(tag, StringComparison.Ordinal)) is { } absent
            ? $"the operator does not have {absent}: the checklist fails it already"
            : Set.NotObservable.FirstOrDefault(n => n.Contains(tag, StringComparison.Ordinal)) is { } blind
                ? $"not run: {blind}"
                : $"no mutant removes a control {item.Id()} guards";
    }

    /// <summary>The kill matrix as text, one mutant a line, then what could not be proven and what to change.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        var caught = Verdicts.Count(v => v.Outcome == MutantOutcome.Caught);
        text.Append(CultureInfo.InvariantCulture, $"proof of {Operator}: {Verdicts.Length} mutants, {caught} caught, {Verdicts.Length - caught} not, in {Wall.TotalSeconds:0.0} s ({Parallel} at a time)\n");
        foreach (var v in Verdicts)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {v.Outcome.ToString().ToUpperInvariant(),-9} {v.Mutant.Id,-30} {v.Mutant.Control} removed -> {v.Mutant.Item.Id()}: {v.Evidence}\n");
        }
        foreach (var a in Set.Absent)
        {
            text.Append(CultureInfo.InvariantCulture, $"  ABSENT    {a}: the operator does not have it (no mutant; the checklist already says so)\n");
        }
        foreach (var b in Set.NotObservable)
        {
            text.Append(CultureInfo.InvariantCulture, $"  NOT RUN   {b}\n");
        }
        if (Verdicts.IsEmpty)
        {
            text.Append("NOT PROVEN: no mutant was run, so nothing shows that a check could fail this operator.\n");
        }
        else if (Verdicts.FirstOrDefault(v => v.Outcome != MutantOutcome.Caught) is { } first)
        {
            text.Append(CultureInfo.InvariantCulture, $"NOT PROVEN: {first.Mutant.Id} was not caught. A survivor means a check cannot observe that control on this operator as configured: ")
                .Append("check the probe options the evidence names (probes.writableDirectory, probes.readOnlyPaths, probes.imageUser) or use a cluster vehicle.\n");
        }
        else
        {
            text.Append("PROVEN: every control the operator has, removed one at a time, failed the check that guards it.\n");
        }
        return text.ToString();
    }
}

/// <summary>
/// Runs the unmutated operator and each mutant through the pipeline and vehicle the scenario chose, several at once,
/// each isolated as any run is, and builds the kill matrix (issue #28).
/// </summary>
public static class Prover
{
    /// <summary>
    /// Proves the checks can fail on the scenario's operator, through the vehicle it names: the docker vehicle, or a
    /// cluster the request names (connected and verified once; every run shares it, each in namespaces of its own).
    /// </summary>
    /// <param name="request">The qualification as the user would run it (docker vehicle, or an existing cluster).</param>
    /// <param name="parallel">How many runs at once.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ArgumentException">The scenario has no manifests, or asks for a kind cluster per run.</exception>
    public static async Task<ProofReport> ProveAsync(QualifyRequest request, int parallel, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        var scenario = request.Scenario;
        if (request.CreateKind)
        {
            throw new ArgumentException("harness prove runs every mutant on one cluster: give --kubeconfig (an existing cluster) or use the docker vehicle, not --cluster kind.");
        }
        var derived = await DeriveAsync(scenario).ConfigureAwait(false);
        if (!scenario.Vehicle.OnCluster())
        {
            return await ProveCoreAsync(scenario, derived, parallel, log,
                (s, t) => Qualifier.RunAsync(request with { Scenario = s }, TextWriter.Null, t), ct).ConfigureAwait(false);
        }
        // One cluster for every run: one connection, one verification, one egress vantage. The credential is checked
        // for what every mutant applies too (the Secrets reader's Role needs a holder of that right to create it).
        var session = new RunSession(log, ct: ct);
        await using var cluster = await Qualifier.ConnectAsync(request, session, [.. derived.Set.Mutants.SelectMany(m => m.Manifests).Distinct()]).ConfigureAwait(false);
        try
        {
            return await ProveCoreAsync(scenario, derived, parallel, log, OnCluster(cluster), ct).ConfigureAwait(false);
        }
        catch
        {
            cluster.MarkFailed();
            throw;
        }
    }

    /// <summary>
    /// Proves the checks can fail on the scenario's operator on a cluster the caller holds (the xUnit cluster fixture's):
    /// every run on it, each in namespaces of its own, sharing its verification and egress vantage.
    /// </summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="scenario">The scenario: its operator is deployed from its manifests.</param>
    /// <param name="parallel">How many runs at once.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ArgumentException">The scenario has no manifests or names the docker vehicle.</exception>
    public static async Task<ProofReport> ProveOnClusterAsync(HarnessCluster cluster, QualificationScenario scenario, int parallel, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(log);
        if (!scenario.Vehicle.OnCluster())
        {
            throw new ArgumentException($"scenario {scenario.Name} names the docker vehicle: prove it with ProveAsync (no cluster), or name a cluster vehicle (twin-pod, ephemeral, exec).");
        }
        return await ProveCoreAsync(scenario, await DeriveAsync(scenario).ConfigureAwait(false), parallel, log, OnCluster(cluster), ct).ConfigureAwait(false);
    }

    private static Func<QualificationScenario, CancellationToken, Task<QualificationReport>> OnCluster(HarnessCluster cluster) =>
        (s, t) => Qualifier.QualifyOnClusterAsync(cluster, new QualifyRequest { Scenario = s }, new RunSession(TextWriter.Null, ct: t));

    // The scenario's manifests, its workload, and the mutants its vehicle can observe: derived once per proof.
    private static async Task<(List<ManifestDocument> Documents, ManifestDocument Workload, MutantSet Set)> DeriveAsync(QualificationScenario scenario)
    {
        if (scenario.Manifests.IsEmpty || scenario.Deployment is null)
        {
            throw new ArgumentException("harness prove mutates the operator's manifests: the scenario needs operator.manifests and operator.deployment.");
        }
        var (documents, _) = await OperatorDeployment.LoadManifestsAsync(scenario.Manifests, scenario.Helm, TextWriter.Null).ConfigureAwait(false);
        var workload = documents.FirstOrDefault(d => d.Name == scenario.Deployment && d.Kind is "Deployment" or "StatefulSet" or "DaemonSet")
            ?? throw new TargetNotFoundException($"no workload named \"{scenario.Deployment}\" in {string.Join(", ", scenario.Manifests)}.");
        var container = scenario.Container ?? TargetDiscovery.FromWorkload(workload.Object!).Container;
        return (documents, workload, Mutants.Derive(documents, workload.Ref, container, scenario.Vehicle.OnCluster()));
    }

    private static async Task<ProofReport> ProveCoreAsync(QualificationScenario scenario, (List<ManifestDocument> Documents, ManifestDocument Workload, MutantSet Set) derived, int parallel,
        TextWriter log, Func<QualificationScenario, CancellationToken, Task<QualificationReport>> qualify, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parallel, 1);
        var watch = Stopwatch.StartNew();
        var (documents, workload, set) = derived;
        await log.WriteLineAsync($"prove: {set.Mutants.Length} mutants of {workload.DisplayName} ({string.Join(", ", set.Mutants.Select(m => m.Id))}), {parallel} at a time").ConfigureAwait(false);

        var work = Directory.CreateTempSubdirectory("harness-prove-");
        try
        {
            using var gate = new SemaphoreSlim(parallel);
            async Task<QualificationReport> Run(string name, IEnumerable<ManifestDocument> manifests)
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    var dir = Directory.CreateDirectory(Path.Combine(work.FullName, name));
                    await File.WriteAllTextAsync(Path.Combine(dir.FullName, "manifests.yaml"), Mutants.ToYaml(manifests), ct).ConfigureAwait(false);
                    // Rendered already (kustomize, chart, bundle): the mutant is plain YAML; on a cluster each run gets namespaces of its own.
                    var report = await qualify(scenario with
                    {
                        Name = $"{scenario.Name} ({name})", Manifests = [dir.FullName], Helm = HelmOptions.Default, Namespace = scenario.Vehicle.OnCluster() ? null : scenario.Namespace,
                    }, ct).ConfigureAwait(false);
                    await log.WriteLineAsync($"prove: {name} done").ConfigureAwait(false);
                    return report;
                }
                finally
                {
                    gate.Release();
                }
            }

            var original = Run("original", documents);
            var runs = set.Mutants.Select(m => (Mutant: m, Report: Run(m.Id, m.Manifests))).ToList();
            // Every run settles before anything is judged or the scratch folder removed: a run that failed must not leave
            // the others writing into a folder being deleted, nor unobserved.
            await Task.WhenAll(runs.Select(r => (Task)r.Report).Prepend(original))
                .ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            var originalReport = await original.ConfigureAwait(false);
            var verdicts = ImmutableArray.CreateBuilder<MutantVerdict>();
            foreach (var (mutant, report) in runs)
            {
                verdicts.Add(report.IsCompletedSuccessfully
                    ? Judge(mutant, originalReport, report.Result)
                    : new MutantVerdict(mutant, MutantOutcome.Unproven, $"its run did not end in a verdict: {report.Exception?.InnerException?.Message ?? "cancelled"}"));
            }
            ct.ThrowIfCancellationRequested();
            var lines = verdicts.Select(v => new ProofLine(v.Mutant.Id, v.Mutant.Control, v.Mutant.Item.Id(), v.Outcome.ToString(), v.Evidence));
            return new ProofReport($"{workload.DisplayName} ({scenario.Vehicle.Name()} vehicle)", originalReport with { Proof = [.. lines] }, verdicts.ToImmutable(), set, watch.Elapsed, parallel);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>A mutant's fate from the original's and its own checklist. Pure.</summary>
    internal static MutantVerdict Judge(Mutant mutant, QualificationReport original, QualificationReport mutated)
    {
        var id = mutant.Item.Id();
        var before = original.Checklist.Single(i => i.Id == id);
        var after = mutated.Checklist.Single(i => i.Id == id);
        static string Line(ChecklistItem item) => $"{item.Status.ToString().ToUpperInvariant()} ({item.Evidence.FirstOrDefault(e => e.Contains("Failed", StringComparison.Ordinal) || e.Contains("the manifests:", StringComparison.Ordinal) || e.Contains("on the cluster:", StringComparison.Ordinal)) ?? item.Evidence.FirstOrDefault() ?? "no evidence"})";
        if (before.Status is ChecklistStatus.Failed or ChecklistStatus.Inconclusive)
        {
            // A check the unmutated operator does not pass cannot show that it catches the mutant.
            return new MutantVerdict(mutant, MutantOutcome.Unproven, $"the original is {Line(before)}: fix that first");
        }
        return after.Status == ChecklistStatus.Failed
            ? new MutantVerdict(mutant, MutantOutcome.Caught, Line(after))
            : new MutantVerdict(mutant, MutantOutcome.Survived, Line(after));
    }
}
