using Harness.Clusters;
using k8s;
using Harness.Deployment;
using Harness.Manifests;
using Harness.Rbac;
using Harness.Runs;
using Harness.Tests.Deployment;

namespace Harness.Tests.Rbac;

/// <summary>
/// Issue #27 item 4: the harness's own rights per mode, each proven by running the mode against the loopback API server
/// enforcing exactly those rights (an RBAC authorizer answering with the real 403s), and the check that names the mode
/// and the missing rule before anything is created.
/// </summary>
public sealed class SelfRightsTests
{
    /// <summary>Whether one of the rights covers the request, as RBAC matches a rule.</summary>
    private static bool Allows(IEnumerable<SelfRight> rights, FakeKubeApiServer.ResourceRequest request)
    {
        var resource = request.Subresource is null ? request.Resource : $"{request.Resource}/{request.Subresource}";
        return rights.Any(r => (r.Namespace is null || r.Namespace == request.Namespace)
            && (r.Rule.Verbs.Contains(request.Verb) || r.Rule.Verbs.Contains("*"))
            && (r.Rule.ApiGroups.Contains(request.Group) || r.Rule.ApiGroups.Contains("*"))
            && (r.Rule.Resources.Contains(resource) || r.Rule.Resources.Contains("*"))
            && (r.Rule.ResourceNames.IsEmpty || (request.Name is not null && r.Rule.ResourceNames.Contains(request.Name))));
    }

    private static async Task<List<ManifestDocument>> SampleAsync() =>
        (await OperatorDeployment.LoadManifestsAsync(SharedClusterTests.Sample("hardened").Manifests, HelmOptions.Default, TextWriter.Null)).Documents;

    [Fact]
    public async Task Deploy_WithExactlyItsRights_AppliesRollsOutAndRemovesTheSample_WithoutA403()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var rights = SelfRights.For(HarnessMode.Deploy, null, await SampleAsync());
        api.Authorize = r => Allows(rights, r);
        await using var cluster = SharedClusterTests.Cluster(api);
        using var client = api.Client();
        var session = SessionId.Parse("self1");

        await using (await SessionLease.AcquireAsync(client, session, ct: ct))
        {
            await using var deployed = await OperatorDeployment.DeployAsync(cluster, SharedClusterTests.Sample("hardened"), session, TextWriter.Null, ct: ct);
            deployed.Target.PodName.Should().NotBeNull();
        }

        api.Denied.Should().BeEmpty("the deploy mode's rights are all it asks for");
        api.Requests.Should().Contain(r => r.StartsWith("PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/", StringComparison.Ordinal), "it applied the operator's roles, holding what they grant");
    }

    [Fact]
    public async Task Deploy_WithoutOneRule_IsRefusedWithTheRealMessage_AndThePrecheckNamesItBeforeCreatingAnything()
    {
        // The enforcement can fail a run: the line the release manager saw on staging (issue #27).
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var all = SelfRights.For(HarnessMode.Deploy, null, await SampleAsync());
        bool CreatesNamespaces(SelfRight r) => r.Rule.Resources.Contains("namespaces") && r.Namespace is null && r.Rule.Verbs.Contains("create");
        var lacking = all.Select(r => CreatesNamespaces(r) ? r with { Rule = r.Rule with { Verbs = [.. r.Rule.Verbs.Remove("create")] } } : r).ToList();
        api.Authorize = r => Allows(lacking, r);
        await using var cluster = SharedClusterTests.Cluster(api);
        using var client = api.Client();
        var before = api.Keys;

        var precheck = () => SelfRights.RequireAsync(client, [(HarnessMode.Deploy, all)], ct);

        (await precheck.Should().ThrowAsync<PrerequisiteException>()).Which.Message.Should()
            .Contain("mode deploy needs create on namespaces (cluster-wide) for the run's namespace").And.Contain("nothing was created").And.Contain("harness rights self --mode deploy");
        api.Keys.Should().Equal(before, "the check only asks");
        api.Requests.Should().OnlyContain(r => r.StartsWith("POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews", StringComparison.Ordinal));

        var deploy = () => OperatorDeployment.DeployAsync(cluster, SharedClusterTests.Sample("hardened"), SessionId.Parse("self2"), TextWriter.Null, ct: ct);
        (await deploy.Should().ThrowAsync<Exception>()).Which.ToString().Should()
            .Contain("is forbidden: User \\u0022system:serviceaccount:team-a:releaser\\u0022 cannot create resource \\u0022namespaces\\u0022 in API group \\u0022\\u0022 at the cluster scope");
    }

    [Fact]
    public async Task Qualify_OnAClusterWhoseCredentialLacksARight_NamesTheModeAndRule_AndCreatesNothing()
    {
        // The release manager's case (issue #27): admin in one namespace, qualify stops before its first object.
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        api.Authorize = r => r.Namespace == "team-a" || r is { Group: "", Resource: "namespaces", Verb: "get" };
        var kubeconfig = await api.WriteKubeconfigAsync(ct);
        var before = api.Keys;
        try
        {
            var (exit, output, error) = await CliRunner.RunAsync("qualify", "--kubeconfig", kubeconfig, "--scenario", RepoPaths.File("fixtures/scenarios/greeter-hardened.yaml"),
                "--probe-image", "registry.example/harness/probe@sha256:" + new string('0', 64), "--output", Path.Combine(Path.GetTempPath(), "harness-self-qualify"));

            exit.Should().Be(2, output + error);
            error.Should().Contain("mode deploy needs").And.Contain("this credential may not (SelfSubjectAccessReview: denied); nothing was created")
                .And.Contain("harness rights self --mode deploy");
            output.Should().Contain("rights: checking this credential for modes deploy, verification, payload before anything is created");
            api.Keys.Should().Equal(before, "no Lease, no namespace, nothing");
            api.Requests.Where(r => !r.StartsWith("GET", StringComparison.Ordinal)).Should().OnlyContain(r => r.Contains("selfsubjectaccessreviews", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Payload_WithExactlyItsRights_TakesTheInventory_WithoutA403()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var manifests = await SampleAsync();
        var rights = SelfRights.For(HarnessMode.Payload, null, manifests);
        api.Authorize = r => Allows(rights, r);
        using var client = api.Client();
        var workload = manifests.Single(d => d.Kind == "Deployment");
        var op = new OperatorUnderTest(Harness.Vehicles.TargetDiscovery.FromWorkload(workload.Object!), manifests, [], "restricted");

        var report = await Harness.Payload.PayloadInventory.TakeAsync(client, op, TimeSpan.FromSeconds(1), [], new RunSession(ct: ct));

        api.Denied.Should().BeEmpty();
        report.Tested.Should().BeFalse("no custom resource exists on this cluster; the inventory ran all the same: " + string.Join("; ", report.Evidence));
        api.Requests.Should().Contain(r => r.StartsWith("GET /apis/demo.harness.dev/v1/greetings", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Find_WithExactlyItsRights_FindsTheOperatorReadsItsNamespaceAndTokensAndAsksTheMatrix_WithoutA403()
    {
        // The API side of find mode (the twin pod's exec is a kubelet's, which this server is not).
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var manifests = await SampleAsync();
        using var client = api.Client();
        // The operator, installed by someone else (the server's Deployment controller and kubelet start its pod).
        await client.CoreV1.CreateNamespaceAsync((k8s.Models.V1Namespace)manifests.Single(d => d.Kind == "Namespace").Object!, cancellationToken: ct);
        await client.AppsV1.CreateNamespacedDeploymentAsync((k8s.Models.V1Deployment)manifests.Single(d => d.Kind == "Deployment").Object!, "greeter-system", cancellationToken: ct);
        var kubelet = api.Created;
        api.Created = (server, obj) =>
        {
            kubelet?.Invoke(server, obj);
            if ((string?)obj["kind"] == "SubjectAccessReview")
            {
                obj["status"] = new System.Text.Json.Nodes.JsonObject { ["allowed"] = false }; // the operator's account may do none of it
            }
        };
        var rights = SelfRights.For(HarnessMode.Find, "greeter-system", manifests);
        api.Authorize = r => Allows(rights, r);

        var target = await Harness.Vehicles.TargetDiscovery.FindAsync(client, "greeter-system", "greeter-operator", null, ct: ct);
        var enforce = await ClusterStages.NamespaceEnforceAsync(client, "greeter-system", ct);
        await ClusterStages.ForeignTokenMountsAsync(client, target, ct);
        await AccessReviewMatrix.AskAsync(client, new ServiceAccountRef("greeter-system", target.ServiceAccount), "kube-system", new k8s.Models.V1ResourceAttributes { Verb = "get", Resource = "configmaps", NamespaceProperty = "greeter-system" }, ct);

        api.Denied.Should().BeEmpty();
        enforce.Should().Be("restricted");
    }

    private sealed class SilentControl : Harness.Vehicles.IProbeVehicle
    {
        public string Name => "control";

        public System.Collections.Immutable.ImmutableArray<string> Notes => [];

        public Task<Harness.Protocol.AgentReport> RunAsync(Harness.Protocol.AgentPlan plan, CancellationToken ct = default) =>
            Task.FromResult(new Harness.Protocol.AgentReport { AgentVersion = "test", Results = [] });
    }

    // The sample's webhook as an operator would declare it; its caBundle is injected at run time.
    private const string GreeterWebhook = """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingWebhookConfiguration
        metadata: {name: greeter-validation}
        webhooks:
        - name: greetings.demo.harness.dev
          admissionReviewVersions: [v1]
          sideEffects: None
          clientConfig:
            service: {namespace: greeter-system, name: greeter-webhook, port: 443, path: /validate}
            caBundle: ""
        """;

    [Fact]
    public async Task WebhookTls_WithExactlyItsRights_ReadsTheWebhooksAndTheirServices_WithoutA403()
    {
        // The API side of webhook-tls mode; the TLS handshakes run in the control pod (a stand-in here that answers nothing).
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var webhook = ManifestLoader.LoadText(GreeterWebhook + "\n---\n" + """
            apiVersion: v1
            kind: Service
            metadata: {name: greeter-webhook, namespace: greeter-system}
            spec: {clusterIP: 10.96.0.42, ports: [{port: 443, targetPort: 9443}]}
            """, "webhook.yaml");
        foreach (var doc in webhook)
        {
            api.Seed(k8s.KubernetesJson.Serialize(doc.Object), "kubectl");
        }
        // Its backend is up: the check waits for a ready endpoint of the Service before it judges the webhook.
        api.Seed("""{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"greeter-webhook-x1","namespace":"greeter-system","labels":{"kubernetes.io/service-name":"greeter-webhook"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.0.9"],"conditions":{"ready":true}}],"ports":[{"port":9443}]}""", "endpointslice-controller");
        var manifests = (await SampleAsync()).Concat(webhook).ToList();
        var rights = SelfRights.For(HarnessMode.WebhookTls, "greeter-system", manifests);
        api.Authorize = r => Allows(rights, r);
        using var client = api.Client();
        var workload = manifests.Single(d => d.Kind == "Deployment");
        var op = new OperatorUnderTest(Harness.Vehicles.TargetDiscovery.FromWorkload(workload.Object!), manifests, [], "restricted");

        var report = await Harness.Webhooks.WebhookTls.CheckAsync(client, op, new SilentControl(), 1000, new RunSession(ct: ct));

        api.Denied.Should().BeEmpty();
        report.Tested.Should().BeTrue(string.Join("; ", report.Evidence));
        api.Requests.Should().Contain(r => r.StartsWith("GET /api/v1/namespaces/greeter-system/services/greeter-webhook", StringComparison.Ordinal));
        api.Requests.Should().Contain(r => r.StartsWith("GET /apis/discovery.k8s.io/v1/namespaces/greeter-system/endpointslices", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebhookTls_AServiceThatDoesNotExist_FailsTheWebhook_NotTheRun()
    {
        // Issue #36: a webhook whose Service is missing is a verdict (every call the API server makes fails), not an abort.
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        var webhook = ManifestLoader.LoadText(GreeterWebhook, "webhook.yaml");
        api.Seed(k8s.KubernetesJson.Serialize(webhook[0].Object), "kubectl");
        var manifests = (await SampleAsync()).Concat(webhook).ToList();
        using var client = api.Client();
        var op = new OperatorUnderTest(Harness.Vehicles.TargetDiscovery.FromWorkload(manifests.Single(d => d.Kind == "Deployment").Object!), manifests, [], "restricted");

        var report = await Harness.Webhooks.WebhookTls.CheckAsync(client, op, new SilentControl(), 1000, new RunSession(ct: ct));

        report.Status.Should().Be(Harness.Verdicts.ProbeStatus.Failed);
        report.Evidence.Should().ContainSingle().Which.Should().Contain("its Service greeter-system/greeter-webhook does not exist");
    }

    [Fact]
    public async Task Verification_WithExactlyItsRights_RunsThePodSecurityCheckAndTheCanaryUpToItsExec_WithoutA403()
    {
        // The canary's connections are execs into its client pod: a kubelet's work, which this server does not do; everything
        // before them (namespaces, the dry run, the canary pods, waiting for them) runs under exactly the mode's rights.
        var ct = TestContext.Current.CancellationToken;
        await using var api = await SharedClusterTests.ClusterAsync(ct);
        api.Admit = obj => (string?)obj["kind"] == "Pod" && (bool?)obj["spec"]?["hostPID"] == true
            ? FakeKubeApiServer.Forbidden($"pods \"{(string?)obj["metadata"]?["name"]}\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true)")
            : null;
        var kubelet = api.Created;
        api.Created = (server, obj) =>
        {
            kubelet?.Invoke(server, obj);
            if ((string?)obj["kind"] == "Pod")
            {
                obj["status"] = new System.Text.Json.Nodes.JsonObject { ["phase"] = "Running", ["podIP"] = "10.244.0.7", ["conditions"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["type"] = "Ready", ["status"] = "True" }) };
            }
        };
        var rights = SelfRights.For(HarnessMode.Verification, null, []);
        api.Authorize = r => Allows(rights, r);
        using var client = api.Client();
        var session = SessionId.Parse("verify1");

        var psa = await ClusterVerification.VerifyPodSecurityAsync(client, session, ct);
        var canary = () => ClusterVerification.VerifyNetworkPolicyAsync(client, session, "harness.local/probe:test", "fake", ct: ct);
        await canary.Should().ThrowAsync<Exception>("the exec needs a kubelet");

        psa.Should().Contain("violates PodSecurity");
        api.Denied.Should().BeEmpty();
        api.Requests.Should().Contain(r => r.Contains("/pods/harness-canary-client/exec", StringComparison.Ordinal), "it got as far as the exec, authorized");
    }

    [Fact]
    public async Task Cli_RightsSelf_PrintsRolesAndBindings_AndAnOperatorRightsObjectTheCheckReads()
    {
        var rbac = await CliRunner.RunAsync("rights", "self", "--mode", "find", "--namespace", "team-a", "--subject", "ServiceAccount:team-a/releaser");
        rbac.Exit.Should().Be(0, rbac.Err);
        var docs = ManifestLoader.LoadText(rbac.Out, "self.yaml");
        docs.Select(d => d.Kind).Should().Equal("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Role", "RoleBinding");
        docs.Where(d => d.Kind == "Role").Select(d => d.Namespace).Should().Equal("default", "team-a");

        var dir = Directory.CreateTempSubdirectory("harness-self-");
        try
        {
            var rights = await CliRunner.RunAsync("rights", "self", "--mode", "find", "--namespace", "team-a", "--subject", "ServiceAccount:team-a/releaser", "--format", "rights");
            rights.Exit.Should().Be(0, rights.Err);
            var declared = DeclaredRights.Parse(rights.Out, "self-rights.yaml");
            declared.Accounts.Single().Account.Should().Be(new ServiceAccountRef("team-a", "releaser"));
            declared.Accounts.Single().Rules.Should().Contain(r => r.Namespace == "team-a" && r.Rule.Resources.Contains("pods/exec"));

            // The printed RBAC grants exactly the declared rights: locking it gives no excess.
            var path = Path.Combine(dir.FullName, "rights.yaml");
            await File.WriteAllTextAsync(path, rights.Out, TestContext.Current.CancellationToken);
            var check = await CliRunner.RunAsync("rights", "check", "--rights", path, WriteAll(dir, rbac.Out));
            check.Out.Should().NotContain("RIGHTS-EXCESS", "what rights self grants is what it declares");
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        var missing = await CliRunner.RunAsync("rights", "self", "--mode", "find");
        missing.Exit.Should().Be(2);
        missing.Err.Should().Contain("--mode find needs --namespace");
        var badSubject = await CliRunner.RunAsync("rights", "self", "--mode", "verification", "--subject", "releaser");
        badSubject.Exit.Should().Be(2);
        badSubject.Err.Should().Contain("User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME");
    }

    private static string WriteAll(DirectoryInfo dir, string rbac)
    {
        var folder = Directory.CreateDirectory(Path.Combine(dir.FullName, "rbac"));
        // A workload running as the subject, so the check has an account to read.
        File.WriteAllText(Path.Combine(folder.FullName, "rbac.yaml"), rbac);
        File.WriteAllText(Path.Combine(folder.FullName, "runner.yaml"), """
            apiVersion: batch/v1
            kind: Job
            metadata: {name: harness, namespace: team-a}
            spec:
              template:
                spec:
                  serviceAccountName: releaser
                  restartPolicy: Never
                  containers: [{name: harness, image: harness.local/harness-cli:0.1.0}]
            """);
        return folder.FullName;
    }

    [Fact]
    public void Plural_NamesBuiltInResources()
    {
        SelfRights.Plural("NetworkPolicy").Should().Be("networkpolicies");
        SelfRights.Plural("Ingress").Should().Be("ingresses");
        SelfRights.Plural("Endpoints").Should().Be("endpoints");
        SelfRights.Plural("Deployment").Should().Be("deployments");
        SelfRights.Plural("Gateway").Should().Be("gateways");
    }
}
