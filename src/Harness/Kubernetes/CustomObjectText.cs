namespace Harness.Kubernetes;

/// <summary>What the client's custom-object calls return (a <see cref="System.Text.Json.JsonElement"/>, or a model), as JSON text.</summary>
internal static class CustomObjectText
{
    /// <summary>The object as JSON text. Pure.</summary>
    public static string Of(object found) => found is System.Text.Json.JsonElement e ? e.GetRawText() : k8s.KubernetesJson.Serialize(found);
}
