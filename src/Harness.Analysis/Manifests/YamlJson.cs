using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Harness.Manifests;

/// <summary>
/// A YAML document as JSON, with YAML's plain-scalar types (null, booleans, integers, decimals); quoted and block scalars
/// stay strings. One parser pass straight into JSON, anchors and aliases resolved; no node model in between. Pure.
/// </summary>
internal static class YamlJson
{
    /// <summary>The first document of <paramref name="yaml"/>; null when it is empty.</summary>
    /// <exception cref="YamlException">Invalid YAML, a key that is not a scalar, a duplicate key, an unknown alias.</exception>
    public static JsonNode? FromText(string yaml) => Read(yaml).Json;

    /// <summary>The first document of <paramref name="yaml"/> and where its root starts; null when it is empty.</summary>
    /// <exception cref="YamlException">Invalid YAML, a key that is not a scalar, a duplicate key, an unknown alias.</exception>
    public static (JsonNode? Json, Mark Start) Read(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        parser.Consume<StreamStart>();
        if (!parser.TryConsume<DocumentStart>(out _))
        {
            return (null, Mark.Empty);
        }
        var start = parser.Current?.Start ?? Mark.Empty;
        var anchors = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        return (ReadNode(parser, anchors), start);
    }

    private static JsonNode? ReadNode(IParser parser, Dictionary<string, JsonNode?> anchors)
    {
        JsonNode? node;
        AnchorName anchor;
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            node = Scalar(scalar.Value, scalar.Style);
            anchor = scalar.Anchor;
        }
        else if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            return anchors.TryGetValue(alias.Value.Value, out var target) ? target?.DeepClone()
                : throw new YamlException(alias.Start, alias.End, $"the alias *{alias.Value} names no anchor before it");
        }
        else if (parser.TryConsume<SequenceStart>(out var sequence))
        {
            var array = new JsonArray();
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                array.Add(ReadNode(parser, anchors));
            }
            node = array;
            anchor = sequence.Anchor;
        }
        else if (parser.TryConsume<MappingStart>(out var mapping))
        {
            var obj = new JsonObject();
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var at = parser.Current!;
                if (!parser.TryConsume<Scalar>(out var key))
                {
                    throw new YamlException(at.Start, at.End, "a mapping key must be a plain value, not a list or a map");
                }
                var value = ReadNode(parser, anchors);
                if (!obj.TryAdd(key.Value, value))
                {
                    throw new YamlException(key.Start, key.End, $"the key '{key.Value}' appears twice in this mapping");
                }
            }
            node = obj;
            anchor = mapping.Anchor;
        }
        else
        {
            var at = parser.Current!;
            throw new YamlException(at.Start, at.End, $"unexpected {at.GetType().Name}");
        }
        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = node;
        }
        return node;
    }

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
