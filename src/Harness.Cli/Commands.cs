using Harness.Clusters;
using Harness.Docker;
using Harness.Manifests;
using Harness.PodSecurity;
using Harness.Preflight;
using Harness.Processes;
using Harness.Qualification;
using Harness.Vehicles;
using Harness.Waits;
using System.Collections.Immutable;

namespace Harness.Cli;

/// <summary>Bad command-line input; the message names the option and what to do.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class Commands
{
    public const string Usage = """
        usage: harness <command> [options]

          kind-config [--cni calico|cilium|kindnet] [--node-image IMAGE@sha256:...] [--workers N]
                      [--psa-level restricted|baseline] [--psa-version latest|vX.Y]
                      [--admission-dir DIR] [--write DIR]
              Print (or write into DIR) the kind cluster config and the PodSecurity admission config.

          qualify [--scenario FILE] [--kubeconfig PATH] [--context NAME] [--cluster kind] [--namespace NS]
                  [--deployment NAME | --selector LABELS] [--container NAME] [--manifests PATH[,PATH]]
                  [--local-images IMAGE[,IMAGE]] [--vehicle twin-pod|ephemeral-container|direct-exec|docker]
                  [--probe-image IMAGE] [--cosign-key FILE] [--output DIR] [--waive ITEM[,ITEM]]
              Release qualification against an existing cluster, a fresh kind cluster, or (--vehicle docker) the
              pod spec in a local container (a local approximation, never a cluster verdict). Writes Markdown,
              JSON, JUnit XML and HTML reports into DIR (default artifacts/qualification). Exit 0 every item
              tested and passed, 1 an item failed, 2 inconclusive or infrastructure error, 3 items untested or
              only approximated. --waive accepts named untested or inconclusive items (never a failure); every
              report lists them.

          build-image --binary PATH --image NAME:TAG [--probe-agent DIR]
              Import a NativeAOT program as a scratch image (runtime libraries, CA certificates, non-root user);
              with --probe-agent (artifacts/probe), the probe agent too, for the direct-exec vehicle.

          bench [--runs N]
              Benchmark one batched agent exec against one exec per probe and a by-hand shell script,
              in a hardened local container (needs Docker and `bash eng/build-probe.sh`).

          preflight PATH [--level baseline|restricted] [--version vX.Y|latest] [--format text|json]
                    [--namespace NS]
              Without a cluster: Pod Security, RBAC and NetworkPolicy analysis of a manifest file or folder.
              Exit 0 when everything passes, 1 when something violates, 2 on bad input.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        try
        {
            var options = Options.Parse(args.Skip(1));
            switch (args.FirstOrDefault())
            {
                case "kind-config":
                    return await KindConfigCommand(options, stdout, ct).ConfigureAwait(false);
                case "preflight":
                    return await PreflightCommand(options, stdout).ConfigureAwait(false);
                case "qualify":
                    return await QualifyCommand(options, stdout, ct).ConfigureAwait(false);
                case "build-image":
                    return await BuildImageCommand(options, stdout, ct).ConfigureAwait(false);
                case "bench":
                    options.Only("runs");
                    options.NoPositional();
                    return await Bench.RunAsync(options.Int("runs", 5, min: 5, max: 100), stdout, ct).ConfigureAwait(false);
                case null or "help" or "--help" or "-h":
                    await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
                    return args.Length == 0 ? 2 : 0;
                default:
                    throw new UsageException($"unknown command '{args[0]}'.\n{Usage}");
            }
        }
        catch (Exception ex) when (ex is PrerequisiteException or TargetNotFoundException or ClusterVerificationException or WaitTimeoutException
            or AgentFailedException or CommandFailedException or Deployment.DeploymentException or k8s.Autorest.HttpOperationException)
        {
            var detail = ex is k8s.Autorest.HttpOperationException http ? $"the API server answered {(int)http.Response.StatusCode}: {Kubernetes.KubernetesExec.Status(http)?.Message ?? http.Message}" : ex.Message;
            await stderr.WriteLineAsync($"harness: {detail}").ConfigureAwait(false);
            return 2;
        }
        catch (ManifestException ex)
        {
            await stderr.WriteLineAsync($"harness: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is UsageException or ArgumentException)
        {
            await stderr.WriteLineAsync($"harness: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is DockerUnavailableException or FileNotFoundException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"harness: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("harness: cancelled").ConfigureAwait(false);
            return 2;
        }
    }

    private static async Task<int> QualifyCommand(Options o, TextWriter stdout, CancellationToken ct)
    {
        o.Only("scenario", "kubeconfig", "context", "cluster", "namespace", "deployment", "selector", "container", "manifests", "local-images", "vehicle", "probe-image", "cosign-key", "output", "waive");
        o.NoPositional();
        static ImmutableArray<string> Csv(string? v) => v is null ? [] : [.. v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        var scenario = o.Get("scenario") is { } file
            ? ScenarioParser.Load(file)
            : new QualificationScenario { Path = "(command line)", Name = o.Get("deployment") ?? o.Get("selector") ?? "operator" };
        scenario = scenario with
        {
            Namespace = o.Get("namespace") ?? scenario.Namespace,
            Deployment = o.Get("deployment") ?? scenario.Deployment,
            Selector = o.Get("selector") ?? scenario.Selector,
            Container = o.Get("container") ?? scenario.Container,
            Manifests = o.Get("manifests") is { } m ? [.. Csv(m).Select(Path.GetFullPath)] : scenario.Manifests,
            LocalImages = o.Get("local-images") is { } li ? Csv(li) : scenario.LocalImages,
            Vehicle = o.Get("vehicle") is { } v
                ? VehicleKinds.Parse(v) ?? throw new UsageException($"--vehicle must be {string.Join(", ", VehicleKinds.All)}, got '{v}'")
                : scenario.Vehicle,
            CosignKey = o.Get("cosign-key") is { } key ? Path.GetFullPath(key) : scenario.CosignKey,
            Waive = o.Get("waive") is { } waive ? [.. scenario.Waive.Union(Csv(waive).Select(Options.KnownWaiver))] : scenario.Waive,
        };
        if (scenario.Deployment is null && scenario.Selector is null)
        {
            throw new UsageException("qualify needs the operator: --deployment NAME or --selector LABELS (or a --scenario file)");
        }
        var cluster = o.Get("cluster");
        if (cluster is not (null or "kind"))
        {
            throw new UsageException($"--cluster takes only 'kind' (a fresh kind cluster); for an existing one give --kubeconfig and --context");
        }
        var request = new QualifyRequest
        {
            Scenario = scenario,
            Kubeconfig = o.Get("kubeconfig") ?? Environment.GetEnvironmentVariable("HARNESS_KUBECONFIG"),
            Context = o.Get("context") ?? Environment.GetEnvironmentVariable("HARNESS_CONTEXT"),
            CreateKind = cluster == "kind",
            ProbeImage = o.Get("probe-image") ?? Environment.GetEnvironmentVariable("HARNESS_PROBE_IMAGE"),
        };
        var output = o.Get("output") ?? Path.Combine("artifacts", "qualification");
        using var progress = new StatusWriter(stdout, Interactive());
        var report = await Qualifier.RunAsync(request, progress, ct).ConfigureAwait(false);
        var paths = await ReportWriters.WriteAllAsync(report, output, ct: ct).ConfigureAwait(false);
        await stdout.WriteLineAsync($"reports: {string.Join(", ", paths)}").ConfigureAwait(false);
        await stdout.WriteLineAsync(report.Verdict).ConfigureAwait(false);
        return report.ExitCode;
    }

    /// <summary>Colours only for a person at a terminal; plain text in CI and when redirected.</summary>
    private static bool Interactive() =>
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    private static async Task<int> BuildImageCommand(Options o, TextWriter stdout, CancellationToken ct)
    {
        o.Only("binary", "image", "probe-agent");
        o.NoPositional();
        var binary = o.Get("binary") ?? throw new UsageException("build-image needs --binary PATH (a NativeAOT executable)");
        var image = o.Get("image") ?? throw new UsageException("build-image needs --image NAME:TAG");
        Images.ProbeArtifacts? agent = null;
        if (o.Get("probe-agent") is { } dir)
        {
            agent = new Images.ProbeArtifacts(Path.Combine(dir, "probe-agent"), Path.Combine(dir, "kprobe"));
            if (!File.Exists(agent.AgentPath) || !File.Exists(agent.KernelHelperPath))
            {
                throw new UsageException($"--probe-agent {dir}: no probe-agent and kprobe there; build them with `bash eng/build-probe.sh` (they land in artifacts/probe).");
            }
        }
        await using var docker = await DockerHost.ConnectAsync(ct: ct).ConfigureAwait(false);
        docker.KeepResources = true;
        var built = await Images.ProbeImage.BuildApplicationAsync(docker, binary, image, agent, ct).ConfigureAwait(false);
        await stdout.WriteLineAsync($"built {built} from {binary}").ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> PreflightCommand(Options o, TextWriter stdout)
    {
        o.Only("level", "version", "format", "namespace");
        var path = o.Positional.Count == 1
            ? o.Positional[0]
            : throw new UsageException($"preflight needs exactly one PATH (a manifest file or folder), got {o.Positional.Count}.");
        var level = o.Get("level") switch
        {
            null or "restricted" => PodSecurityLevel.Restricted,
            "baseline" => PodSecurityLevel.Baseline,
            var other => throw new UsageException($"--level must be baseline or restricted, got '{other}'"),
        };
        var version = o.Get("version") is { } v
            ? PolicyVersion.TryParse(v, out var parsed) ? parsed : throw new UsageException($"--version must be latest or v1.MINOR (for example v1.34), got '{v}'")
            : PolicyVersion.Latest;
        var format = o.Get("format") ?? "text";
        if (format is not ("text" or "json"))
        {
            throw new UsageException($"--format must be text or json, got '{format}'");
        }
        var report = PreflightAnalyzer.Run(path, new PreflightOptions { Level = level, Version = version, DefaultNamespace = o.Get("namespace") ?? "default" });
        await stdout.WriteAsync(format == "json" ? PreflightAnalyzer.RenderJson(report) : PreflightAnalyzer.RenderText(report)).ConfigureAwait(false);
        return report.ExitCode;
    }

    private static async Task<int> KindConfigCommand(Options o, TextWriter stdout, CancellationToken ct)
    {
        o.Only("cni", "node-image", "workers", "psa-level", "psa-version", "admission-dir", "write");
        o.NoPositional();
        var defaults = new KindClusterOptions();
        var options = defaults with
        {
            Cni = o.Get("cni") is { } cni
                ? Enum.TryParse<Cni>(cni, ignoreCase: true, out var parsed) ? parsed : throw new UsageException($"--cni must be calico, cilium or kindnet, got '{cni}'")
                : defaults.Cni,
            NodeImage = o.Get("node-image") ?? defaults.NodeImage,
            Workers = o.Int("workers", defaults.Workers, min: 0, max: 10),
            PodSecurityLevel = o.Get("psa-level") is { } level
                ? Enum.TryParse<PodSecurityLevel>(level, ignoreCase: true, out var l) && Enum.IsDefined(l) && !int.TryParse(level, out _) ? l
                    : throw new UsageException($"--psa-level must be restricted, baseline or privileged, got '{level}'")
                : defaults.PodSecurityLevel,
            PodSecurityVersion = o.Get("psa-version") is { } version
                ? PolicyVersion.TryParse(version, out var v) ? v : throw new UsageException($"--psa-version must be latest or v1.MINOR (for example v1.34), got '{version}'")
                : defaults.PodSecurityVersion,
            AdmissionConfigDirectory = o.Get("admission-dir") ?? defaults.AdmissionConfigDirectory,
        };
        var cluster = KindConfig.RenderCluster(options);
        var admission = KindConfig.RenderAdmission(options);
        if (o.Get("write") is { } dir)
        {
            Directory.CreateDirectory(dir);
            var clusterPath = Path.Combine(dir, "kind-config.yaml");
            var admissionPath = Path.Combine(dir, KindConfig.AdmissionFileName);
            await File.WriteAllTextAsync(clusterPath, cluster, ct).ConfigureAwait(false);
            await File.WriteAllTextAsync(admissionPath, admission, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"wrote {clusterPath} and {admissionPath}").ConfigureAwait(false);
            return 0;
        }
        await stdout.WriteLineAsync("# ---- kind-config.yaml ----").ConfigureAwait(false);
        await stdout.WriteAsync(cluster).ConfigureAwait(false);
        await stdout.WriteLineAsync($"# ---- {options.AdmissionConfigDirectory}/{KindConfig.AdmissionFileName} ----").ConfigureAwait(false);
        await stdout.WriteAsync(admission).ConfigureAwait(false);
        return 0;
    }
}

/// <summary><c>--name value</c> options.</summary>
internal sealed class Options
{
    /// <summary>Rejects a waiver that names nothing the checklist has.</summary>
    public static string KnownWaiver(string name) => Qualification.Checklist.Waivable.Contains(name)
        ? name
        : throw new UsageException($"--waive: '{name}' is not a checklist item or mission check; waivable: {string.Join(", ", Qualification.Checklist.Waivable)}.");

    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);

    /// <summary>Arguments that are not options, in order.</summary>
    public List<string> Positional { get; } = [];

    public static Options Parse(IEnumerable<string> args)
    {
        var o = new Options();
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                o.Positional.Add(a);
                continue;
            }
            if (i + 1 >= list.Count || list[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"{a} needs a value");
            }
            o.values[a[2..]] = list[++i];
        }
        return o;
    }

    public string? Get(string name) => values.GetValueOrDefault(name);

    /// <summary>Refuses options the command does not know, and positional arguments unless it takes them.</summary>
    public void Only(params string[] known)
    {
        if (values.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            throw new UsageException($"unknown option --{unknown}; this command takes {string.Join(", ", known.Select(k => "--" + k))}");
        }
    }

    /// <summary>Refuses positional arguments.</summary>
    public void NoPositional()
    {
        if (Positional.Count > 0)
        {
            throw new UsageException($"unexpected argument '{Positional[0]}'");
        }
    }

    public int Int(string name, int fallback, int min, int max)
    {
        if (Get(name) is not { } raw)
        {
            return fallback;
        }
        return int.TryParse(raw, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new UsageException($"--{name} must be a whole number from {min} to {max}, got '{raw}'");
    }
}
