// Declared rights: an operator's effective RBAC, locked into an OperatorRights object, and checked against it later.
using System.Collections.Immutable;
using Harness.Manifests;
using Harness.Preflight;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Harness.Rbac;

/// <summary>A declared rule: a PolicyRule and where it applies.</summary>
/// <param name="Namespace">The namespace it applies in; null for cluster-wide (every namespace and cluster-scoped resources).</param>
/// <param name="Rule">The rule.</param>
/// <param name="Line">Its line in the rights file.</param>
public sealed record DeclaredRule(string? Namespace, RbacRule Rule, int Line);

/// <summary>What one ServiceAccount is declared to be granted.</summary>
/// <param name="Account">The account.</param>
/// <param name="Rules">Its declared rules.</param>
/// <param name="Line">Its line in the rights file.</param>
public sealed record DeclaredAccount(ServiceAccountRef Account, ImmutableArray<DeclaredRule> Rules, int Line);

/// <summary>An <c>OperatorRights</c> object (<c>harness.dev/v1alpha1</c>): the rights an operator's accounts are agreed to have.</summary>
/// <param name="Name">Its <c>metadata.name</c>.</param>
/// <param name="Accounts">Each account's declared rules.</param>
/// <param name="Path">The file it was read from.</param>
public sealed record OperatorRights(string Name, ImmutableArray<DeclaredAccount> Accounts, string Path);

/// <summary>
/// Declared rights (issue #27): <see cref="Lock"/> writes the effective rights of every ServiceAccount a workload of the
/// manifests runs as (the pre-flight RBAC model: aggregation, wildcards, resourceNames, subresources, non-resource URLs),
/// normalized and sorted, each rule with a comment naming the binding and role behind it; <see cref="Check"/> compares
/// what an RBAC model grants with what is declared: <c>RIGHTS-EXCESS</c> (an error) for each granted permission nobody
/// declared, at the rule that grants it; <c>RIGHTS-UNUSED</c> (a warning) for each declared permission no longer granted.
/// </summary>
public static class DeclaredRights
{
    /// <summary>The rights object's apiVersion.</summary>
    public const string ApiVersion = "harness.dev/v1alpha1";

    /// <summary>The rights object's kind.</summary>
    public const string Kind = "OperatorRights";

    /// <summary>The manifests' RBAC model and the accounts their workloads run as (namespaces as pre-flight places them).</summary>
    /// <exception cref="ManifestException">A manifest cannot be read.</exception>
    public static (RbacModel Model, ImmutableArray<ServiceAccountRef> Accounts) Read(string path, PreflightOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var documents = PreflightAnalyzer.Load(path, options, new List<string>());
        var (defaultNamespace, _, _) = NamespaceInference.Resolve(documents, options.DefaultNamespace);
        return (RbacModel.From(documents, defaultNamespace), WorkloadAccounts(documents, defaultNamespace));
    }

    /// <summary>Checks the manifests at <paramref name="path"/> against the rights file, as a report pre-flight's writers render (text, JSON, SARIF).</summary>
    /// <exception cref="ManifestException">A manifest or the rights file cannot be read.</exception>
    public static PreflightReport CheckPath(string rightsFile, string path, PreflightOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(rightsFile);
        ArgumentNullException.ThrowIfNull(options);
        var declared = Load(rightsFile);
        var (model, accounts) = Read(path, options);
        return Report(declared, accounts, Check(declared, model, accounts), options, "");
    }

    /// <summary>Reads a rights file from disk.</summary>
    /// <exception cref="ManifestException">No such file, or not a rights file.</exception>
    public static OperatorRights Load(string rightsFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(rightsFile);
        return File.Exists(rightsFile) ? Parse(File.ReadAllText(rightsFile), rightsFile)
            : throw new ManifestException(rightsFile, 0, 0, "no such rights file; write one with `harness rights lock DIR > rights.yaml`.");
    }

    /// <summary>A check's findings as a report pre-flight's writers render; <paramref name="where"/> says what was checked beyond the accounts (" on the cluster").</summary>
    public static PreflightReport Report(OperatorRights declared, IEnumerable<ServiceAccountRef> accounts, ImmutableArray<Finding> findings, PreflightOptions options, string where)
    {
        ArgumentNullException.ThrowIfNull(declared);
        var files = findings.GroupBy(f => f.Path, StringComparer.Ordinal)
            .Select(g => new PreflightFile(g.Key, g.Key == declared.Path ? 1 : 0, [.. g.OrderBy(f => f.Line)]))
            .ToList();
        if (!files.Any(f => f.Path == declared.Path))
        {
            files.Add(new PreflightFile(declared.Path, 1, []));
        }
        return new PreflightReport(options, [.. files], [])
        {
            Title = $"Rights of {string.Join(", ", accounts)}{where} against {declared.Path} ({declared.Accounts.Length} accounts, {declared.Accounts.Sum(a => a.Rules.Length)} rules declared)",
        };
    }

    /// <summary>The ServiceAccounts the manifests' workloads run as, in the order of the manifests (a Pod or template without one runs as <c>default</c>).</summary>
    public static ImmutableArray<ServiceAccountRef> WorkloadAccounts(IReadOnlyList<ManifestDocument> documents, string defaultNamespace)
    {
        ArgumentNullException.ThrowIfNull(documents);
        return
        [
            .. documents
                .Select(d => PodTemplates.TryGet(d.Object, out _, out var spec) ? new ServiceAccountRef(d.Namespace ?? defaultNamespace, string.IsNullOrEmpty(spec.ServiceAccountName) ? "default" : spec.ServiceAccountName) : null)
                .OfType<ServiceAccountRef>()
                .Distinct(),
        ];
    }

    /// <summary>The rights object for <paramref name="accounts"/> as <paramref name="model"/> grants them, as YAML. Pure.</summary>
    public static string Lock(RbacModel model, IReadOnlyList<ServiceAccountRef> accounts, string name)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(accounts);
        ArgumentException.ThrowIfNullOrEmpty(name);
        using var writer = new StringWriter();
        writer.WriteLine("# The RBAC rights of the operator's ServiceAccounts, as its manifests grant them (`harness rights lock`).");
        writer.WriteLine("# Review a change to this file like a change to the operator's code; `harness rights check --rights FILE DIR`");
        writer.WriteLine("# fails on any right the manifests grant beyond it.");
        var emitter = new Emitter(writer);
        void Scalar(string value) => emitter.Emit(new Scalar(value));
        void Flow(IEnumerable<string> values)
        {
            emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Flow));
            foreach (var v in values)
            {
                emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, v, v.Length == 0 || v == "*" || v.Contains('*', StringComparison.Ordinal) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any, true, true));
            }
            emitter.Emit(new SequenceEnd());
        }
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        emitter.Emit(new MappingStart());
        Scalar("apiVersion");
        Scalar(ApiVersion);
        Scalar("kind");
        Scalar(Kind);
        Scalar("metadata");
        emitter.Emit(new MappingStart());
        Scalar("name");
        Scalar(name);
        emitter.Emit(new MappingEnd());
        Scalar("spec");
        emitter.Emit(new MappingStart());
        Scalar("accounts");
        emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Block));
        foreach (var account in accounts.OrderBy(a => a.Namespace, StringComparer.Ordinal).ThenBy(a => a.Name, StringComparer.Ordinal))
        {
            emitter.Emit(new MappingStart());
            Scalar("serviceAccount");
            emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, MappingStyle.Flow));
            Scalar("namespace");
            Scalar(account.Namespace);
            Scalar("name");
            Scalar(account.Name);
            emitter.Emit(new MappingEnd());
            Scalar("rules");
            emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Block));
            foreach (var (ns, rule, via) in Normalized(model.GrantsFor(account)))
            {
                emitter.Emit(new Comment($"via {string.Join("; ", via)}", false));
                emitter.Emit(new MappingStart());
                if (ns is not null)
                {
                    Scalar("namespace");
                    Scalar(ns);
                }
                if (rule.NonResourceUrls.IsEmpty)
                {
                    Scalar("apiGroups");
                    Flow(rule.ApiGroups);
                    Scalar("resources");
                    Flow(rule.Resources);
                    if (!rule.ResourceNames.IsEmpty)
                    {
                        Scalar("resourceNames");
                        Flow(rule.ResourceNames);
                    }
                }
                else
                {
                    Scalar("nonResourceURLs");
                    Flow(rule.NonResourceUrls);
                }
                Scalar("verbs");
                Flow(rule.Verbs);
                emitter.Emit(new MappingEnd());
            }
            emitter.Emit(new SequenceEnd());
            emitter.Emit(new MappingEnd());
        }
        emitter.Emit(new SequenceEnd());
        emitter.Emit(new MappingEnd());
        emitter.Emit(new MappingEnd());
        emitter.Emit(new DocumentEnd(true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    // Each granted rule once, its lists sorted, with every binding that grants it; in a stable order.
    private static IEnumerable<(string? Namespace, RbacRule Rule, IReadOnlyList<string> Via)> Normalized(IEnumerable<RbacGrant> grants) =>
        grants.Select(g => (g.Namespace, Rule: Sorted(g.Rule), Via: $"{g.Binding} -> {g.Role}"))
            .GroupBy(g => (g.Namespace, Key: Key(g.Rule)))
            .Select(g => (g.Key.Namespace, g.First().Rule, (IReadOnlyList<string>)[.. g.Select(x => x.Via).Distinct().Order(StringComparer.Ordinal)]))
            .OrderBy(g => g.Namespace is null ? 0 : 1).ThenBy(g => g.Namespace, StringComparer.Ordinal).ThenBy(g => Key(g.Item2), StringComparer.Ordinal);

    private static RbacRule Sorted(RbacRule r) => new(
        [.. r.Verbs.Distinct().Order(StringComparer.Ordinal)], [.. r.ApiGroups.Distinct().Order(StringComparer.Ordinal)], [.. r.Resources.Distinct().Order(StringComparer.Ordinal)],
        [.. r.ResourceNames.Distinct().Order(StringComparer.Ordinal)], [.. r.NonResourceUrls.Distinct().Order(StringComparer.Ordinal)]);

    private static string Key(RbacRule r) => string.Join("|", string.Join(",", r.ApiGroups), string.Join(",", r.Resources), string.Join(",", r.ResourceNames), string.Join(",", r.NonResourceUrls), string.Join(",", r.Verbs));

    /// <summary>Reads a rights file.</summary>
    /// <exception cref="ManifestException">Not YAML, not an <c>OperatorRights</c> object, or a field of the wrong shape; the message names the line.</exception>
    public static OperatorRights Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ManifestException(path, (int)e.Start.Line, (int)e.Start.Column, e.Message);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ManifestException(path, 1, 1, $"not a rights file: expected an object with apiVersion {ApiVersion} and kind {Kind} (`harness rights lock DIR` writes one).");
        }
        ManifestException Wrong(YamlNode node, string problem) => new(path, (int)node.Start.Line, (int)node.Start.Column, problem);
        YamlNode? Child(YamlMappingNode m, string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
        string? Text(YamlMappingNode m, string key) => Child(m, key) is YamlScalarNode s ? s.Value : null;
        if (Text(root, "apiVersion") != ApiVersion || Text(root, "kind") != Kind)
        {
            throw Wrong(root, $"not a rights file: apiVersion must be {ApiVersion} and kind {Kind}, got {Text(root, "apiVersion") ?? "none"} and {Text(root, "kind") ?? "none"}.");
        }
        var name = Child(root, "metadata") is YamlMappingNode meta ? Text(meta, "name") ?? "" : "";
        var accounts = ImmutableArray.CreateBuilder<DeclaredAccount>();
        var list = Child(root, "spec") is YamlMappingNode spec ? Child(spec, "accounts") : null;
        if (list is not YamlSequenceNode accountNodes)
        {
            throw Wrong(root, "spec.accounts must be a list of accounts, each with serviceAccount {namespace, name} and rules.");
        }
        foreach (var node in accountNodes)
        {
            if (node is not YamlMappingNode a || Child(a, "serviceAccount") is not YamlMappingNode sa || Text(sa, "namespace") is not { Length: > 0 } ns || Text(sa, "name") is not { Length: > 0 } saName)
            {
                throw Wrong(node, "each account needs serviceAccount: {namespace: NS, name: NAME}.");
            }
            var rules = ImmutableArray.CreateBuilder<DeclaredRule>();
            foreach (var r in Child(a, "rules") as YamlSequenceNode ?? [])
            {
                if (r is not YamlMappingNode rule)
                {
                    throw Wrong(r, "each rule is an object: namespace (none for cluster-wide), apiGroups, resources, resourceNames, nonResourceURLs, verbs.");
                }
                foreach (var key in rule.Children.Keys.OfType<YamlScalarNode>().Where(k => k.Value is not ("namespace" or "apiGroups" or "resources" or "resourceNames" or "nonResourceURLs" or "verbs")))
                {
                    throw Wrong(key, $"unknown field '{key.Value}' in a rule; expected namespace, apiGroups, resources, resourceNames, nonResourceURLs, verbs.");
                }
                ImmutableArray<string> Strings(string key) => Child(rule, key) switch
                {
                    null => [],
                    YamlSequenceNode seq => [.. seq.Select(n => n is YamlScalarNode s ? s.Value ?? "" : throw Wrong(n, $"{key} holds strings."))],
                    var other => throw Wrong(other, $"{key} must be a list."),
                };
                var declared = new RbacRule(Strings("verbs"), Strings("apiGroups"), Strings("resources"), Strings("resourceNames"), Strings("nonResourceURLs"));
                if (declared.Verbs.IsEmpty)
                {
                    throw Wrong(rule, "a rule without verbs grants nothing: give verbs.");
                }
                rules.Add(new DeclaredRule(Text(rule, "namespace"), declared, (int)rule.Start.Line));
            }
            accounts.Add(new DeclaredAccount(new ServiceAccountRef(ns, saName), rules.ToImmutable(), (int)a.Start.Line));
        }
        return new OperatorRights(name, accounts.ToImmutable(), path);
    }

    /// <summary>What <paramref name="model"/> grants <paramref name="accounts"/> beyond <paramref name="declared"/>, and what is declared and no longer granted. Pure.</summary>
    public static ImmutableArray<Finding> Check(OperatorRights declared, RbacModel model, IReadOnlyList<ServiceAccountRef> accounts)
    {
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(accounts);
        return Findings(declared, model, accounts, Excesses(declared, model, accounts), "");
    }

    /// <summary>The findings for <paramref name="excesses"/> (all, or those an authorizer confirmed) and the declared rights no longer granted.</summary>
    internal static ImmutableArray<Finding> Findings(OperatorRights declared, RbacModel model, IReadOnlyList<ServiceAccountRef> accounts, IEnumerable<RightsExcess> excesses, string confirmation)
    {
        var findings = new List<Finding>();
        var file = Path.GetFileName(declared.Path);
        foreach (var excess in excesses)
        {
            var declaredAny = declared.Accounts.Any(a => a.Account == excess.Account && !a.Rules.IsEmpty);
            var what = excess.Atoms.Length == Atoms(excess.Grant.Rule).Count() ? excess.Grant.Rule.ToString() : Describe(excess.Atoms);
            findings.Add(new Finding("RIGHTS-EXCESS", FindingSeverity.Error, $"ServiceAccount {excess.Account}",
                $"{what} ({excess.Grant.Scope}) via {excess.Grant.Binding} -> {excess.Grant.Role} is not declared in {file}{(declaredAny ? "" : " (the account is not in it)")}{confirmation}",
                excess.Grant.RuleLocation.Path, excess.Grant.RuleLocation.Line));
        }
        foreach (var account in accounts)
        {
            var subject = $"ServiceAccount {account}";
            var mine = declared.Accounts.Where(a => a.Account == account).SelectMany(a => a.Rules).ToList();
            var grants = model.GrantsFor(account);
            foreach (var d in mine)
            {
                var unused = Atoms(d.Rule).Where(atom => !grants.Any(g => Covers(g.Namespace, g.Rule, d.Namespace, atom))).ToList();
                if (unused.Count > 0)
                {
                    var what = unused.Count == Atoms(d.Rule).Count() ? d.Rule.ToString() : Describe(unused);
                    findings.Add(new Finding("RIGHTS-UNUSED", FindingSeverity.Warning, subject,
                        $"{what} ({(d.Namespace is null ? "cluster-wide" : $"namespace {d.Namespace}")}) is declared and no longer granted: remove it from {file} (`harness rights lock` rewrites it)", declared.Path, d.Line));
                }
            }
        }
        foreach (var gone in declared.Accounts.Where(a => !accounts.Contains(a.Account)))
        {
            findings.Add(new Finding("RIGHTS-UNUSED", FindingSeverity.Warning, $"ServiceAccount {gone.Account}", "is declared and no workload runs as it any more", declared.Path, gone.Line));
        }
        return [.. findings.Distinct()];
    }

    /// <summary>Each grant with the permissions in it that nothing declared covers.</summary>
    internal static List<RightsExcess> Excesses(OperatorRights declared, RbacModel model, IReadOnlyList<ServiceAccountRef> accounts)
    {
        var excesses = new List<RightsExcess>();
        foreach (var account in accounts)
        {
            var mine = declared.Accounts.Where(a => a.Account == account).SelectMany(a => a.Rules).ToList();
            foreach (var grant in model.GrantsFor(account))
            {
                var excess = Atoms(grant.Rule).Where(atom => !mine.Any(d => Covers(d.Namespace, d.Rule, grant.Namespace, atom))).ToImmutableArray();
                if (!excess.IsEmpty)
                {
                    excesses.Add(new RightsExcess(account, grant, excess));
                }
            }
        }
        return excesses;
    }

    /// <summary>
    /// A permission that is both declared for <paramref name="account"/> and granted by <paramref name="model"/>, with the
    /// namespace it is declared in (null: cluster-wide); none when nothing declared is granted. The live check's control:
    /// an authorizer must allow it, or "no excess confirmed" could mean an authorizer that allows nothing. Pure.
    /// </summary>
    internal static (string? Namespace, Atom Atom)? DeclaredAndGranted(OperatorRights declared, RbacModel model, ServiceAccountRef account)
    {
        var grants = model.GrantsFor(account);
        return (from d in declared.Accounts.Where(a => a.Account == account).SelectMany(a => a.Rules)
                from atom in Atoms(d.Rule)
                where atom.Name is null && !(atom.Resource ?? "").Contains('*', StringComparison.Ordinal) && atom.Verb != "*" && atom.Group != "*"
                      && grants.Any(g => Covers(g.Namespace, g.Rule, d.Namespace, atom))
                select ((string?, Atom)?)(d.Namespace, atom)).FirstOrDefault();
    }

    /// <summary>
    /// The declaration with namespace <paramref name="from"/> read as <paramref name="to"/> (accounts and rules): a run that
    /// deployed the operator into a namespace of its own checks the rights its manifests declared for theirs. Pure.
    /// </summary>
    internal static OperatorRights InNamespace(OperatorRights declared, string from, string to)
    {
        ArgumentNullException.ThrowIfNull(declared);
        string? Map(string? ns) => ns == from ? to : ns;
        return declared with
        {
            Accounts = [.. declared.Accounts.Select(a => a with
            {
                Account = new ServiceAccountRef(Map(a.Account.Namespace)!, a.Account.Name),
                Rules = [.. a.Rules.Select(r => r with { Namespace = Map(r.Namespace) })],
            })],
        };
    }

    /// <summary>One permission: a verb on a group/resource (with a name, or any), or a verb on a non-resource URL.</summary>
    internal readonly record struct Atom(string Verb, string? Group, string? Resource, string? Name, string? Url);

    /// <summary>A grant and the permissions in it that nothing declared covers.</summary>
    internal sealed record RightsExcess(ServiceAccountRef Account, RbacGrant Grant, ImmutableArray<Atom> Atoms);

    private static IEnumerable<Atom> Atoms(RbacRule rule) => rule.NonResourceUrls.IsEmpty
        ? from verb in rule.Verbs
          from grp in rule.ApiGroups
          from res in rule.Resources
          from name in rule.ResourceNames.IsEmpty ? [null] : rule.ResourceNames.Select(n => (string?)n)
          select new Atom(verb, grp, res, name, null)
        : from verb in rule.Verbs from url in rule.NonResourceUrls select new Atom(verb, null, null, null, url);

    // Whether a rule in a scope covers a permission in a scope: a cluster-wide rule covers every namespace; "*" is
    // matched only by "*" (a wildcard grant needs a wildcard declaration), as RBAC's own matching reads it.
    private static bool Covers(string? ruleNamespace, RbacRule rule, string? atomNamespace, Atom atom)
    {
        if (ruleNamespace is not null && ruleNamespace != atomNamespace)
        {
            return false;
        }
        static bool Has(ImmutableArray<string> values, string value) => values.Contains("*") || values.Contains(value);
        if (!Has(rule.Verbs, atom.Verb))
        {
            return false;
        }
        if (atom.Url is { } url)
        {
            return rule.NonResourceUrls.Any(u => u == "*" || u == url || (u.EndsWith('*') && url.StartsWith(u[..^1], StringComparison.Ordinal)));
        }
        if (!Has(rule.ApiGroups, atom.Group!))
        {
            return false;
        }
        var slash = atom.Resource!.IndexOf('/', StringComparison.Ordinal);
        var resourceMatch = rule.Resources.Any(r => r == "*" || r == atom.Resource || (slash > 0 && r == $"*{atom.Resource[slash..]}"));
        return resourceMatch && (rule.ResourceNames.IsEmpty || (atom.Name is not null && rule.ResourceNames.Contains(atom.Name)));
    }

    private static string Describe(IEnumerable<Atom> atoms) => string.Join("; ", atoms.GroupBy(a => a.Url ?? $"{a.Resource}{(a.Group is { Length: > 0 } g ? "." + g : "")}{(a.Name is null ? "" : $" [{a.Name}]")}")
        .Select(g => $"{string.Join(",", g.Select(a => a.Verb).Distinct())} on {g.Key}"));
}
