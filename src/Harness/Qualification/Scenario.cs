using System.Collections.Immutable;
using System.Net;
using Harness.Manifests;
using Harness.Probes;
using Harness.Vehicles;
using Harness.Verdicts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Harness.Qualification;

/// <summary>A qualification scenario file: the operator, the vehicle, the probes and their expectations, egress targets, image policy.</summary>
public sealed record QualificationScenario
{
    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);

    /// <summary>The file it was read from.</summary>
    public required string Path { get; init; }

    /// <summary><c>metadata.name</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Namespace of the operator (where it runs, or where it is deployed).</summary>
    public string? Namespace { get; init; }

    /// <summary>The operator's Deployment.</summary>
    public string? Deployment { get; init; }

    /// <summary>A label selector for its pods, instead of a Deployment.</summary>
    public string? Selector { get; init; }

    /// <summary>The container to probe.</summary>
    public string? Container { get; init; }

    /// <summary>Manifests to deploy first (paths resolved against the scenario file's folder).</summary>
    public ImmutableArray<string> Manifests { get; init; } = [];

    /// <summary>Local images to load into the cluster.</summary>
    public ImmutableArray<string> LocalImages { get; init; } = [];

    /// <summary>How a Helm chart among <see cref="Manifests"/> is rendered (<c>operator.helm</c>: release, namespace, values, set; values files relative to the scenario).</summary>
    public HelmOptions Helm { get; init; } = HelmOptions.Default;

    /// <summary>The vehicle: twin-pod, ephemeral-container, direct-exec, or docker (no cluster).</summary>
    public VehicleKind Vehicle { get; init; } = VehicleKind.TwinPod;

    /// <summary>Probe ids to leave out.</summary>
    public ImmutableArray<string> SkipProbes { get; init; } = [];

    /// <summary>Expectation overrides by probe id: true for allowed, false for denied.</summary>
    public ImmutableDictionary<string, bool> ExpectAllowed { get; init; } = ImmutableDictionary<string, bool>.Empty;

    /// <summary>Egress targets besides the harness's sink.</summary>
    public ImmutableArray<EgressTarget> EgressTargets { get; init; } = [];

    /// <summary>Images must be pinned by digest.</summary>
    public bool RequireDigest { get; init; } = true;

    /// <summary>Public key for cosign verification (resolved against the scenario's folder); null to skip.</summary>
    public string? CosignKey { get; init; }

    /// <summary>
    /// Checklist item ids and mission check names whose untested, approximated or inconclusive state the user accepts
    /// (<c>waive:</c>, <c>--waive</c>); every report names them. A failure is never waived.
    /// </summary>
    public ImmutableArray<string> Waive { get; init; } = [];

    /// <summary>Probe settings (<c>probes.writableDirectory</c>, <c>readOnlyPaths</c>, <c>allowedCapabilities</c>, timeouts); vehicle and targets are set elsewhere.</summary>
    public OperatorProbeOptions ProbeSettings { get; init; } = new();

    /// <summary>The probe options for a run of this scenario, with what the environment adds (<see cref="OperatorProbeOptions.WithEnvironment"/>).</summary>
    /// <exception cref="ArgumentException">HARNESS_EGRESS_TARGETS is malformed.</exception>
    public OperatorProbeOptions ProbeOptions(Func<string, string?>? environment = null) =>
        (ProbeSettings with { SkipProbes = SkipProbes, ExpectAllowed = ExpectAllowed, ExtraEgressTargets = EgressTargets, Vehicle = Vehicle }).WithEnvironment(environment);
}

/// <summary>
/// Reads scenario files. Unknown fields, wrong types, bad values and public egress targets not explicitly allowed are
/// errors naming the file, line and column.
/// </summary>
public static class ScenarioParser
{
    private static readonly string[] TopLevel = ["apiVersion", "kind", "metadata", "operator", "vehicle", "probes", "egress", "imagePolicy", "waive", "rights"];
    private static readonly string[] OperatorFields = ["namespace", "deployment", "selector", "container", "manifests", "localImages", "helm"];

    /// <summary>Reads a scenario file.</summary>
    /// <exception cref="ManifestException">The file is not a valid scenario; names the line, column and problem.</exception>
    public static QualificationScenario Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ManifestException(path, 0, 0, "no such scenario file.");
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses scenario text; relative paths are resolved against <paramref name="path"/>'s folder.</summary>
    /// <exception cref="ManifestException">The text is not a valid scenario.</exception>
    public static QualificationScenario Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ManifestException(path, (int)e.Start.Line, (int)e.Start.Column, e.Message[(e.Message.IndexOf("): ", StringComparison.Ordinal) is var i && i > 0 ? i + 3 : 0)..]);
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ManifestException(path, 1, 1, "a scenario is one YAML mapping (apiVersion: harness.dev/v1alpha1, kind: QualificationScenario).");
        }
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        ManifestException Error(YamlNode node, string problem) => new(path, (int)node.Start.Line, (int)node.Start.Column, problem);
        void Known(YamlMappingNode map, string[] fields, string where)
        {
            foreach (var key in map.Children.Keys.OfType<YamlScalarNode>())
            {
                if (!fields.Contains(key.Value))
                {
                    throw Error(key, $"unknown field '{key.Value}' in {where}; expected {string.Join(", ", fields)}.");
                }
            }
        }
        YamlNode? Get(YamlMappingNode map, string key) => map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
        string? Str(YamlMappingNode map, string key, string where) => Get(map, key) switch
        {
            null => null,
            YamlScalarNode s => s.Value,
            var other => throw Error(other, $"{where}.{key} must be a string."),
        };
        ImmutableArray<string> List(YamlMappingNode map, string key, string where) => Get(map, key) switch
        {
            null => [],
            YamlSequenceNode seq => [.. seq.Children.Select(c => c is YamlScalarNode s && s.Value is { } v ? v : throw Error(c, $"{where}.{key} must be a list of strings."))],
            var other => throw Error(other, $"{where}.{key} must be a list."),
        };
        YamlMappingNode? Map(YamlMappingNode map, string key, string where) => Get(map, key) switch
        {
            null => null,
            YamlMappingNode m => m,
            var other => throw Error(other, $"{where}.{key} must be a mapping."),
        };

        HelmOptions ParseHelm(YamlMappingNode helm, string dir)
        {
            Known(helm, ["release", "namespace", "values", "set"], "operator.helm");
            return new HelmOptions
            {
                ReleaseName = Str(helm, "release", "operator.helm") ?? HelmOptions.Default.ReleaseName,
                Namespace = Str(helm, "namespace", "operator.helm"),
                ValuesFiles = [.. List(helm, "values", "operator.helm").Select(v => System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, v)))],
                Set = List(helm, "set", "operator.helm"),
            };
        }

        Known(root, TopLevel, "the scenario");
        if (Str(root, "kind", "") is var kind && kind != "QualificationScenario")
        {
            throw Error(Get(root, "kind") ?? root, $"kind must be QualificationScenario, got '{kind}'.");
        }
        if (Str(root, "apiVersion", "") is var api && api != "harness.dev/v1alpha1")
        {
            throw Error(Get(root, "apiVersion") ?? root, $"apiVersion must be harness.dev/v1alpha1, got '{api}'.");
        }
        var name = Map(root, "metadata", "the scenario") is { } meta ? Str(meta, "name", "metadata") : null;
        var op = Map(root, "operator", "the scenario") ?? throw Error(root, "operator is required (namespace and deployment or selector).");
        Known(op, OperatorFields, "operator");
        var deployment = Str(op, "deployment", "operator");
        var selector = Str(op, "selector", "operator");
        if ((deployment is null) == (selector is null))
        {
            throw Error(op, "operator needs exactly one of deployment and selector.");
        }
        var vehicleNode = Get(root, "vehicle");
        var vehicleName = Str(root, "vehicle", "the scenario") ?? VehicleKind.TwinPod.Name();
        var vehicle = VehicleKinds.Parse(vehicleName)
            ?? throw Error(vehicleNode!, $"vehicle must be one of {string.Join(", ", VehicleKinds.All)}, got '{vehicleName}'.");

        var skip = ImmutableArray<string>.Empty;
        var expect = ImmutableDictionary.CreateBuilder<string, bool>(StringComparer.Ordinal);
        var settings = new OperatorProbeOptions();
        if (Map(root, "probes", "the scenario") is { } probes)
        {
            Known(probes, ["skip", "expect", "writableDirectory", "readOnlyPaths", "allowedCapabilities", "localTimeoutMs", "networkTimeoutMs", "enforcementWindowMs", "imageUser"], "probes");
            if (Get(probes, "imageUser") is { } iu)
            {
                // uid, uid:gid or uid:gid:group,group: the operator's ids when its image decides them and they cannot be learned.
                var userText = Str(probes, "imageUser", "probes") ?? "";
                var parts = userText.Split(':');
                static long? Id(string s) => long.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
                var groups = parts.Length > 2 ? parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Id).ToList() : [];
                if (parts.Length > 3 || Id(parts[0]) is null || (parts.Length > 1 && Id(parts[1]) is null) || groups.Any(g => g is null))
                {
                    throw Error(iu, $"probes.imageUser must be uid, uid:gid or uid:gid:group,group (numbers), got '{userText}'.");
                }
                settings = settings with { ImageUser = Id(parts[0]), ImageGroup = parts.Length > 1 ? Id(parts[1]) : null, ImageGroups = [.. groups.Select(g => g!.Value)] };
            }
            skip = List(probes, "skip", "probes");
            string AbsolutePath(YamlNode node, string value, string field) =>
                value.StartsWith('/') ? value : throw Error(node, $"probes.{field} must be an absolute path, got '{value}'.");
            int Milliseconds(string field, int fallback, bool allowZero = false) => Get(probes, field) switch
            {
                null => fallback,
                YamlScalarNode { Value: { } v } n => int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms <= 600_000 && (ms > 0 || allowZero)
                    ? ms : throw Error(n, $"probes.{field} must be a whole number of milliseconds from {(allowZero ? 0 : 1)} to 600000, got '{v}'."),
                var other => throw Error(other, $"probes.{field} must be a number."),
            };
            if (Get(probes, "writableDirectory") is { } wd)
            {
                settings = settings with { WritableDirectory = AbsolutePath(wd, Str(probes, "writableDirectory", "probes") ?? "", "writableDirectory") };
            }
            if (Get(probes, "readOnlyPaths") is { } rop)
            {
                var paths = List(probes, "readOnlyPaths", "probes");
                settings = settings with { ReadOnlyPaths = [.. paths.Select(p => AbsolutePath(rop, p, "readOnlyPaths"))] };
            }
            if (Get(probes, "allowedCapabilities") is { } caps)
            {
                var names = List(probes, "allowedCapabilities", "probes");
                foreach (var capability in names)
                {
                    try
                    {
                        _ = Capabilities.MaskOf([capability]);
                    }
                    catch (ArgumentException)
                    {
                        throw Error(caps, $"probes.allowedCapabilities: '{capability}' is not a Linux capability (e.g. NET_BIND_SERVICE).");
                    }
                }
                settings = settings with { AllowedCapabilities = [.. names.Select(Capabilities.Normalize)] };
            }
            settings = settings with
            {
                LocalTimeoutMs = Milliseconds("localTimeoutMs", settings.LocalTimeoutMs),
                NetworkTimeoutMs = Milliseconds("networkTimeoutMs", settings.NetworkTimeoutMs),
                EnforcementWindowMs = Milliseconds("enforcementWindowMs", settings.EnforcementWindowMs, allowZero: true),
            };
            if (Map(probes, "expect", "probes") is { } ex)
            {
                foreach (var (k, v) in ex.Children)
                {
                    var value = (v as YamlScalarNode)?.Value;
                    expect[((YamlScalarNode)k).Value!] = value switch
                    {
                        "allowed" => true,
                        "denied" => false,
                        _ => throw Error(v, $"probes.expect.{((YamlScalarNode)k).Value} must be allowed or denied, got '{value}'."),
                    };
                }
            }
        }

        var targets = ImmutableArray.CreateBuilder<EgressTarget>();
        if (Map(root, "egress", "the scenario") is { } egress)
        {
            Known(egress, ["allowPublic", "targets", "allowedCidrs"], "egress");
            var allowed = List(egress, "allowedCidrs", "egress");
            if (allowed.FirstOrDefault(c => !Harness.NetworkPolicies.AddressRanges.TryParse(c, out _)) is { } badCidr)
            {
                throw Error(Get(egress, "allowedCidrs")!, $"egress.allowedCidrs: '{badCidr}' is not a CIDR (such as 203.0.113.0/24).");
            }
            settings = settings with { AllowedEgressCidrs = allowed };
            var allowPublic = Str(egress, "allowPublic", "egress") is { } ap && (ap == "true" || (ap != "false" ? throw Error(Get(egress, "allowPublic")!, "egress.allowPublic must be true or false.") : false));
            if (Get(egress, "targets") is YamlSequenceNode list)
            {
                var index = 0;
                foreach (var item in list.Children)
                {
                    var where = $"egress.targets[{index++}]";
                    if (item is not YamlMappingNode t)
                    {
                        throw Error(item, $"{where} must be a mapping with name, url and address.");
                    }
                    Known(t, ["name", "url", "address"], where);
                    var tname = Str(t, "name", where) ?? throw Error(t, $"{where}.name is required.");
                    var url = Str(t, "url", where) is { } u && Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                        ? uri : throw Error(Get(t, "url") ?? t, $"{where}.url must be an http(s) URL.");
                    var addressText = Str(t, "address", where) ?? throw Error(t, $"{where}.address (an IP literal, for the TCP probe) is required.");
                    if (!IPAddress.TryParse(addressText, out var address))
                    {
                        throw Error(Get(t, "address")!, $"{where}.address must be an IP literal, got '{addressText}'.");
                    }
                    if (!allowPublic && !IsPrivate(address))
                    {
                        throw Error(Get(t, "address")!, $"{where} ({address}) is a public address; the harness probes public targets only when asked: set egress.allowPublic: true.");
                    }
                    targets.Add(new EgressTarget(tname, address.ToString(), url.Host, url.Port, null, url.Scheme));
                }
            }
        }

        var requireDigest = true;
        string? cosignKey = null;
        if (Map(root, "imagePolicy", "the scenario") is { } policy)
        {
            Known(policy, ["requireDigest", "cosign"], "imagePolicy");
            requireDigest = Str(policy, "requireDigest", "imagePolicy") != "false";
            if (Map(policy, "cosign", "imagePolicy") is { } cosign)
            {
                Known(cosign, ["key"], "imagePolicy.cosign");
                cosignKey = Str(cosign, "key", "imagePolicy.cosign") is { } k ? System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, k)) : null;
            }
        }

        if (Str(root, "rights", "the scenario") is { } rightsFile)
        {
            // The operator's declared rights (`harness rights lock`), relative to the scenario; its own errors name its lines.
            var rightsPath = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, rightsFile));
            if (!File.Exists(rightsPath))
            {
                throw Error(Get(root, "rights")!, $"rights: no file at {rightsPath} (`harness rights lock DIR > rights.yaml` writes one).");
            }
            settings = settings with { DeclaredRights = Rbac.DeclaredRights.Load(rightsPath) };
        }

        return new QualificationScenario
        {
            Path = path,
            Name = name ?? System.IO.Path.GetFileNameWithoutExtension(path),
            Namespace = Str(op, "namespace", "operator"),
            Deployment = deployment,
            Selector = selector,
            Container = Str(op, "container", "operator"),
            Manifests = [.. List(op, "manifests", "operator").Select(m => System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, m)))],
            LocalImages = List(op, "localImages", "operator"),
            Helm = Map(op, "helm", "operator") is { } helm ? ParseHelm(helm, baseDir) : HelmOptions.Default,
            Vehicle = vehicle,
            SkipProbes = skip,
            ExpectAllowed = expect.ToImmutable(),
            EgressTargets = targets.ToImmutable(),
            RequireDigest = requireDigest,
            CosignKey = cosignKey,
            ProbeSettings = settings,
            Waive = Waivers(root),
        };

        ImmutableArray<string> Waivers(YamlMappingNode r)
        {
            var names = List(r, "waive", "the scenario");
            if (names.FirstOrDefault(n => !Checklist.Waivable.Contains(n)) is { } unknown)
            {
                throw Error(Get(r, "waive")!, $"waive: '{unknown}' is not a checklist item or mission check; waivable: {string.Join(", ", Checklist.Waivable)}.");
            }
            return names;
        }
    }

    /// <summary>Loopback, private (RFC 1918, CGNAT, ULA) and link-local addresses; everything else is public.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (IPAddress.IsLoopback(address))
        {
            return true;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        var b = address.GetAddressBytes();
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? b[0] == 10 || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168) || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) || (b[0] == 169 && b[1] == 254)
            : (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
    }
}
