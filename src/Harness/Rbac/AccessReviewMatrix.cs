using System.Collections.Immutable;
using Harness.Probes;
using Harness.Verdicts;
using k8s;
using k8s.Models;

namespace Harness.Rbac;

/// <summary>One question put to the API server's authorizer about the ServiceAccount.</summary>
/// <param name="Id">Stable id (<c>sar.secrets.list.cluster</c>).</param>
/// <param name="Description">What it asks, in words.</param>
/// <param name="Check">The hardening check it belongs to.</param>
/// <param name="Attributes">The resource attributes asked about.</param>
public sealed record AccessQuestion(string Id, string Description, HardeningCheck Check, V1ResourceAttributes Attributes)
{
    /// <summary>The checklist items the answer counts for; by default those of its <see cref="Check"/>.</summary>
    public ImmutableArray<HardeningItem> Items
    {
        get => items ?? HardeningItems.Default(Check);
        init => items = value;
    }

    private readonly ImmutableArray<HardeningItem>? items;

    /// <inheritdoc/>
    public override string ToString() => Harness.Evidence.RecordText.Format(this);
}

/// <summary>The authorizer's answer to one question, judged.</summary>
/// <param name="Question">The question.</param>
/// <param name="Status">Passed when denied, Failed when allowed, Inconclusive when the control failed or the authorizer erred.</param>
/// <param name="Evidence">Allowed/denied, the authorizer's reason and any evaluation error.</param>
public sealed record AccessAnswer(AccessQuestion Question, ProbeStatus Status, string Evidence);

/// <summary>
/// A SubjectAccessReview matrix for the operator's ServiceAccount, asked from outside the pod: what it must not be
/// able to do (read Secrets, create pods elsewhere, create CRDs, change NetworkPolicies elsewhere, patch webhook
/// configurations and namespaces, impersonate, bind or escalate roles), plus a control it must be able to do (read
/// its own pods' namespace objects it was granted), which proves the questions reach the right identity.
/// </summary>
internal static class AccessReviewMatrix
{
    /// <summary>The questions for an account, with another namespace to ask about.</summary>
    public static ImmutableArray<AccessQuestion> Build(ServiceAccountRef account, string otherNamespace)
    {
        ArgumentNullException.ThrowIfNull(account);
        var ns = account.Namespace;
        static V1ResourceAttributes A(string verb, string group, string resource, string? ns, string? sub = null) =>
            new() { Verb = verb, Group = group, Resource = resource, NamespaceProperty = ns, Subresource = sub };
        return
        [
            new("sar.secrets.get", $"get Secrets in {ns}", HardeningCheck.SecretsNotReadable, A("get", "", "secrets", ns)),
            new("sar.secrets.list", $"list Secrets in {ns}", HardeningCheck.SecretsNotReadable, A("list", "", "secrets", ns)),
            new("sar.secrets.watch", $"watch Secrets in {ns}", HardeningCheck.SecretsNotReadable, A("watch", "", "secrets", ns)),
            new("sar.secrets.list.cluster", "list Secrets in all namespaces", HardeningCheck.SecretsNotReadable, A("list", "", "secrets", null)),
            new("sar.pods.create.other", $"create pods in {otherNamespace}", HardeningCheck.PrivilegeEscalationDenied, A("create", "", "pods", otherNamespace)),
            new("sar.pods.exec", $"exec into pods in {ns}", HardeningCheck.PrivilegeEscalationDenied, A("create", "", "pods", ns, "exec")),
            new("sar.crds.create", "create CustomResourceDefinitions", HardeningCheck.PrivilegeEscalationDenied, A("create", "apiextensions.k8s.io", "customresourcedefinitions", null)),
            new("sar.netpol.create.other", $"create NetworkPolicies in {otherNamespace}", HardeningCheck.PrivilegeEscalationDenied, A("create", "networking.k8s.io", "networkpolicies", otherNamespace)),
            new("sar.webhooks.mutating.patch", "patch MutatingWebhookConfigurations", HardeningCheck.PrivilegeEscalationDenied, A("patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", null)) { Items = [HardeningItem.WebhookCaPatch] },
            new("sar.webhooks.validating.patch", "patch ValidatingWebhookConfigurations", HardeningCheck.PrivilegeEscalationDenied, A("patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", null)) { Items = [HardeningItem.WebhookCaPatch] },
            new("sar.namespaces.patch", $"patch namespace {ns} (its PodSecurity labels)", HardeningCheck.PrivilegeEscalationDenied, new V1ResourceAttributes { Verb = "patch", Group = "", Resource = "namespaces", Name = ns }),
            new("sar.impersonate.users", "impersonate users", HardeningCheck.PrivilegeEscalationDenied, A("impersonate", "", "users", null)),
            new("sar.impersonate.serviceaccounts", "impersonate service accounts", HardeningCheck.PrivilegeEscalationDenied, A("impersonate", "", "serviceaccounts", null)),
            new("sar.clusterroles.bind", "bind cluster roles", HardeningCheck.PrivilegeEscalationDenied, A("bind", "rbac.authorization.k8s.io", "clusterroles", null)),
            new("sar.clusterroles.escalate", "escalate cluster roles", HardeningCheck.PrivilegeEscalationDenied, A("escalate", "rbac.authorization.k8s.io", "clusterroles", null)),
            .. Quarantine(ns, otherNamespace),
        ];
    }

    /// <summary>A CRD name no operator owns: a grant limited to the operator's own CRDs by resourceNames is denied it.</summary>
    public const string ForeignCrd = "quarantine-checks.harness.invalid";

    /// <summary>The API-quarantine questions (<see cref="HardeningCheck.ApiQuarantined"/>): each must be denied.</summary>
    public static ImmutableArray<AccessQuestion> Quarantine(string ns, string otherNamespace)
    {
        const string Admission = "admissionregistration.k8s.io";
        const string Rbac = "rbac.authorization.k8s.io";
        static AccessQuestion Q(string id, string description, string verb, string group, string resource, string? ns = null, string? name = null) =>
            new(id, description, HardeningCheck.ApiQuarantined, new V1ResourceAttributes { Verb = verb, Group = group, Resource = resource, NamespaceProperty = ns, Name = name });
        return
        [
            Q("sar.quarantine.vap.create", "create ValidatingAdmissionPolicies", "create", Admission, "validatingadmissionpolicies"),
            Q("sar.quarantine.vapb.create", "create ValidatingAdmissionPolicyBindings", "create", Admission, "validatingadmissionpolicybindings"),
            Q("sar.quarantine.webhooks.validating.create", "create ValidatingWebhookConfigurations", "create", Admission, "validatingwebhookconfigurations"),
            Q("sar.quarantine.webhooks.mutating.create", "create MutatingWebhookConfigurations", "create", Admission, "mutatingwebhookconfigurations"),
            Q("sar.quarantine.namespace-labels.other", $"patch namespace {otherNamespace} (its PodSecurity labels)", "patch", "", "namespaces", name: otherNamespace),
            Q("sar.quarantine.roles.other", $"create Roles in {otherNamespace}", "create", Rbac, "roles", otherNamespace),
            Q("sar.quarantine.rolebindings.other", $"create RoleBindings in {otherNamespace}", "create", Rbac, "rolebindings", otherNamespace),
            Q("sar.quarantine.clusterroles.create", "create ClusterRoles", "create", Rbac, "clusterroles"),
            Q("sar.quarantine.clusterrolebindings.create", "create ClusterRoleBindings", "create", Rbac, "clusterrolebindings"),
            Q("sar.quarantine.crds.foreign", $"update a CustomResourceDefinition not its own ({ForeignCrd})", "update", "apiextensions.k8s.io", "customresourcedefinitions", name: ForeignCrd),
            Q("sar.quarantine.crds.foreign.patch", $"patch a CustomResourceDefinition not its own ({ForeignCrd})", "patch", "apiextensions.k8s.io", "customresourcedefinitions", name: ForeignCrd),
            Q("sar.quarantine.kube-system.configmaps", "list ConfigMaps in kube-system", "list", "", "configmaps", "kube-system"),
            Q("sar.quarantine.kube-system.secrets", "get Secrets in kube-system", "get", "", "secrets", "kube-system"),
        ];
    }

    /// <summary>The SubjectAccessReview for an account and question.</summary>
    public static V1SubjectAccessReview Review(ServiceAccountRef account, V1ResourceAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(account);
        return new V1SubjectAccessReview
        {
            ApiVersion = "authorization.k8s.io/v1",
            Kind = "SubjectAccessReview",
            Spec = new V1SubjectAccessReviewSpec { User = account.UserName, Groups = [.. account.Groups], ResourceAttributes = attributes },
        };
    }

    /// <summary>Judges one answer: denied is Passed, allowed is Failed, an authorizer error or a failed control is Inconclusive.</summary>
    public static AccessAnswer Judge(AccessQuestion question, V1SubjectAccessReviewStatus status, bool controlAllowed)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(status);
        var evidence = $"{(status.Allowed ? "allowed" : "denied")}{(string.IsNullOrEmpty(status.Reason) ? "" : $": {status.Reason}")}{(string.IsNullOrEmpty(status.EvaluationError) ? "" : $" (evaluation error: {status.EvaluationError})")}";
        var verdict = !controlAllowed ? ProbeStatus.Inconclusive
            : status.Allowed ? ProbeStatus.Failed
            : !string.IsNullOrEmpty(status.EvaluationError) ? ProbeStatus.Inconclusive
            : ProbeStatus.Passed;
        return new AccessAnswer(question, verdict, controlAllowed ? evidence : $"{evidence}; control failed: the account was not allowed what it was granted, so denials prove nothing");
    }

    /// <summary>
    /// Asks every question. The control is a permission the account's own Role grants; without one, reading
    /// <c>/version</c>, which every authenticated identity may (weaker: it proves the authorizer answers, not the name).
    /// </summary>
    public static async Task<ImmutableArray<AccessAnswer>> AskAsync(IKubernetes client, ServiceAccountRef account, string otherNamespace, V1ResourceAttributes? control, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var controlReview = control is not null
            ? Review(account, control)
            : new V1SubjectAccessReview
            {
                ApiVersion = "authorization.k8s.io/v1",
                Kind = "SubjectAccessReview",
                Spec = new V1SubjectAccessReviewSpec { User = account.UserName, Groups = [.. account.Groups], NonResourceAttributes = new V1NonResourceAttributes { Path = "/version", Verb = "get" } },
            };
        var controlStatus = (await client.AuthorizationV1.CreateSubjectAccessReviewAsync(controlReview, cancellationToken: ct).ConfigureAwait(false)).Status;
        var answers = ImmutableArray.CreateBuilder<AccessAnswer>();
        foreach (var q in Build(account, otherNamespace))
        {
            // A review answered without a status (an authorizer or proxy that says nothing) is no answer: denied, with the
            // control then failing too, so the question is Inconclusive, never a pass and never a crash.
            var status = (await client.AuthorizationV1.CreateSubjectAccessReviewAsync(Review(account, q.Attributes), cancellationToken: ct).ConfigureAwait(false)).Status
                ?? new V1SubjectAccessReviewStatus { Allowed = false, Reason = "the API server answered the review without a status" };
            answers.Add(Judge(q, status, controlStatus?.Allowed == true));
        }
        return answers.ToImmutable();
    }

    /// <summary>
    /// A control question from the first plain rule the manifests grant the account (null if none), asked in the
    /// namespace it was deployed to (the manifests may name another).
    /// </summary>
    public static V1ResourceAttributes? ControlFrom(RbacModel model, ServiceAccountRef account, string deployedNamespace)
    {
        ArgumentNullException.ThrowIfNull(model);
        var grant = model.GrantsFor(account).FirstOrDefault(g => g.Rule.NonResourceUrls.IsEmpty && g.Rule.ResourceNames.IsEmpty
            && !g.Rule.Verbs.Contains("*") && !g.Rule.Resources.Any(r => r.Contains('*', StringComparison.Ordinal)));
        return grant is null ? null : new V1ResourceAttributes
        {
            Verb = grant.Rule.Verbs[0],
            Group = grant.Rule.ApiGroups.FirstOrDefault() ?? "",
            Resource = grant.Rule.Resources[0].Split('/')[0],
            Subresource = grant.Rule.Resources[0].Contains('/', StringComparison.Ordinal) ? grant.Rule.Resources[0].Split('/')[1] : null,
            NamespaceProperty = deployedNamespace,
        };
    }
}
