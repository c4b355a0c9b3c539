namespace Harness.Scenarios;

/// <summary>
/// What the weak sample must fail, by probe or access-question id, whichever vehicle looked. The live tests find the
/// check each id counts for in the declarations the run itself carries (never a check written here), and the offline
/// tests (Harness.Tests links this file) hold every id against the standard plan and the access matrix, so a renamed
/// probe or a probe moved to another check fails CI, not only a live run nobody watches.
/// </summary>
public static class WeakSampleCatches
{
    /// <summary>The ids that must fail, and why.</summary>
    public static readonly IReadOnlyList<(string Id, string Why)> Failed =
    [
        ("egress.sink.tcp", "it has no NetworkPolicy: the sink answers"),
        ("fs.root", "its root filesystem is writable"),
        ("api.pod.privileged", "its account may create a privileged pod and the namespace does not enforce restricted"),
        ("proc.non-root", "the operator's process runs as root"),
        ("kernel.setuid", "setuid(0) works: it runs as root with privilege escalation allowed"),
        ("api.secrets.namespace", "its role reads Secrets"),
        ("sar.quarantine.kube-system.configmaps", "its cluster-wide role reads ConfigMaps everywhere"),
        ("sar.quarantine.crds.foreign", "it may update any CRD"),
    ];
}
