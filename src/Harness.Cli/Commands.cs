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
using System.CommandLine;
using System.CommandLine.Invocation;

namespace Harness.Cli;

/// <summary>Bad command-line input; the message names the option and what to do.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The <c>harness</c> command line, on System.CommandLine: per-command <c>--help</c>, typo suggestions, <c>--version</c>,
/// completions through the <c>[suggest]</c> directive (<c>harness completion bash</c> prints the shell glue). Exit codes:
/// 0 success, 1 a check failed, 2 bad input or an infrastructure error (the reason is printed, naming the option), 3
/// items untested (<c>qualify</c>).
/// </summary>
internal static class Commands
{
    private static readonly string[] Levels = ["baseline", "restricted"];

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (args is [SecondReader.Command, ..])
        {
            return SecondReader.Run(args, stdout);
        }
        if (Native.HandsOn(args))
        {
            return Native.HandOn(args, stderr);
        }
        SecondReader.Install();
        var root = Build(stdout);
        var parsed = root.Parse(args);
        // The program handles SIGINT and SIGTERM itself (Program.cs): the run is cancelled, tears down, and exits 130/143.
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        if (args.Length == 0)
        {
            await root.Parse(["--help"]).InvokeAsync(config, ct).ConfigureAwait(false);
            return 2;
        }
        if (parsed.Errors.Count > 0)
        {
            // The library's own error text and typo suggestions, prefixed like every other harness error.
            using var captured = new StringWriter();
            if (parsed.Action is ParseErrorAction errors)
            {
                errors.ShowHelp = false;
            }
            await parsed.InvokeAsync(new InvocationConfiguration { Output = captured, Error = captured }, ct).ConfigureAwait(false);
            var command = parsed.CommandResult.Command == root ? "" : " " + parsed.CommandResult.Command.Name;
            await stderr.WriteAsync($"harness: {captured.ToString().TrimEnd()}{Environment.NewLine}see `harness{command} --help`{Environment.NewLine}").ConfigureAwait(false);
            return 2;
        }
        try
        {
            return await parsed.InvokeAsync(config, ct).ConfigureAwait(false);
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // Whatever a cancelled run threw on its way out (a cancelled request, an aborted exec): the program says why it stopped, in one line.
            return 2;
        }
        catch (Exception ex) when (ex is PrerequisiteException or TargetNotFoundException or ClusterVerificationException or WaitTimeoutException
            or AgentFailedException or VehicleException or CommandFailedException or Deployment.DeploymentException or k8s.Autorest.HttpOperationException)
        {
            var detail = ex is k8s.Autorest.HttpOperationException http ? $"the API server answered {(int)http.Response.StatusCode}: {Kubernetes.KubernetesExec.Status(http)?.Message ?? http.Message}" : ex.Message;
            await stderr.WriteLineAsync($"harness: {detail}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is ManifestException or UsageException or ArgumentException or DockerUnavailableException or FileNotFoundException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"harness: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
    }

    /// <summary>The command tree.</summary>
    public static RootCommand Build(TextWriter stdout)
    {
        var root = new RootCommand("Negative-testing harness for Kubernetes operators: proves the operator cannot reach the internet, write its root filesystem, escalate privileges or read Secrets, each verdict with its mechanism and a positive control.");
        root.Subcommands.Add(PreflightCommand(stdout));
        root.Subcommands.Add(RightsCommand(stdout));
        if (Native.Live)
        {
            root.Subcommands.Add(QualifyCommand(stdout));
            root.Subcommands.Add(ProveCommand(stdout));
            root.Subcommands.Add(SweepCommand(stdout));
            root.Subcommands.Add(KindConfigCommand(stdout));
            root.Subcommands.Add(BuildImageCommand(stdout));
        }
        else
        {
            // The native build lists them (help, completions); running one hands the process to the managed harness.
            foreach (var (name, description) in Native.Handed)
            {
                root.Subcommands.Add(new Command(name, description));
            }
        }
        root.Subcommands.Add(BenchCommand(stdout));
        root.Subcommands.Add(CompletionCommand(stdout));
        return root;
    }

    private static Option<string?> Text(string name, string description, string? helpName = null, params string[] completions)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = helpName };
        if (completions.Length > 0)
        {
            option.CompletionSources.Add(completions);
        }
        return option;
    }

    /// <summary>An option whose value must be one of <paramref name="allowed"/>; the error names the option.</summary>
    private static Option<string?> OneOf(string name, string description, params string[] allowed)
    {
        var option = Text(name, description, string.Join('|', allowed), allowed);
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } v && !allowed.Contains(v))
            {
                r.AddError($"{name} must be {Join(allowed)}, got '{v}'");
            }
        });
        return option;
    }

    private static string Join(IReadOnlyList<string> words) => words.Count == 1 ? words[0] : $"{string.Join(", ", words.Take(words.Count - 1))} or {words[^1]}";

    private static Option<int> Number(string name, string description, int fallback, int min, int max)
    {
        var option = new Option<int>(name) { Description = $"{description} ({min}-{max}, default {fallback})", DefaultValueFactory = _ => fallback, HelpName = "N" };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is var v && (v < min || v > max))
            {
                r.AddError($"{name} must be a whole number from {min} to {max}, got '{v}'");
            }
        });
        return option;
    }

    private static PolicyVersion Version(string? raw, string option) =>
        raw is null ? PolicyVersion.Latest
        : PolicyVersion.TryParse(raw, out var parsed) ? parsed
        : throw new UsageException($"{option} must be latest or v1.MINOR (for example v1.34), got '{raw}'");

    private static Command PreflightCommand(TextWriter stdout)
    {
        var path = new Argument<string>("PATH") { Description = "A manifest file or folder: multi-document YAML, a kustomize tree (rendered with kubectl kustomize), a Helm chart (rendered with helm template) or an OLM bundle." };
        var level = OneOf("--level", "The Pod Security level to hold the pods to (default restricted).", Levels);
        var version = Text("--version", "The Pod Security version: latest or v1.MINOR (default latest).", "latest|v1.MINOR", "latest");
        var format = OneOf("--format", "Output format (default text); sarif is SARIF 2.1.0 for code scanning.", "text", "json", "sarif");
        var ns = Text("--namespace", "Namespace for objects that name none (as kubectl apply -n); an OLM bundle's install namespace.", "NS");
        var olmMode = OneOf("--olm-install-mode", "An OLM bundle's install mode (default: the widest its ClusterServiceVersion supports; AllNamespaces makes its permissions cluster-wide).", [.. Harness.Manifests.OlmInstall.Modes]);
        var (release, values, set) = HelmFlags();
        var command = new Command("preflight", "Without a cluster: Pod Security, RBAC, NetworkPolicy and image analysis of manifests. Exit 0 when everything passes, 1 when something violates, 2 on bad input.")
        {
            path, level, version, format, ns, olmMode, release, values, set,
        };
        command.SetAction(async (r, ct) =>
        {
            var options = new PreflightOptions
            {
                Level = r.GetValue(level) == "baseline" ? PodSecurityLevel.Baseline : PodSecurityLevel.Restricted,
                Version = Version(r.GetValue(version), "--version"),
                DefaultNamespace = r.GetValue(ns),
                OlmInstallMode = r.GetValue(olmMode),
                Helm = Helm(r, release, values, set, HelmOptions.Default),
            };
            var report = PreflightAnalyzer.Run(r.GetValue(path)!, options);
            await stdout.WriteAsync(Render(report, r.GetValue(format))).ConfigureAwait(false);
            return report.ExitCode;
        });
        return command;
    }

    /// <summary>A pre-flight-shaped report in the chosen format (text, json, sarif).</summary>
    private static string Render(PreflightReport report, string? format) => format switch
    {
        "json" => PreflightAnalyzer.RenderJson(report),
        "sarif" => Sarif.Render(report, Qualifier.Version),
        _ => PreflightAnalyzer.RenderText(report),
    };

    private static Command RightsCommand(TextWriter stdout)
    {
        PreflightOptions Options(ParseResult r, Option<string?> ns, (Option<string?> Release, Option<string?> Values, Option<string?> Set) helm) =>
            new() { DefaultNamespace = r.GetValue(ns), Helm = Helm(r, helm.Release, helm.Values, helm.Set, HelmOptions.Default) };

        var lockPath = new Argument<string>("PATH") { Description = "The operator's manifests (file or folder, kustomize tree, chart or bundle)." };
        var lockNs = Text("--namespace", "Namespace for objects that name none (as kubectl apply -n).", "NS");
        var name = Text("--name", "The rights object's metadata.name (default: the folder's name).", "NAME");
        var lockHelm = HelmFlags();
        var lockCommand = new Command("lock", "Print the effective RBAC rights of every ServiceAccount the manifests' workloads run as, as an OperatorRights object (harness.dev/v1alpha1): `harness rights lock DIR > rights.yaml`.")
        {
            lockPath, lockNs, name, lockHelm.Release, lockHelm.Values, lockHelm.Set,
        };
        lockCommand.SetAction(async (r, ct) =>
        {
            var path = r.GetValue(lockPath)!;
            var (model, accounts) = Harness.Rbac.DeclaredRights.Read(path, Options(r, lockNs, lockHelm));
            var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
            var objectName = r.GetValue(name) ?? (Path.GetFileNameWithoutExtension(full) is { Length: > 0 } n ? n.ToLowerInvariant() : "operator");
            await stdout.WriteAsync(Harness.Rbac.DeclaredRights.Lock(model, accounts, objectName)).ConfigureAwait(false);
            return 0;
        });

        var checkPath = new Argument<string?>("PATH") { Description = "The operator's manifests (file or folder, kustomize tree, chart or bundle); optional with --kubeconfig.", Arity = ArgumentArity.ZeroOrOne };
        var rights = new Option<string?>("--rights") { Description = "The rights file (`harness rights lock` writes one).", HelpName = "FILE" };
        var rightsObject = Text("--object", "Check the OperatorRights object of this name on the cluster instead of a file (what `harness rights install` puts there); in a pod, the pod's own account is used.", "NAME");
        var writeStatus = new Option<bool>("--write-status") { Description = "With --object: write the result into the object's status (Compliant condition, excess, lastChecked)." };
        var checkNs = Text("--namespace", "Namespace for objects that name none (as kubectl apply -n).", "NS");
        var format = OneOf("--format", "Output format (default text); sarif is SARIF 2.1.0 for code scanning.", "text", "json", "sarif");
        var kubeconfig = Text("--kubeconfig", "Check on a cluster instead: its own Roles, ClusterRoles and bindings, each excess confirmed by a SubjectAccessReview.", "PATH");
        var context = Text("--context", "With --kubeconfig: the context (default the current one).", "NAME");
        var checkHelm = HelmFlags();
        var checkCommand = new Command("check", "Compare what the manifests (or, with --kubeconfig, the cluster) grant with the rights file: RIGHTS-EXCESS (error) for each right granted and not declared, at the rule that grants it; RIGHTS-UNUSED (warning) for each declared right no longer granted. Exit 0 no excess, 1 excess, 2 bad input.")
        {
            checkPath, rights, rightsObject, writeStatus, checkNs, format, kubeconfig, context, checkHelm.Release, checkHelm.Values, checkHelm.Set,
        };
        checkCommand.SetAction(async (r, ct) =>
        {
            var path = r.GetValue(checkPath);
            var options = Options(r, checkNs, checkHelm);
            var (file, named) = (r.GetValue(rights), r.GetValue(rightsObject));
            if ((file is null) == (named is null))
            {
                throw new UsageException("rights check needs exactly one of --rights FILE and --object NAME");
            }
            if (r.GetValue(writeStatus) && named is null)
            {
                throw new UsageException("--write-status writes into an OperatorRights object: give --object NAME");
            }
            PreflightReport report;
            if (Native.Live && (r.GetValue(kubeconfig) is not null || named is not null))
            {
                using var client = await RightsClientAsync(r.GetValue(kubeconfig), r.GetValue(context), ct).ConfigureAwait(false);
                var declared = named is null ? Harness.Rbac.DeclaredRights.Load(file!) : await Harness.Rbac.LiveRights.ReadObjectAsync(client, named, ct).ConfigureAwait(false);
                var accounts = path is null ? [] : Harness.Rbac.DeclaredRights.Read(path, options).Accounts;
                var findings = await Harness.Rbac.LiveRights.CheckAsync(client, declared, accounts, ct).ConfigureAwait(false);
                report = Harness.Rbac.DeclaredRights.Report(declared, declared.Accounts.Select(a => a.Account).Concat(accounts).Distinct(), findings, options, $" on the cluster ({r.GetValue(context) ?? "current context"})");
                if (r.GetValue(writeStatus))
                {
                    await Harness.Rbac.LiveRights.WriteStatusAsync(client, named!, findings, ct: ct).ConfigureAwait(false);
                }
            }
            else
            {
                report = Harness.Rbac.DeclaredRights.CheckPath(file!, path ?? throw new UsageException("rights check needs PATH (the operator's manifests), or --kubeconfig to check a cluster"), options);
            }
            await stdout.WriteAsync(Render(report, r.GetValue(format))).ConfigureAwait(false);
            return report.ExitCode;
        });

        var installRights = new Option<string>("--rights") { Description = "The rights file to install (`harness rights lock` writes one).", Required = true, HelpName = "FILE" };
        var installNs = Text("--namespace", "The checker's namespace (created, PodSecurity restricted); default harness-rights.", "NS");
        var schedule = Text("--schedule", "The CronJob's schedule; default every 30 minutes (\"*/30 * * * *\").", "CRON");
        var apiServer = Text("--api-server", "The API server's addresses as CIDRs (`kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`, and the kubernetes Service's IP): the checker's only egress besides DNS.", "CIDR[,CIDR]");
        var image = Text("--image", $"The harness CLI image the CronJob runs; default {Harness.Rbac.RightsInstall.DefaultImage} (`bash eng/build-cli-image.sh` builds it). Pin it by digest.", "IMAGE");
        var installCommand = new Command("install", "Print manifests that keep checking the rights on the cluster: the OperatorRights CRD, the object itself, and a CronJob (PodSecurity restricted, read-only on RBAC) that writes the result into its status. `harness rights install --rights rights.yaml | kubectl apply -f -`, then `kubectl get operatorrights`.")
        {
            installRights, installNs, schedule, apiServer, image,
        };
        installCommand.SetAction(async (r, ct) =>
        {
            var file = r.GetValue(installRights)!;
            string text;
            try
            {
                text = await File.ReadAllTextAsync(file, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new UsageException($"--rights {file}: no such file (`harness rights lock DIR > {file}` writes one)");
            }
            var cidrs = (r.GetValue(apiServer) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (cidrs.Length == 0)
            {
                throw new UsageException("rights install needs --api-server CIDR[,CIDR]: the checker may reach only DNS and the API server (`kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes` and `kubectl get svc kubernetes -n default` list its addresses)");
            }
            if (cidrs.FirstOrDefault(c => !Harness.NetworkPolicies.AddressRanges.TryParse(c.Contains('/', StringComparison.Ordinal) ? c : c + (c.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out _)) is { } bad)
            {
                throw new UsageException($"--api-server: '{bad}' is not an address or CIDR (such as 172.18.0.2/32)");
            }
            var defaults = new Harness.Rbac.RightsInstallOptions();
            await stdout.WriteAsync(Harness.Rbac.RightsInstall.Render(text, file, defaults with
            {
                Namespace = r.GetValue(installNs) ?? defaults.Namespace,
                Schedule = r.GetValue(schedule) ?? defaults.Schedule,
                Image = r.GetValue(image) ?? defaults.Image,
                ApiServerCidrs = [.. cidrs.Select(c => c.Contains('/', StringComparison.Ordinal) ? c : c + (c.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"))],
            })).ConfigureAwait(false);
            return 0;
        });
        var mode = OneOf("--mode", "What the harness will do on the cluster: deploy (from manifests), find (an operator already running), verification, payload, webhook-tls.", [.. Enum.GetValues<Harness.Rbac.HarnessMode>().Select(Harness.Rbac.SelfRights.Name)]);
        mode.Required = true;
        var selfNs = Text("--namespace", "The operator's namespace (find, webhook-tls), or the run's fixed namespace (deploy); without it a deploy's namespace is generated and its rights are cluster-wide.", "NS");
        var selfManifests = Text("--manifests", "The operator's manifests (deploy: the kinds it applies and the roles it must hold to grant them; payload: its CRDs).", "PATH");
        var subject = Text("--subject", "Who the harness runs as: User:NAME, Group:NAME or ServiceAccount:NS/NAME (default ServiceAccount:harness/harness).", "SUBJECT");
        var selfFormat = OneOf("--format", "rbac (default): Role/ClusterRole manifests and their bindings; rights: an OperatorRights object (for a ServiceAccount subject).", "rbac", "rights");
        var selfCommand = new Command("self", "Print the rights the harness itself needs in a mode, ready to apply: `harness rights self --mode find --namespace team-a --subject ServiceAccount:team-a/releaser | kubectl apply -f -`. qualify checks them before it creates anything on a cluster it did not create.")
        {
            mode, selfNs, selfManifests, subject, selfFormat,
        };
        selfCommand.SetAction(async (r, ct) =>
        {
            var which = Harness.Rbac.SelfRights.Parse(r.GetValue(mode))!.Value;
            var ns = r.GetValue(selfNs);
            if (which is Harness.Rbac.HarnessMode.Find && ns is null)
            {
                throw new UsageException("--mode find needs --namespace: the namespace the operator runs in");
            }
            var manifests = r.GetValue(selfManifests) is { } m ? (await Harness.Deployment.OperatorDeployment.LoadManifestsAsync([m], HelmOptions.Default, TextWriter.Null).ConfigureAwait(false)).Documents : [];
            if (which is Harness.Rbac.HarnessMode.Deploy or Harness.Rbac.HarnessMode.Payload && manifests.Count == 0)
            {
                throw new UsageException($"--mode {r.GetValue(mode)} needs --manifests PATH: the rights depend on what the manifests hold");
            }
            var rights = Harness.Rbac.SelfRights.For(which, ns, manifests);
            var who = r.GetValue(subject) ?? "ServiceAccount:harness/harness";
            await stdout.WriteAsync(r.GetValue(selfFormat) == "rights" ? Harness.Rbac.SelfRights.RenderRights(which, rights, who) : Harness.Rbac.SelfRights.RenderRbac(which, rights, who)).ConfigureAwait(false);
            return 0;
        });
        return new Command("rights", "Declared rights: lock the operator's effective RBAC into a reviewed file, check the manifests or a cluster against it, install a check that keeps running on the cluster, and print the harness's own rights.")
        {
            lockCommand, checkCommand, installCommand, selfCommand,
        };
    }

    /// <summary>A client for the rights check: the kubeconfig given; in a pod without one, the pod's own account; else the default kubeconfig.</summary>
    private static async Task<k8s.IKubernetes> RightsClientAsync(string? kubeconfig, string? context, CancellationToken ct)
    {
        if (kubeconfig is null && k8s.KubernetesClientConfiguration.IsInCluster())
        {
            return new k8s.Kubernetes(k8s.KubernetesClientConfiguration.InClusterConfig(), new Harness.Kubernetes.TransientRetryHandler(Console.Error));
        }
        return await HarnessCluster.ConnectAsync(kubeconfig ?? ClusterOptions.ForExisting(null, context).ResolveKubeconfig(), context, ct).ConfigureAwait(false);
    }

    /// <summary>The image flags qualify and prove share, for an existing cluster.</summary>
    private static (Option<string?> ProbeImage, Option<string?> ImageLoader) ImageFlags() =>
    (
        Text("--probe-image", "Existing cluster: the probe image as the cluster can pull it (default HARNESS_PROBE_IMAGE).", "IMAGE"),
        Text("--image-loader", "Existing cluster: a command run as `COMMAND IMAGE` that puts a local image on its nodes, where kind would run `kind load` (default HARNESS_IMAGE_LOADER); the probe image is then built here and loaded.", "COMMAND")
    );

    /// <summary>A qualify or prove request: the cluster from the flags, else from the environment the xUnit fixtures read too.</summary>
    private static QualifyRequest Request(QualificationScenario scenario, ParseResult r, Option<string?> kubeconfig, Option<string?> context, Option<string?> probeImage, Option<string?> imageLoader)
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name);
        return new()
        {
            Scenario = scenario,
            Kubeconfig = r.GetValue(kubeconfig) ?? Env("HARNESS_KUBECONFIG"),
            Context = r.GetValue(context) ?? Env("HARNESS_CONTEXT"),
            ProbeImage = r.GetValue(probeImage) ?? Env("HARNESS_PROBE_IMAGE"),
            ImageLoader = r.GetValue(imageLoader) ?? Env("HARNESS_IMAGE_LOADER"),
            DockerNetwork = Env("HARNESS_DOCKER_NETWORK") is { Length: > 0 } network ? network : null,
        };
    }

    /// <summary>The chart flags preflight and qualify share.</summary>
    private static (Option<string?> Release, Option<string?> Values, Option<string?> Set) HelmFlags() =>
    (
        Text("--helm-release", "A Helm chart among the inputs: its release name (default harness).", "NAME"),
        Text("--helm-values", "A Helm chart among the inputs: values files, comma-separated, in order (helm template --values).", "FILE[,FILE]"),
        Text("--helm-set", "A Helm chart among the inputs: values to set, comma-separated (helm template --set).", "KEY=VALUE[,KEY=VALUE]")
    );

    private static HelmOptions Helm(ParseResult r, Option<string?> release, Option<string?> values, Option<string?> set, HelmOptions given)
    {
        static ImmutableArray<string> Csv(string? v) => v is null ? [] : [.. v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        return given with
        {
            ReleaseName = r.GetValue(release) ?? given.ReleaseName,
            ValuesFiles = r.GetValue(values) is { } v ? [.. Csv(v).Select(Path.GetFullPath)] : given.ValuesFiles,
            Set = r.GetValue(set) is { } s ? Csv(s) : given.Set,
        };
    }

    private static Command ProveCommand(TextWriter stdout)
    {
        var scenarioFile = new Option<string>("--scenario") { Description = "The scenario (operator.manifests and operator.deployment; the docker vehicle, or a cluster with --kubeconfig).", Required = true, HelpName = "FILE" };
        var kubeconfig = Text("--kubeconfig", "An existing cluster to run every mutant on (default: the scenario's vehicle; the docker vehicle needs none).", "PATH");
        var context = Text("--context", "With --kubeconfig: the context.", "NAME");
        var (probeImage, imageLoader) = ImageFlags();
        var parallel = Number("--parallel", "Runs at once", 3, 1, 16);
        var output = Text("--output", "Where the original's reports go, with the kill matrix as their proof section (default artifacts/proof).", "DIR");
        var command = new Command("prove", "Prove the checks can fail on your operator: one mutant per hardening control it has, each removing that control, run through the same vehicle; prints the kill matrix. Exit 0 every mutant caught, 1 a survivor (or a check the original does not pass), 2 bad input.")
        {
            scenarioFile, kubeconfig, context, probeImage, imageLoader, parallel, output,
        };
        command.SetAction(async (r, ct) =>
        {
            var scenario = ScenarioParser.Load(r.GetValue(scenarioFile)!);
            var request = Request(scenario, r, kubeconfig, context, probeImage, imageLoader);
            using var progress = new StatusWriter(stdout, Interactive());
            var proof = await Harness.Proof.Prover.ProveAsync(request, r.GetValue(parallel), progress, ct).ConfigureAwait(false);
            var paths = await ReportWriters.WriteAllAsync(proof.Original, r.GetValue(output) ?? Path.Combine("artifacts", "proof"), ct: ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"reports: {string.Join(", ", paths)}").ConfigureAwait(false);
            await stdout.WriteAsync(proof.Render()).ConfigureAwait(false);
            return proof.ExitCode;
        });
        return command;
    }

    private static Command QualifyCommand(TextWriter stdout)
    {
        var scenarioFile = Text("--scenario", "A scenario file (apiVersion harness.dev/v1alpha1, kind QualificationScenario); flags override its fields.", "FILE");
        var kubeconfig = Text("--kubeconfig", "Qualify on an existing cluster: its kubeconfig (default HARNESS_KUBECONFIG, then KUBECONFIG, then ~/.kube/config).", "PATH");
        var context = Text("--context", "The kubeconfig context (default HARNESS_CONTEXT, then the current one).", "NAME");
        var cluster = OneOf("--cluster", "Create a fresh, verified kind cluster instead of using an existing one.", "kind");
        var ns = Text("--namespace", "The operator's namespace (or where to deploy it).", "NS");
        var deployment = Text("--deployment", "The operator's Deployment (or, with --vehicle docker, any workload in the manifests).", "NAME");
        var selector = Text("--selector", "Or a label selector for the operator's pods.", "LABELS");
        var container = Text("--container", "The container to probe (default: the annotated default or the only one).", "NAME");
        var manifests = Text("--manifests", "Manifest files or folders, comma-separated: deployed first on a cluster, read for the docker vehicle.", "PATH[,PATH]");
        var localImages = Text("--local-images", "Images built on this machine to load into the cluster, comma-separated.", "IMAGE[,IMAGE]");
        var vehicle = OneOf("--vehicle", "What carries the probe agent into the operator's security context (default twin-pod); docker needs no cluster and is a local approximation.", [.. VehicleKinds.All]);
        var (probeImage, imageLoader) = ImageFlags();
        var cosignKey = Text("--cosign-key", "Verify the operator's image signatures with cosign and this key.", "FILE");
        var rightsFile = Text("--rights", "The operator's declared rights (`harness rights lock`): the rights-declared item checks its account on the cluster against them.", "FILE");
        var output = Text("--output", "Where the reports go (default artifacts/qualification).", "DIR");
        var waive = Text("--waive", $"Accept named untested or inconclusive items, comma-separated (never a failure); every report lists them. Waivable: {string.Join(", ", Checklist.Waivable)}.", "ITEM[,ITEM]", [.. Checklist.Waivable]);
        var (helmRelease, helmValues, helmSet) = HelmFlags();
        var command = new Command("qualify", "Release qualification against an existing cluster, a fresh kind cluster, or (--vehicle docker) the pod spec in a local container. Writes Markdown, JSON, JUnit XML and HTML reports. Exit 0 every item tested and passed, 1 an item failed, 2 inconclusive or infrastructure error, 3 items untested or only approximated.")
        {
            scenarioFile, kubeconfig, context, cluster, ns, deployment, selector, container, manifests, localImages, vehicle, probeImage, imageLoader, cosignKey, rightsFile, output, waive,
            helmRelease, helmValues, helmSet,
        };
        command.SetAction(async (r, ct) =>
        {
            static ImmutableArray<string> Csv(string? v) => v is null ? [] : [.. v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
            var scenario = r.GetValue(scenarioFile) is { } file
                ? ScenarioParser.Load(file)
                : new QualificationScenario { Path = "(command line)", Name = r.GetValue(deployment) ?? r.GetValue(selector) ?? "operator" };
            scenario = scenario with
            {
                Namespace = r.GetValue(ns) ?? scenario.Namespace,
                Deployment = r.GetValue(deployment) ?? scenario.Deployment,
                Selector = r.GetValue(selector) ?? scenario.Selector,
                Container = r.GetValue(container) ?? scenario.Container,
                Manifests = r.GetValue(manifests) is { } m ? [.. Csv(m).Select(Path.GetFullPath)] : scenario.Manifests,
                LocalImages = r.GetValue(localImages) is { } li ? Csv(li) : scenario.LocalImages,
                Helm = Helm(r, helmRelease, helmValues, helmSet, scenario.Helm),
                Vehicle = VehicleKinds.Parse(r.GetValue(vehicle)) ?? scenario.Vehicle,
                CosignKey = r.GetValue(cosignKey) is { } key ? Path.GetFullPath(key) : scenario.CosignKey,
                Waive = r.GetValue(waive) is { } w ? [.. scenario.Waive.Union(Csv(w).Select(Options.KnownWaiver))] : scenario.Waive,
                ProbeSettings = r.GetValue(rightsFile) is { } rf ? scenario.ProbeSettings with { DeclaredRights = Harness.Rbac.DeclaredRights.Load(rf) } : scenario.ProbeSettings,
            };
            if (scenario.Deployment is null && scenario.Selector is null)
            {
                throw new UsageException("qualify needs the operator: --deployment NAME or --selector LABELS (or a --scenario file)");
            }
            var request = Request(scenario, r, kubeconfig, context, probeImage, imageLoader) with { CreateKind = r.GetValue(cluster) == "kind" };
            using var progress = new StatusWriter(stdout, Interactive());
            var report = await Qualifier.RunAsync(request, progress, ct).ConfigureAwait(false);
            var paths = await ReportWriters.WriteAllAsync(report, r.GetValue(output) ?? Path.Combine("artifacts", "qualification"), ct: ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"reports: {string.Join(", ", paths)}").ConfigureAwait(false);
            await stdout.WriteLineAsync(report.Verdict).ConfigureAwait(false);
            return report.ExitCode;
        });
        return command;
    }

    /// <summary>Colours only for a person at a terminal; plain text in CI and when redirected.</summary>
    private static bool Interactive() =>
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    private static Command BuildImageCommand(TextWriter stdout)
    {
        var binary = new Option<string>("--binary") { Description = "The NativeAOT executable to import.", HelpName = "PATH", Required = true };
        var image = new Option<string>("--image") { Description = "The image name and tag.", HelpName = "NAME:TAG", Required = true };
        var probeAgent = Text("--probe-agent", "Also put the probe agent from DIR (artifacts/probe) into the image, for the direct-exec vehicle.", "DIR");
        var command = new Command("build-image", "Import a NativeAOT program as a scratch image (runtime libraries, CA certificates, non-root user).") { binary, image, probeAgent };
        command.SetAction(async (r, ct) =>
        {
            Images.ProbeArtifacts? agent = null;
            if (r.GetValue(probeAgent) is { } dir)
            {
                agent = new Images.ProbeArtifacts(Path.Combine(dir, "probe-agent"), Path.Combine(dir, "kprobe"));
                if (!File.Exists(agent.AgentPath) || !File.Exists(agent.KernelHelperPath))
                {
                    throw new UsageException($"--probe-agent {dir}: no probe-agent and kprobe there; build them with `bash eng/build-probe.sh` (they land in artifacts/probe).");
                }
            }
            await using var docker = await DockerHost.ConnectAsync(ct: ct).ConfigureAwait(false);
            docker.KeepResources = true;
            var built = await Images.ProbeImage.BuildApplicationAsync(docker, r.GetValue(binary)!, r.GetValue(image)!, agent, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"built {built} from {r.GetValue(binary)}").ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command SweepCommand(TextWriter stdout)
    {
        var kubeconfig = Text("--kubeconfig", "The cluster's kubeconfig (default HARNESS_KUBECONFIG, then KUBECONFIG, then ~/.kube/config).", "PATH");
        var context = Text("--context", "The kubeconfig context (default HARNESS_CONTEXT, then the current one).", "NAME");
        var hours = Number("--stale-hours", "For runs that held no session Lease: how old their objects must be, in hours", 6, 0, 24 * 30);
        var command = new Command("sweep", "Remove what dead harness runs left: on this machine's Docker, the containers and networks of sessions whose process is gone; on a cluster, the namespaces, pods and cluster-scoped objects of every session whose Lease has expired (a killed or crashed run), and their holds on shared CRDs. Live runs are never touched. Exit 0.")
        {
            kubeconfig, context, hours,
        };
        command.SetAction(async (r, ct) =>
        {
            // Docker first: its containers and networks have no Lease, only their owning process, which this machine can judge.
            try
            {
                await using var docker = await DockerHost.ConnectAsync(null, sweepDeadSessions: false, ct).ConfigureAwait(false); // this sweep reports what it removes
                var dead = await docker.SweepDeadSessionsAsync(TimeSpan.FromHours(r.GetValue(hours)), ct).ConfigureAwait(false);
                await stdout.WriteLineAsync(dead.Count == 0
                    ? "sweep: Docker: nothing left by dead runs"
                    : $"sweep: Docker: removed {dead.Sum(d => d.Resources)} containers and networks of {dead.Count} dead sessions ({string.Join(", ", dead.Select(d => d.Session))})").ConfigureAwait(false);
            }
            catch (DockerUnavailableException)
            {
                await stdout.WriteLineAsync("sweep: Docker: not running here, nothing to sweep").ConfigureAwait(false);
            }
            var options = ClusterOptions.ForExisting(r.GetValue(kubeconfig) ?? Environment.GetEnvironmentVariable("HARNESS_KUBECONFIG"), r.GetValue(context) ?? Environment.GetEnvironmentVariable("HARNESS_CONTEXT"));
            using var client = await HarnessCluster.ConnectAsync(options.ResolveKubeconfig(), options.Context, ct).ConfigureAwait(false);
            var deleted = await LeftoverSweep.SweepAsync(client, TimeSpan.FromHours(r.GetValue(hours)), null, stdout, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync(deleted.IsEmpty ? "sweep: nothing left by dead runs" : $"sweep: removed {deleted.Length} objects left by dead runs").ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command BenchCommand(TextWriter stdout)
    {
        var runs = Number("--runs", "Measured runs per mode", 5, 5, 100);
        var command = new Command("bench", "Benchmark one batched agent exec against one exec per probe and a by-hand shell script, in a hardened local container (needs Docker). Subcommands time whole harness processes.") { runs };
        if (Native.Live)
        {
            command.SetAction((r, ct) => Bench.RunAsync(r.GetValue(runs), stdout, ct));
        }
        var path = new Argument<string?>("PATH") { Description = "The manifests to pre-flight (file or folder); or --synthetic.", Arity = ArgumentArity.ZeroOrOne };
        var synthetic = Number("--synthetic", "Instead of PATH: a generated install file of this many MB (CRDs with deep schemas, RBAC, Deployments); 0 is off", 0, 0, 100);
        var preflightRuns = Number("--runs", "Measured runs of each process", 5, 1, 100);
        var preflight = new Command("preflight", "Time `harness preflight PATH` as whole processes, with kubectl's read of the same files beside it: min, median and max.") { path, synthetic, preflightRuns };
        preflight.SetAction((r, ct) => r.GetValue(path) is null && r.GetValue(synthetic) == 0
            ? throw new UsageException("bench preflight needs PATH or --synthetic MB")
            : ProcessBench.PreflightAsync(r.GetValue(path), r.GetValue(synthetic), r.GetValue(preflightRuns), stdout, ct));
        var scenario = new Option<string>("--scenario") { Description = "The scenario file to qualify.", Required = true, HelpName = "FILE" };
        var qualifyRuns = Number("--runs", "Measured runs", 5, 1, 100);
        var qualify = new Command("qualify", "Time `harness qualify --scenario FILE` as whole processes: min, median and max.") { scenario, qualifyRuns };
        if (Native.Live)
        {
            qualify.SetAction((r, ct) => ProcessBench.QualifyAsync(r.GetValue(scenario)!, r.GetValue(qualifyRuns), stdout, ct));
        }
        var latency = new Option<string[]>("--latency") { Description = $"A phase's seconds instead of the measured ones (repeatable): PHASE=SECONDS, PHASE one of {string.Join(", ", StageBench.Measured.Keys.Order())}.", HelpName = "PHASE=SECONDS", AllowMultipleArgumentsPerToken = false };
        var stageRuns = Number("--runs", "Measured runs", 3, 1, 100);
        var stages = new Command("stages", "The run's pipeline with each stage as long as its phase on a real cluster (the measured defaults, or --latency): wall time beside the sum of the phases, and the longest path. Nothing is contacted.") { latency, stageRuns };
        if (Native.Live)
        {
            stages.SetAction((r, ct) => StageBench.RunAsync(StageBench.Latencies(r.GetValue(latency) ?? []), r.GetValue(stageRuns), stdout, ct));
        }
        command.Subcommands.Add(preflight);
        command.Subcommands.Add(qualify);
        command.Subcommands.Add(stages);
        return command;
    }

    private static Command KindConfigCommand(TextWriter stdout)
    {
        var defaults = new KindClusterOptions();
        var cni = OneOf("--cni", "The CNI (default calico).", "calico", "cilium", "kindnet");
        var nodeImage = Text("--node-image", "The node image, pinned by digest.", "IMAGE@sha256:...");
        var workers = Number("--workers", "Worker nodes", defaults.Workers, 0, 10);
        var psaLevel = OneOf("--psa-level", "The PodSecurity level enforced by default.", "restricted", "baseline", "privileged");
        var psaVersion = Text("--psa-version", "The PodSecurity version: latest or v1.MINOR.", "latest|vX.Y", "latest");
        var admissionDir = Text("--admission-dir", "Where the admission config is mounted on the nodes.", "DIR");
        var write = Text("--write", "Write the files into DIR instead of printing them.", "DIR");
        var command = new Command("kind-config", "Print (or write) the kind cluster config and the PodSecurity admission config.")
        {
            cni, nodeImage, workers, psaLevel, psaVersion, admissionDir, write,
        };
        command.SetAction(async (r, ct) =>
        {
            var options = defaults with
            {
                Cni = r.GetValue(cni) is { } c ? Enum.Parse<Cni>(c, ignoreCase: true) : defaults.Cni,
                NodeImage = r.GetValue(nodeImage) ?? defaults.NodeImage,
                Workers = r.GetValue(workers),
                PodSecurityLevel = r.GetValue(psaLevel) is { } l ? Enum.Parse<PodSecurityLevel>(l, ignoreCase: true) : defaults.PodSecurityLevel,
                PodSecurityVersion = r.GetValue(psaVersion) is { } v ? Version(v, "--psa-version") : defaults.PodSecurityVersion,
                AdmissionConfigDirectory = r.GetValue(admissionDir) ?? defaults.AdmissionConfigDirectory,
            };
            var cluster = KindConfig.RenderCluster(options);
            var admission = KindConfig.RenderAdmission(options);
            if (r.GetValue(write) is { } dir)
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
        });
        return command;
    }

    /// <summary>The shell glue for completions: the shell asks <c>harness [suggest:POSITION] "LINE"</c>, which System.CommandLine answers.</summary>
    private static Command CompletionCommand(TextWriter stdout)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh." };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "Print a completion script: `source <(harness completion bash)`.") { shell };
        command.SetAction(async (r, ct) =>
        {
            var script = """
                _harness_complete() {
                  local line="${COMP_LINE#* }"
                  local point=$(( COMP_POINT - ${#COMP_LINE} + ${#line} ))
                  local IFS=$'\n'
                  COMPREPLY=( $(harness "[suggest:${point}]" "${line}" 2>/dev/null) )
                }
                complete -o default -F _harness_complete harness
                """;
            if (r.GetValue(shell) == "zsh")
            {
                script = "autoload -U +X bashcompinit && bashcompinit\n" + script;
            }
            await stdout.WriteLineAsync(script).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}

/// <summary>Option values the command line checks against the harness's own lists.</summary>
internal static class Options
{
    /// <summary>Rejects a waiver that names nothing the checklist has.</summary>
    public static string KnownWaiver(string name) => Checklist.Waivable.Contains(name)
        ? name
        : throw new UsageException($"--waive: '{name}' is not a checklist item or mission check; waivable: {string.Join(", ", Checklist.Waivable)}.");
}
