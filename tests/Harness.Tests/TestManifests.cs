namespace Harness.Tests;

/// <summary>Manifests the analysis tests share, so that each test writes only what it is about.</summary>
internal static class TestManifests
{
    /// <summary>
    /// The operator <c>ops/op</c> (a ServiceAccount and a Deployment running as it, image pinned) bound cluster-wide to
    /// the ClusterRole <c>op</c> holding <paramref name="rules"/> (a flow list's items, e.g. <c>{apiGroups: [''], ...}</c>).
    /// </summary>
    public static string OperatorWithClusterRole(string rules) => """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: op, namespace: ops}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: op, namespace: ops}
        spec:
          selector: {matchLabels: {app: op}}
          template:
            metadata: {labels: {app: op}}
            spec: {serviceAccountName: op, containers: [{name: op, image: "registry.example/op@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: op}
        rules: [@RULES]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: op}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
        subjects: [{kind: ServiceAccount, name: op, namespace: ops}]
        """.Replace("@RULES", rules, StringComparison.Ordinal);
}
