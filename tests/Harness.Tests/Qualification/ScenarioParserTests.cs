using Harness.Manifests;
using Harness.Qualification;

namespace Harness.Tests.Qualification;

public sealed class ScenarioParserTests
{
    private const string Header = "apiVersion: harness.dev/v1alpha1\nkind: QualificationScenario\n";

    [Fact]
    public void Load_ShippedScenario_ResolvesPathsAgainstItsFolder()
    {
        var s = ScenarioParser.Load(RepoPaths.File("fixtures/scenarios/greeter-hardened.yaml"));

        s.Name.Should().Be("greeter-hardened");
        s.Namespace.Should().BeNull("deployed from manifests, each run gets namespaces of its own");
        s.Deployment.Should().Be("greeter-operator");
        s.Container.Should().Be("operator");
        s.Vehicle.Should().Be(Harness.Vehicles.VehicleKind.TwinPod);
        s.Manifests.Should().Equal(RepoPaths.File("fixtures/sample-operator/shared"), RepoPaths.File("fixtures/sample-operator/hardened"));
        s.LocalImages.Should().Equal("harness.local/greeter-operator:dev");
        s.RequireDigest.Should().BeTrue();
    }

    [Fact]
    public void Parse_ProbesAndTargets_AreRead()
    {
        var s = ScenarioParser.Parse(Header + """
            operator: {selector: "app=op"}
            probes:
              skip: [kernel.raw-socket]
              expect: {egress.lab.http: allowed, egress.lab.tcp: denied}
            egress:
              targets:
              - {name: lab, url: "http://10.1.2.3:8080/", address: 10.1.2.3}
            imagePolicy: {cosign: {key: keys/cosign.pub}}
            """, "/tmp/s/scenario.yaml");

        s.Selector.Should().Be("app=op");
        s.SkipProbes.Should().Equal("kernel.raw-socket");
        s.ExpectAllowed.Should().Contain("egress.lab.http", true).And.Contain("egress.lab.tcp", false);
        s.EgressTargets.Single().Should().Be(new Harness.Probes.EgressTarget("lab", "10.1.2.3", "10.1.2.3", 8080, null, "http"));
        s.CosignKey.Should().Be("/tmp/s/keys/cosign.pub");
    }

    [Theory]
    [InlineData("operator: {deployment: op}\nprobs: {}\n", "s.yaml:4:1: unknown field 'probs' in the scenario; expected apiVersion, kind, metadata, operator, vehicle, probes, egress, imagePolicy, waive, rights.")]
    [InlineData("operator: {deployment: op}\nrights: nope.yaml\n", "s.yaml:4:9: rights: no file at *nope.yaml (`harness rights lock DIR > rights.yaml` writes one).")]
    [InlineData("operator: {deployment: op}\nvehicle: sidecar\n", "s.yaml:4:10: vehicle must be one of twin-pod, ephemeral-container, direct-exec, docker, got 'sidecar'.")]
    [InlineData("operator: {namespace: ns}\n", "s.yaml:3:11: operator needs exactly one of deployment and selector.")]
    [InlineData("operator: {deployment: op, image: x}\n", "s.yaml:3:28: unknown field 'image' in operator; expected namespace, deployment, selector, container, manifests, localImages, helm.")]
    [InlineData("operator: {deployment: op}\nprobes:\n  expect: {fs.root: maybe}\n", "s.yaml:5:21: probes.expect.fs.root must be allowed or denied, got 'maybe'.")]
    [InlineData("operator: {deployment: op}\negress:\n  targets:\n  - {name: ex, url: \"https://example.com/\", address: 93.184.215.14}\n", "s.yaml:6:54: egress.targets[0] (93.184.215.14) is a public address; the harness probes public targets only when asked: set egress.allowPublic: true.")]
    [InlineData("operator: {deployment: op}\negress:\n  targets:\n  - {name: ex, url: \"ftp://x/\", address: 10.0.0.1}\n", "s.yaml:6:21: egress.targets[0].url must be an http(s) URL.")]
    [InlineData("operator: {deployment: [op]}\n", "s.yaml:3:24: operator.deployment must be a string.")]
    [InlineData("operator: {deployment: op\n", "s.yaml:4:1: While parsing a flow mapping, did not find expected ',' or '}'.")]
    [InlineData("operator: {deployment: op}\nwaive: [images-signed, everything]\n", "s.yaml:4:8: waive: 'everything' is not a checklist item or mission check; waivable: namespace-psa, rootfs-readonly, capabilities-dropped, no-privilege-escalation, seccomp, non-root, egress-default-deny, serviceaccount-least-privilege, serviceaccount-token, images-pinned, images-signed, webhook-ca-patch, api-quarantine, payload-separation, webhook-tls, rights-declared, EgressDenied, RootFilesystemReadOnly, PrivilegeEscalationDenied, SecretsNotReadable.")]
    [InlineData("operator: {deployment: op}\nprobes: {writableDirectory: cache}\n", "s.yaml:4:29: probes.writableDirectory must be an absolute path, got 'cache'.")]
    [InlineData("operator: {deployment: op}\nprobes: {readOnlyPaths: [/, etc]}\n", "s.yaml:4:25: probes.readOnlyPaths must be an absolute path, got 'etc'.")]
    [InlineData("operator: {deployment: op}\nprobes: {allowedCapabilities: [NET_BIND_SERVICE, FLY]}\n", "s.yaml:4:31: probes.allowedCapabilities: 'FLY' is not a Linux capability (e.g. NET_BIND_SERVICE).")]
    [InlineData("operator: {deployment: op}\nprobes: {networkTimeoutMs: 0}\n", "s.yaml:4:28: probes.networkTimeoutMs must be a whole number of milliseconds from 1 to 600000, got '0'.")]
    [InlineData("operator: {deployment: op}\nprobes: {localTimeoutMs: soon}\n", "s.yaml:4:26: probes.localTimeoutMs must be a whole number of milliseconds from 1 to 600000, got 'soon'.")]
    public void Parse_BadScenario_NamesLineColumnAndProblem(string body, string message)
    {
        var act = () => ScenarioParser.Parse(Header + body, "s.yaml");

        act.Should().Throw<ManifestException>().WithMessage(message);
    }

    [Fact]
    public void Parse_ProbeSettings_ReachTheProbePlan()
    {
        // An operator whose emptyDir is at /cache (issue #11, item 4): its filesystem control must write there.
        var s = ScenarioParser.Parse(Header + """
            operator: {deployment: op}
            probes:
              writableDirectory: /cache
              readOnlyPaths: [/, /opt/app]
              allowedCapabilities: [net_bind_service, CAP_NET_RAW]
              localTimeoutMs: 2000
              networkTimeoutMs: 1500
            """, "s.yaml");

        var options = s.ProbeOptions();
        var plan = Harness.Probes.StandardProbes.Create(options.StandardOptions([], Harness.Vehicles.VehicleKind.TwinPod));

        plan.Probes.Single(p => p.Id == "fs.writable").Attempt.Target.Should().Be("/cache");
        plan.Probes.Single(p => p.Id == "fs.root").Control!.Step.Target.Should().Be(Harness.Images.ProbeImageLayout.Scratch, "the control writes where the harness knows it can, not in the operator's directory");
        plan.Probes.Where(p => p.Id.StartsWith("fs.", StringComparison.Ordinal)).Select(p => p.Id).Should().Equal("fs.root", "fs.opt-app", "fs.serviceaccount", "fs.writable");
        plan.Probes.Single(p => p.Id == "proc.capabilities").AllowedCapabilities.Should().Equal("CAP_NET_BIND_SERVICE", "CAP_NET_RAW");
        plan.Probes.Single(p => p.Id == "kernel.setuid").Attempt.TimeoutMs.Should().Be(2000);
        plan.Probes.Single(p => p.Id == "api.self").Attempt.TimeoutMs.Should().Be(3000, "API steps take twice the network timeout");
    }

    [Fact]
    public void ProbeOptions_Defaults_KeepTheCanaryOnlyWhereTheProbeImageIsTheRoot()
    {
        var options = new Harness.Probes.OperatorProbeOptions();

        options.StandardOptions([], Harness.Vehicles.VehicleKind.TwinPod).ReadOnlyPaths.Should().Equal("/", "/etc", "/usr", "/probe/rootfs-canary");
        options.StandardOptions([], Harness.Vehicles.VehicleKind.EphemeralContainer).ReadOnlyPaths.Should().Equal("/", "/etc", "/usr");
        options.StandardOptions([], Harness.Vehicles.VehicleKind.DirectExec).ReadOnlyPaths.Should().Equal("/", "/etc", "/usr");
        FluentActions.Invoking(() => (options with { WritableDirectory = "tmp" }).Validate()).Should().Throw<ArgumentException>().WithMessage("writableDirectory must be an absolute path*");
    }

    [Fact]
    public void Parse_WrongKind_SaysWhatItMustBe()
    {
        var act = () => ScenarioParser.Parse("apiVersion: harness.dev/v1alpha1\nkind: Scenario\noperator: {deployment: op}\n", "s.yaml");

        act.Should().Throw<ManifestException>().WithMessage("s.yaml:2:7: kind must be QualificationScenario, got 'Scenario'.");
    }

    [Fact]
    public void Parse_PublicTargetWhenAllowed_IsAccepted()
    {
        var s = ScenarioParser.Parse(Header + "operator: {deployment: op}\negress:\n  allowPublic: true\n  targets:\n  - {name: ex, url: \"https://example.com/\", address: 93.184.215.14}\n", "s.yaml");

        s.EgressTargets.Single().Url.Should().Be("https://example.com:443/");
    }

    [Theory]
    [InlineData("10.0.0.1", true)]
    [InlineData("172.18.0.2", true)]
    [InlineData("192.168.1.1", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("fd00::1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("172.32.0.1", false)]
    [InlineData("2001:db8::1", false)]
    public void IsPrivate_KnowsThePrivateRanges(string address, bool expected)
    {
        ScenarioParser.IsPrivate(System.Net.IPAddress.Parse(address)).Should().Be(expected);
    }

    [Fact]
    public void Parse_ImageUserAllowedCidrsAndVehicle_ReachTheProbeOptions()
    {
        var s = ScenarioParser.Parse(Header + """
            operator: {deployment: op}
            vehicle: ephemeral-container
            probes: {imageUser: "65534:65534:2000"}
            egress: {allowedCidrs: [198.51.100.0/24]}
            """, "/tmp/s/scenario.yaml");

        var options = s.ProbeOptions();
        options.Vehicle.Should().Be(Harness.Vehicles.VehicleKind.EphemeralContainer, "the run must use the vehicle the scenario names");
        (options.ImageUser, options.ImageGroup).Should().Be((65534L, 65534L));
        options.ImageGroups.Should().Equal(2000L);
        options.AllowedEgressCidrs.Should().Equal("198.51.100.0/24");
    }

    [Theory]
    [InlineData("probes: {imageUser: nobody}", "probes.imageUser must be uid")]
    [InlineData("egress: {allowedCidrs: [example.com]}", "egress.allowedCidrs: 'example.com' is not a CIDR")]
    public void Parse_BadIdentityOrCidr_NamesTheField(string yaml, string message)
    {
        var act = () => ScenarioParser.Parse(Header + "operator: {deployment: op}\n" + yaml, "/tmp/s/scenario.yaml");

        act.Should().Throw<ManifestException>().WithMessage($"*{message}*");
    }
}
