using Harness.Probes;
using Xunit;

namespace Harness.Xunit;

/// <summary>
/// The mission's four checks as facts. <c>public class MyOperatorHardening : OperatorHardeningTests&lt;MyOperatorFixture&gt; {}</c>
/// gives them for your operator; each failure prints the evidence and the control that made it trustworthy.
/// </summary>
/// <typeparam name="TFixture">The operator's fixture.</typeparam>
public abstract class OperatorHardeningTests<TFixture> : IClassFixture<TFixture>
    where TFixture : class, IOperatorFixture
{
    /// <summary>The fixture of this class.</summary>
    protected static async Task<TFixture> FixtureAsync() =>
        await TestContext.Current.GetFixture<TFixture>().ConfigureAwait(false)
        ?? throw new InvalidOperationException($"{typeof(TFixture).Name} is not a fixture of this test class.");

    /// <summary>Asserts one check of the fixture's report (skips or fails with the fixture's reason when there is none).</summary>
    protected static async Task Check(HardeningCheck check)
    {
        var fixture = await FixtureAsync().ConfigureAwait(false);
        var report = fixture.RequireReport();
        TestContext.Current.TestOutputHelper?.WriteLine($"{report.Target.Workload} via {report.Probes.Vehicle}; timings: {Runs.PhaseClock.Format(report.Timings)}");
        report[check].Should().Pass(fixture.AllowInconclusive);
    }

    /// <summary>Egress to the internet (the harness's sink outside the cluster, by address and by name, HTTP and HTTPS) is denied by a network mechanism, while a pod without the policy reaches it.</summary>
    [Fact]
    public Task EgressToTheInternetIsDenied() => Check(HardeningCheck.EgressDenied);

    /// <summary>Writes to <c>/</c>, <c>/etc</c>, <c>/usr</c> and a world-writable directory of the image fail with EROFS, while the pod's scratch directory accepts them.</summary>
    [Fact]
    public Task RootFilesystemIsReadOnly() => Check(HardeningCheck.RootFilesystemReadOnly);

    /// <summary>setuid(0), a setuid-root helper, unshare, mount, chroot and raw sockets fail in the kernel; a privileged pod and pods in other namespaces are refused by the API; the ServiceAccount cannot escalate, bind, impersonate or patch webhooks.</summary>
    [Fact]
    public Task PrivilegeEscalationIsDenied() => Check(HardeningCheck.PrivilegeEscalationDenied);

    /// <summary>The pod's own token cannot list Secrets in its namespace or cluster-wide (RBAC 403, while the same token authenticates), and the authorizer says the same for get/list/watch.</summary>
    [Fact]
    public Task ServiceAccountCannotReadSecrets() => Check(HardeningCheck.SecretsNotReadable);
}

/// <summary>
/// Opt-in facts beyond the mission's four (which it includes): the ServiceAccount's quarantine in the API (admission
/// objects, PodSecurity labels and RBAC outside its namespace, foreign CRDs, kube-system configuration), each a
/// SubjectAccessReview with the same control as the access matrix; the pod's token exposure (no long-lived or unbound
/// token); the payload the operator creates (Pod Security, its own account, RBAC); and its webhooks' TLS. <c>public class MyOperatorHardening : OperatorExtendedHardeningTests&lt;MyOperatorFixture&gt; {}</c>
/// </summary>
/// <typeparam name="TFixture">The operator's fixture.</typeparam>
public abstract class OperatorExtendedHardeningTests<TFixture> : OperatorHardeningTests<TFixture>
    where TFixture : class, IOperatorFixture
{
    /// <summary>The authorizer refuses every quarantine question for the operator's ServiceAccount, while it allows a permission the operator was granted.</summary>
    [Fact]
    public Task ApiIsQuarantined() => Check(HardeningCheck.ApiQuarantined);

    /// <summary>The pod holds no token, or one bound to the pod that expires or is rotated within a day (read from its claims; the token is never printed).</summary>
    [Fact]
    public Task ServiceAccountTokenIsBoundAndShortLived() => Check(HardeningCheck.TokenBound);

    /// <summary>
    /// What the operator creates for its custom resources meets restricted, does not run as its account and gets no
    /// dangerous RBAC. Skipped, with the reason, when there is nothing to inventory (no CRD or no custom resource in the manifests).
    /// </summary>
    [Fact]
    public Task PayloadIsSeparated() => CheckWhereApplicable(HardeningCheck.PayloadSeparated);

    /// <summary>
    /// Every Service-backed webhook's certificate is verified by the caBundle alone, for the Service's name, unexpired,
    /// with the name-check control holding. Skipped, with the reason, when the manifests declare no admission webhook.
    /// </summary>
    [Fact]
    public Task WebhookTlsIsVerified() => CheckWhereApplicable(HardeningCheck.WebhookTlsVerified);

    /// <summary>
    /// The operator's account has no right on the cluster beyond its rights file (<c>harness rights lock</c>), every
    /// binding that reaches it counted, each excess confirmed by a SubjectAccessReview. Skipped, with the reason, when the
    /// fixture gives no rights file (<see cref="OperatorProbeOptions.DeclaredRights"/>).
    /// </summary>
    [Fact]
    public Task RightsAreAsDeclared() => CheckWhereApplicable(HardeningCheck.RightsDeclared);

    /// <summary>Like <see cref="OperatorHardeningTests{TFixture}.Check"/>, but a check with nothing to judge (no webhook, no custom resource) skips with the report's reason instead of failing.</summary>
    protected static async Task CheckWhereApplicable(HardeningCheck check)
    {
        var report = (await FixtureAsync().ConfigureAwait(false)).RequireReport();
        var outcome = report[check];
        Assert.SkipWhen(!outcome.Tested, $"{check} does not apply here: {string.Join("; ", outcome.Evidence)}");
        await Check(check).ConfigureAwait(false);
    }
}
