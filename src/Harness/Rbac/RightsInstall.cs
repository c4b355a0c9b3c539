using System.Collections.Immutable;
using System.Text;
using k8s;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>Where and how often the in-cluster rights check runs (<see cref="RightsInstall.Render"/>).</summary>
public sealed record RightsInstallOptions
{
    /// <summary>The checker's namespace (created, PodSecurity <c>restricted</c>); default <c>harness-rights</c>.</summary>
    public string Namespace { get; init; } = "harness-rights";

    /// <summary>The CronJob's schedule; default every 30 minutes.</summary>
    public string Schedule { get; init; } = "*/30 * * * *";

    /// <summary>
    /// The API server's endpoint addresses as CIDRs (<c>kubectl get endpointslices -n default -l
    /// kubernetes.io/service-name=kubernetes</c>, plus the <c>kubernetes</c> Service's IP): the checker's only egress besides DNS.
    /// </summary>
    public ImmutableArray<string> ApiServerCidrs { get; init; } = [];

    /// <summary>The harness CLI image the CronJob runs (<c>eng/build-cli-image.sh</c> builds one); pin it by digest in production.</summary>
    public string Image { get; init; } = RightsInstall.DefaultImage;

    /// <inheritdoc/>
    public override string ToString() => Evidence.RecordText.Format(this);
}

/// <summary>
/// Declared rights, validated at any time (issue #27, item 3): the manifests that put a rights file on the cluster as an
/// <c>OperatorRights</c> object, with a CronJob that checks it there on a schedule and writes the result into its status.
/// Everything the checker may do is read-only on RBAC, plus reviews and its own status: it cannot grant itself anything.
/// </summary>
public static class RightsInstall
{
    /// <summary>The API group of <c>OperatorRights</c>.</summary>
    internal const string Group = "harness.dev";

    /// <summary>Its version.</summary>
    internal const string Version = "v1alpha1";

    /// <summary>Its plural (the resource).</summary>
    internal const string Plural = "operatorrights";

    /// <summary>The CLI image the harness builds, by its version.</summary>
    public const string DefaultImage = "harness.local/harness-cli:" + Qualification.Qualifier.Version;

    /// <summary>The name of the checker's account, role and CronJob.</summary>
    internal const string Checker = "harness-rights-checker";

    /// <summary>
    /// The install manifests for a rights file, in apply order: the CRD, the checker's namespace, account, ClusterRole and
    /// binding, the CronJob, and the object itself (the file's own text, comments kept). Pure.
    /// </summary>
    /// <param name="rightsText">The rights file's text (<c>harness rights lock</c> writes it).</param>
    /// <param name="rightsPath">Its path, for errors.</param>
    /// <param name="options">Namespace, schedule, image.</param>
    /// <exception cref="Manifests.ManifestException">The file is not a rights file, or has no <c>metadata.name</c>.</exception>
    public static string Render(string rightsText, string rightsPath, RightsInstallOptions options)
    {
        ArgumentNullException.ThrowIfNull(rightsText);
        ArgumentNullException.ThrowIfNull(options);
        var declared = DeclaredRights.Parse(rightsText, rightsPath);
        if (options.ApiServerCidrs.IsEmpty)
        {
            throw new ArgumentException("the checker's egress is default-deny but for DNS and the API server: give the API server's addresses (--api-server CIDR[,CIDR]; " +
                "`kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes` and `kubectl get svc kubernetes -n default` list them).", nameof(options));
        }
        if (string.IsNullOrEmpty(declared.Name))
        {
            throw new Manifests.ManifestException(rightsPath, 1, 1, "the rights object needs metadata.name: it is the name of the object on the cluster (`harness rights lock --name NAME`).");
        }
        var text = new StringBuilder();
        text.Append("# `harness rights install`: the OperatorRights CRD, the in-cluster checker and the rights object ").Append(declared.Name).Append('\n');
        text.Append("# (from ").Append(rightsPath).Append("). Apply with `kubectl apply -f -`; `kubectl get operatorrights` shows drift.\n");
        foreach (var o in Objects(declared.Name, options))
        {
            text.Append("---\n").Append(KubernetesYaml.Serialize(o).TrimEnd('\n')).Append('\n');
        }
        text.Append("---\n").Append(rightsText.TrimEnd('\n')).Append('\n');
        return text.ToString();
    }

    /// <summary>The CRD and the checker, as objects (the rights object is the file's own text). Pure.</summary>
    internal static ImmutableArray<object> Objects(string rightsName, RightsInstallOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = Checker, ["app.kubernetes.io/part-of"] = "harness" };
        return
        [
            Crd(),
            new V1Namespace
            {
                ApiVersion = "v1", Kind = "Namespace",
                Metadata = new V1ObjectMeta
                {
                    Name = options.Namespace,
                    Labels = new Dictionary<string, string>(labels)
                    {
                        ["pod-security.kubernetes.io/enforce"] = "restricted",
                        ["pod-security.kubernetes.io/enforce-version"] = "latest",
                    },
                },
            },
            new V1ServiceAccount
            {
                ApiVersion = "v1", Kind = "ServiceAccount",
                Metadata = new V1ObjectMeta { Name = Checker, NamespaceProperty = options.Namespace, Labels = labels },
                AutomountServiceAccountToken = true,
            },
            new V1ClusterRole
            {
                ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "ClusterRole",
                Metadata = new V1ObjectMeta { Name = Checker, Labels = labels },
                Rules = CheckerRules,
            },
            new V1ClusterRoleBinding
            {
                ApiVersion = "rbac.authorization.k8s.io/v1", Kind = "ClusterRoleBinding",
                Metadata = new V1ObjectMeta { Name = Checker, Labels = labels },
                RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = Checker },
                Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = Checker, NamespaceProperty = options.Namespace }],
            },
            CronJob(rightsName, options, labels),
            .. Policies(options, labels),
        ];
    }

    /// <summary>What the checker may do: read RBAC, ask reviews, read rights objects and write their status. Nothing else.</summary>
    internal static IList<V1PolicyRule> CheckerRules { get; } =
    [
        new() { ApiGroups = ["rbac.authorization.k8s.io"], Resources = ["roles", "clusterroles", "rolebindings", "clusterrolebindings"], Verbs = ["get", "list", "watch"] },
        new() { ApiGroups = ["authorization.k8s.io"], Resources = ["subjectaccessreviews"], Verbs = ["create"] },
        new() { ApiGroups = [Group], Resources = [Plural], Verbs = ["get", "list", "watch"] },
        new() { ApiGroups = [Group], Resources = [Plural + "/status"], Verbs = ["get", "update", "patch"] },
    ];

    private static V1CronJob CronJob(string rightsName, RightsInstallOptions options, Dictionary<string, string> labels) => new()
    {
        ApiVersion = "batch/v1", Kind = "CronJob",
        Metadata = new V1ObjectMeta { Name = Truncate($"{Checker}-{rightsName}", 52), NamespaceProperty = options.Namespace, Labels = labels },
        Spec = new V1CronJobSpec
        {
            Schedule = options.Schedule,
            ConcurrencyPolicy = "Forbid",
            SuccessfulJobsHistoryLimit = 1,
            FailedJobsHistoryLimit = 3,
            JobTemplate = new V1JobTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = labels },
                Spec = new V1JobSpec
                {
                    BackoffLimit = 0,
                    ActiveDeadlineSeconds = 300,
                    Template = new V1PodTemplateSpec
                    {
                        Metadata = new V1ObjectMeta { Labels = labels },
                        Spec = new V1PodSpec
                        {
                            ServiceAccountName = Checker,
                            RestartPolicy = "Never",
                            SecurityContext = new V1PodSecurityContext
                            {
                                RunAsNonRoot = true,
                                RunAsUser = 65532,
                                RunAsGroup = 65532,
                                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                            },
                            Containers =
                            [
                                new V1Container
                                {
                                    Name = "check",
                                    Image = options.Image,
                                    ImagePullPolicy = "IfNotPresent",
                                    Args = ["rights", "check", "--object", rightsName, "--write-status"],
                                    Env = [new V1EnvVar { Name = "DOTNET_gcServer", Value = "0" }],
                                    SecurityContext = new V1SecurityContext
                                    {
                                        AllowPrivilegeEscalation = false,
                                        ReadOnlyRootFilesystem = true,
                                        RunAsNonRoot = true,
                                        Capabilities = new V1Capabilities { Drop = ["ALL"] },
                                    },
                                    Resources = new V1ResourceRequirements
                                    {
                                        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("50m"), ["memory"] = new("64Mi") },
                                        Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("256Mi") },
                                    },
                                },
                            ],
                        },
                    },
                },
            },
        },
    };

    /// <summary>The CRD: cluster-scoped (rights span namespaces), a status subresource, and columns that show drift at a glance.</summary>
    internal static V1CustomResourceDefinition Crd()
    {
        static V1JSONSchemaProps Str() => new() { Type = "string" };
        var rule = new V1JSONSchemaProps { Type = "object", XKubernetesPreserveUnknownFields = true };
        return new V1CustomResourceDefinition
        {
            ApiVersion = "apiextensions.k8s.io/v1", Kind = "CustomResourceDefinition",
            Metadata = new V1ObjectMeta { Name = $"{Plural}.{Group}", Labels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "harness" } },
            Spec = new V1CustomResourceDefinitionSpec
            {
                Group = Group,
                Scope = "Cluster",
                Names = new V1CustomResourceDefinitionNames { Kind = DeclaredRights.Kind, ListKind = DeclaredRights.Kind + "List", Plural = Plural, Singular = "operatorright", ShortNames = ["oprights"] },
                Versions =
                [
                    new V1CustomResourceDefinitionVersion
                    {
                        Name = Version, Served = true, Storage = true,
                        Subresources = new V1CustomResourceSubresources { Status = new object() },
                        AdditionalPrinterColumns =
                        [
                            new V1CustomResourceColumnDefinition { Name = "Compliant", Type = "string", JsonPath = ".status.conditions[?(@.type==\"Compliant\")].status" },
                            new V1CustomResourceColumnDefinition { Name = "Excess", Type = "integer", JsonPath = ".status.excessCount" },
                            new V1CustomResourceColumnDefinition { Name = "Unused", Type = "integer", JsonPath = ".status.unusedCount", Priority = 1 },
                            new V1CustomResourceColumnDefinition { Name = "Last Checked", Type = "date", JsonPath = ".status.lastChecked" },
                            new V1CustomResourceColumnDefinition { Name = "Age", Type = "date", JsonPath = ".metadata.creationTimestamp" },
                        ],
                        Schema = new V1CustomResourceValidation
                        {
                            OpenAPIV3Schema = new V1JSONSchemaProps
                            {
                                Type = "object",
                                Properties = new Dictionary<string, V1JSONSchemaProps>
                                {
                                    ["apiVersion"] = Str(), ["kind"] = Str(), ["metadata"] = new() { Type = "object" },
                                    ["spec"] = new()
                                    {
                                        Type = "object", Required = ["accounts"],
                                        Properties = new Dictionary<string, V1JSONSchemaProps>
                                        {
                                            ["accounts"] = new()
                                            {
                                                Type = "array",
                                                Items = new V1JSONSchemaProps
                                                {
                                                    Type = "object", Required = ["serviceAccount"],
                                                    Properties = new Dictionary<string, V1JSONSchemaProps>
                                                    {
                                                        ["serviceAccount"] = new() { Type = "object", Required = ["namespace", "name"], Properties = new Dictionary<string, V1JSONSchemaProps> { ["namespace"] = Str(), ["name"] = Str() } },
                                                        ["rules"] = new() { Type = "array", Items = rule },
                                                    },
                                                },
                                            },
                                        },
                                    },
                                    ["status"] = new()
                                    {
                                        Type = "object",
                                        Properties = new Dictionary<string, V1JSONSchemaProps>
                                        {
                                            ["conditions"] = new() { Type = "array", Items = new V1JSONSchemaProps { Type = "object", XKubernetesPreserveUnknownFields = true } },
                                            ["excess"] = new() { Type = "array", Items = Str() },
                                            ["unused"] = new() { Type = "array", Items = Str() },
                                            ["excessCount"] = new() { Type = "integer" },
                                            ["unusedCount"] = new() { Type = "integer" },
                                            ["lastChecked"] = new() { Type = "string", Format = "date-time" },
                                            ["observedGeneration"] = new() { Type = "integer" },
                                        },
                                    },
                                },
                            },
                        },
                    },
                ],
            },
        };
    }

    // Default deny for the checker's namespace, then DNS to the cluster's resolver and the API server's addresses (443
    // for the Service, 6443 after its DNAT): a compromised checker can reach nothing else.
    private static V1NetworkPolicy[] Policies(RightsInstallOptions options, Dictionary<string, string> labels) =>
    [
        new()
        {
            ApiVersion = "networking.k8s.io/v1", Kind = "NetworkPolicy",
            Metadata = new V1ObjectMeta { Name = "default-deny", NamespaceProperty = options.Namespace, Labels = labels },
            Spec = new V1NetworkPolicySpec { PodSelector = new V1LabelSelector(), PolicyTypes = ["Ingress", "Egress"] },
        },
        new()
        {
            ApiVersion = "networking.k8s.io/v1", Kind = "NetworkPolicy",
            Metadata = new V1ObjectMeta { Name = Checker + "-egress", NamespaceProperty = options.Namespace, Labels = labels },
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = Checker } },
                PolicyTypes = ["Egress"],
                Egress =
                [
                    new V1NetworkPolicyEgressRule
                    {
                        To =
                        [
                            new V1NetworkPolicyPeer
                            {
                                NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "kube-system" } },
                                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["k8s-app"] = "kube-dns" } },
                            },
                        ],
                        Ports = [new V1NetworkPolicyPort { Protocol = "UDP", Port = (IntOrString)53 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = (IntOrString)53 }],
                    },
                    new V1NetworkPolicyEgressRule
                    {
                        To = [.. options.ApiServerCidrs.Select(c => new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = c } })],
                        Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = (IntOrString)443 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = (IntOrString)6443 }],
                    },
                ],
            },
        },
    ];

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max].TrimEnd('-');
}
