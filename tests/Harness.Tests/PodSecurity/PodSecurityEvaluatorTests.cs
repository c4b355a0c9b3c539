using Harness.Manifests;
using Harness.PodSecurity;

namespace Harness.Tests.PodSecurity;

public sealed class PodSecurityEvaluatorTests
{
    // A pod that restricted:latest allows; each test changes one thing.
    private const string Compliant = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
        spec:
          securityContext:
            runAsNonRoot: true
            seccompProfile: {type: RuntimeDefault}
          containers:
          - name: app
            image: x
            securityContext:
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL]}
        """;

    private static PodSecurityResult Evaluate(string yaml, string level = "restricted", string version = "latest")
    {
        var doc = ManifestLoader.LoadText(yaml, "pod.yaml").Single();
        PodTemplates.TryGet(doc.Object, out var metadata, out var spec).Should().BeTrue();
        return PodSecurityEvaluator.Evaluate(metadata, spec!, Enum.Parse<PodSecurityLevel>(level, true), PolicyVersion.Parse(version));
    }

    private static string With(string containerSecurity = "", string podSpec = "", string podSecurity = "", string metadata = "")
    {
        var yaml = Compliant;
        if (containerSecurity.Length > 0)
        {
            yaml = yaml.Replace("      capabilities: {drop: [ALL]}", "      capabilities: {drop: [ALL]}\n      " + containerSecurity, StringComparison.Ordinal);
        }
        if (podSecurity.Length > 0)
        {
            yaml = yaml.Replace("    seccompProfile: {type: RuntimeDefault}", "    seccompProfile: {type: RuntimeDefault}\n    " + podSecurity, StringComparison.Ordinal);
        }
        if (podSpec.Length > 0)
        {
            yaml = yaml.Replace("  containers:", "  " + podSpec.Replace("\n", "\n  ", StringComparison.Ordinal) + "\n  containers:", StringComparison.Ordinal);
        }
        if (metadata.Length > 0)
        {
            yaml = yaml.Replace("  name: p", "  name: p\n  " + metadata.Replace("\n", "\n  ", StringComparison.Ordinal), StringComparison.Ordinal);
        }
        return yaml;
    }

    [Fact]
    public void Evaluate_CompliantPod_IsAllowedAtEveryLevelAndVersion()
    {
        foreach (var level in new[] { "baseline", "restricted" })
        {
            foreach (var version in new[] { "v1.0", "v1.22", "v1.25", "v1.35", "latest", "v1.99" })
            {
                Evaluate(Compliant, level, version).Allowed.Should().BeTrue($"{level}:{version}");
            }
        }
    }

    [Fact]
    public void Evaluate_PrivilegeEscalationNotSet_UsesTheApiServersWording()
    {
        var result = Evaluate(Compliant.Replace("allowPrivilegeEscalation: false", "readOnlyRootFilesystem: true", StringComparison.Ordinal));

        result.Allowed.Should().BeFalse();
        result.Message.Should().Be("violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)");
        result.Violations.Single().CheckId.Should().Be("allowPrivilegeEscalation");
    }

    [Fact]
    public void Evaluate_AllowPrivilegeEscalation_AppliesFromV18Only()
    {
        var yaml = Compliant.Replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", StringComparison.Ordinal);

        Evaluate(yaml, version: "v1.7").Allowed.Should().BeTrue();
        Evaluate(yaml, version: "v1.8").Allowed.Should().BeFalse();
        Evaluate(yaml, level: "baseline").Allowed.Should().BeTrue();
    }

    [Theory]
    [InlineData("privileged: true", "privileged")]
    [InlineData("capabilities: {drop: [ALL], add: [NET_RAW]}", "capabilities_restricted")]
    [InlineData("procMount: Unmasked", "procMount_restricted")]
    [InlineData("seLinuxOptions: {type: spc_t}", "seLinuxOptions")]
    [InlineData("seLinuxOptions: {user: system_u}", "seLinuxOptions")]
    [InlineData("seccompProfile: {type: Unconfined}", "seccompProfile_restricted")]
    [InlineData("runAsUser: 0", "runAsUser")]
    [InlineData("runAsNonRoot: false", "runAsNonRoot")]
    [InlineData("windowsOptions: {hostProcess: true}", "windowsHostProcess")]
    [InlineData("appArmorProfile: {type: Unconfined}", "appArmorProfile")]
    public void Evaluate_ForbiddenContainerSetting_FailsItsOwnCheck(string setting, string check)
    {
        var yaml = setting.StartsWith("capabilities", StringComparison.Ordinal)
            ? Compliant.Replace("capabilities: {drop: [ALL]}", setting, StringComparison.Ordinal)
            : With(containerSecurity: setting);

        var result = Evaluate(yaml);

        result.Violations.Select(v => v.CheckId).Should().Contain(check);
    }

    [Theory]
    [InlineData("hostNetwork: true", "hostNamespaces", "host namespaces (hostNetwork=true)")]
    [InlineData("hostPID: true", "hostNamespaces", "host namespaces (hostPID=true)")]
    [InlineData("volumes: [{name: h, hostPath: {path: /}}]", "restrictedVolumes", "restricted volume types (volume \"h\" uses restricted volume type \"hostPath\")")]
    [InlineData("volumes: [{name: n, nfs: {server: s, path: /}}]", "restrictedVolumes", "restricted volume types (volume \"n\" uses restricted volume type \"nfs\")")]
    public void Evaluate_ForbiddenPodSetting_FailsWithItsDetail(string setting, string check, string text)
    {
        var result = Evaluate(With(podSpec: setting));

        result.Violations.Should().ContainSingle(v => v.CheckId == check).Which.ToString().Should().Be(text);
    }

    [Fact]
    public void Evaluate_HostPathAtBaseline_IsTheBaselineCheck()
    {
        var result = Evaluate(With(podSpec: "volumes: [{name: h, hostPath: {path: /}}]"), level: "baseline");

        result.Violations.Single().ToString().Should().Be("hostPath volumes (volume \"h\")");
    }

    [Fact]
    public void Evaluate_ImageAndSourcelessVolumes_AreAllowedByRestricted()
    {
        Evaluate(With(podSpec: "volumes: [{name: i, image: {reference: x}}, {name: e}]")).Allowed.Should().BeTrue();
    }

    [Theory]
    [InlineData("v1.26", false)]
    [InlineData("v1.27", true)]
    public void Evaluate_ReservedPortsSysctl_BecameSafeInV127(string version, bool allowed)
    {
        var yaml = With(podSecurity: "sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: '30000'}]");

        Evaluate(yaml, "baseline", version).Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("net.ipv4.tcp_rmem", "v1.31", false)]
    [InlineData("net.ipv4.tcp_rmem", "v1.32", true)]
    [InlineData("net.ipv4.tcp_notsent_lowat", "v1.36", false)]
    [InlineData("net.ipv4.tcp_notsent_lowat", "v1.37", true)]
    [InlineData("net.ipv4.tcp_notsent_lowat", "latest", true)]
    [InlineData("kernel.msgmax", "latest", false)]
    public void Evaluate_Sysctls_FollowTheSafeListOfEachVersion(string sysctl, string version, bool allowed)
    {
        var yaml = With(podSecurity: $"sysctls: [{{name: {sysctl}, value: '1'}}]");

        var result = Evaluate(yaml, "baseline", version);

        result.Allowed.Should().Be(allowed);
        if (!allowed)
        {
            result.Violations.Single().ToString().Should().Be($"forbidden sysctls ({sysctl})");
        }
    }

    [Theory]
    [InlineData("v1.30", false)]
    [InlineData("v1.31", true)]
    public void Evaluate_ContainerEngineSeLinuxType_AllowedFromV131(string version, bool allowed)
    {
        Evaluate(With(containerSecurity: "seLinuxOptions: {type: container_engine_t}"), "baseline", version).Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("v1.33", true)]
    [InlineData("v1.34", false)]
    public void Evaluate_ProbeHost_ForbiddenFromV134(string version, bool allowed)
    {
        var yaml = Compliant.Replace("    image: x", "    image: x\n    livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}", StringComparison.Ordinal);

        var result = Evaluate(yaml, "baseline", version);

        result.Allowed.Should().Be(allowed);
        if (!allowed)
        {
            result.Violations.Single().ToString().Should().Be("probe or lifecycle host (container \"app\" uses probe or lifecycle host \"10.0.0.1\")");
        }
    }

    [Theory]
    [InlineData("baseline", "v1.34", false)]
    [InlineData("baseline", "v1.35", true)]
    [InlineData("restricted", "v1.35", false)]
    public void Evaluate_UnmaskedProcMountInUserNamespace_RelaxedForBaselineFromV135Only(string level, string version, bool allowed)
    {
        var yaml = With(containerSecurity: "procMount: Unmasked", podSpec: "hostUsers: false");

        Evaluate(yaml, level, version).Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("v1.34", false)]
    [InlineData("v1.35", true)]
    public void Evaluate_RootInUserNamespace_RelaxedFromV135(string version, bool allowed)
    {
        var yaml = Compliant.Replace("runAsNonRoot: true", "runAsUser: 0", StringComparison.Ordinal)
            .Replace("spec:\n", "spec:\n  hostUsers: false\n", StringComparison.Ordinal);

        Evaluate(yaml, "restricted", version).Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("v1.24", false)]
    [InlineData("v1.25", true)]
    public void Evaluate_WindowsPod_ExemptFromLinuxOnlyChecksFromV125(string version, bool allowed)
    {
        var yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: w}
            spec:
              os: {name: windows}
              securityContext: {runAsNonRoot: true}
              containers: [{name: app, image: x}]
            """;

        Evaluate(yaml, "restricted", version).Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("v1.18", false)]
    [InlineData("v1.19", true)]
    public void Evaluate_UnconfinedSeccompAnnotation_CheckedBeforeV119Only(string version, bool allowed)
    {
        var yaml = With(metadata: "annotations: {seccomp.security.alpha.kubernetes.io/pod: unconfined}");

        Evaluate(yaml, "baseline", version).Allowed.Should().Be(allowed);
    }

    [Fact]
    public void Evaluate_UnconfinedAppArmorAnnotation_IsForbiddenAtEveryVersion()
    {
        var yaml = With(metadata: "annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}");

        Evaluate(yaml, "baseline", "v1.0").Violations.Single().CheckId.Should().Be("appArmorProfile");
        Evaluate(yaml, "baseline", "latest").Allowed.Should().BeFalse();
    }

    [Fact]
    public void Evaluate_SeccompUnsetEverywhere_NamesPodOrContainers()
    {
        var yaml = Compliant.Replace("    seccompProfile: {type: RuntimeDefault}\n", "", StringComparison.Ordinal);

        Evaluate(yaml).Violations.Single().ToString()
            .Should().Be("seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")");
    }

    [Fact]
    public void Evaluate_CapabilitiesBeforeV122_OnlyBaselineAddListApplies()
    {
        var yaml = Compliant.Replace("capabilities: {drop: [ALL]}", "capabilities: {add: [CHOWN]}", StringComparison.Ordinal);

        Evaluate(yaml, "restricted", "v1.21").Allowed.Should().BeTrue();
        Evaluate(yaml, "restricted", "v1.22").Violations.Single().CheckId.Should().Be("capabilities_restricted");
    }

    [Fact]
    public void Evaluate_EphemeralAndInitContainers_AreCheckedLikeContainers()
    {
        var yaml = Compliant + """

              initContainers:
              - name: init
                image: x
                securityContext: {privileged: true}
              ephemeralContainers:
              - name: debug
                image: x
                securityContext: {privileged: true}
            """;

        var privileged = Evaluate(yaml, "baseline").Violations.Single();

        privileged.ToString().Should().Be("privileged (containers \"init\", \"debug\" must not set securityContext.privileged=true)");
    }

    [Fact]
    public void CheckIds_Restricted_ReplacesTheBaselineChecksItOverrides()
    {
        var ids = PodSecurityEvaluator.CheckIds(PodSecurityLevel.Restricted, PolicyVersion.Latest);

        ids.Should().Contain(["restrictedVolumes", "seccompProfile_restricted", "capabilities_restricted", "procMount_restricted", "hostProbesAndHostLifecycle"]);
        ids.Should().NotContain(["hostPathVolumes", "seccompProfile_baseline", "capabilities_baseline", "procMount"]);
        PodSecurityEvaluator.CheckIds(PodSecurityLevel.Restricted, PolicyVersion.Parse("v1.18")).Should().Contain("seccompProfile_baseline");
        PodSecurityEvaluator.CheckIds(PodSecurityLevel.Privileged, PolicyVersion.Latest).Should().BeEmpty();
    }

    [Theory]
    [InlineData("latest", true, 0)]
    [InlineData("v1.25", false, 25)]
    [InlineData("1.30", false, 30)]
    public void PolicyVersion_Parse_AcceptsLabelSpellings(string text, bool latest, int minor)
    {
        var v = PolicyVersion.Parse(text);

        v.IsLatest.Should().Be(latest);
        v.Minor.Should().Be(minor);
    }

    [Theory]
    [InlineData("v2.0")]
    [InlineData("1")]
    [InlineData("newest")]
    [InlineData("")]
    public void PolicyVersion_Parse_RejectsOtherText(string text)
    {
        var act = () => PolicyVersion.Parse(text);

        act.Should().Throw<FormatException>().WithMessage("*latest*v1.MINOR*");
    }

    [Fact]
    public void PolicyVersion_Latest_SortsAfterEveryPinnedVersion()
    {
        (PolicyVersion.Latest > PolicyVersion.Of(1, 99)).Should().BeTrue();
        (PolicyVersion.Of(1, 9) < PolicyVersion.Of(1, 10)).Should().BeTrue();
        PodSecurityEvaluator.NewestVersion.Should().Be(PolicyVersion.Of(1, 37));
    }
}
