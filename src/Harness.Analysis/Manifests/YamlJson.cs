using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Harness.Manifests;

/// <summary>A YAML document as JSON, with YAML's plain-scalar types (null, booleans, integers, decimals); quoted and block scalars stay strings. Pure.</summary>
internal static class YamlJson
{
    /// <summary>The first document of <paramref name="yaml"/>.</summary>
    public static JsonNode? FromText(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return ToJson(stream.Documents[0].RootNode);
    }

    /// <summary>One node.</summary>
    public static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray([.. s.Children.Select(ToJson)]),
        YamlScalarNode sc => Scalar(sc),
        _ => null,
    };

    private static JsonNode? Scalar(YamlScalarNode s) => Scalar(s.Value, s.Style);

    /// <summary>A scalar by its text and style.</summary>
    public static JsonNode? Scalar(string? value, ScalarStyle style)
    {
        if (style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(value);
        }
        return value switch
        {
            null or "~" or "null" => null,
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            var v when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            var v when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && v.Contains('.', StringComparison.Ordinal) => JsonValue.Create(d),
            var v => JsonValue.Create(v),
        };
    }
}
