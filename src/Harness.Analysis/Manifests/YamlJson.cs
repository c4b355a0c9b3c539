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
    /// <param name="yaml">The document.</param>
    /// <param name="versionSchemasUnread">
    /// A CustomResourceDefinition's reading: each <c>spec.versions[].schema</c> is parsed and checked as everything else
    /// is (syntax, keys, duplicate keys) but becomes an empty object, not a JSON tree (nothing judges schemas; they are
    /// most of a release bundle's bytes). Falls back to a whole read when an anchor in a schema could be named outside it.
    /// </param>
    /// <exception cref="YamlException">Invalid YAML, a key that is not a scalar, a duplicate key, an unknown alias.</exception>
    public static (JsonNode? Json, Mark Start) Read(string yaml, bool versionSchemasUnread = false)
    {
        var parser = new Parser(new StringReader(yaml));
        parser.Consume<StreamStart>();
        if (!parser.TryConsume<DocumentStart>(out _))
        {
            return (null, Mark.Empty);
        }
        var start = parser.Current?.Start ?? Mark.Empty;
        var anchors = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        try
        {
            return (ReadNode(parser, anchors, versionSchemasUnread ? Place.Root : Place.Elsewhere), start);
        }
        catch (AnchorInSchema)
        {
            return Read(yaml);
        }
    }

    // Where a node is, on the way to spec.versions[].schema (the only place whose value is left unread).
    private enum Place
    {
        Elsewhere,
        Root,
        Spec,
        Versions,
        Version,
        Schema,
    }

    private sealed class AnchorInSchema : Exception;

    private static Place Inside(Place place, string key) => (place, key) switch
    {
        (Place.Root, "spec") => Place.Spec,
        (Place.Spec, "versions") => Place.Versions,
        (Place.Version, "schema") => Place.Schema,
        _ => Place.Elsewhere,
    };

    // A schema's events, checked as ReadNode checks them (mapping keys are scalars and unique), into nothing.
    private static void Skip(IParser parser)
    {
        var at = parser.Current!;
        if (at is NodeEvent { Anchor.IsEmpty: false })
        {
            throw new AnchorInSchema();
        }
        if (parser.TryConsume<Scalar>(out _) || parser.TryConsume<AnchorAlias>(out _))
        {
            return;
        }
        if (parser.TryConsume<SequenceStart>(out _))
        {
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                Skip(parser);
            }
            return;
        }
        if (parser.TryConsume<MappingStart>(out _))
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyAt = parser.Current!;
                if (!parser.TryConsume<Scalar>(out var key))
                {
                    throw new YamlException(keyAt.Start, keyAt.End, "a mapping key must be a plain value, not a list or a map");
                }
                if (!key.Anchor.IsEmpty)
                {
                    throw new AnchorInSchema();
                }
                if (!keys.Add(key.Value))
                {
                    throw new YamlException(key.Start, key.End, $"the key '{key.Value}' appears twice in this mapping");
                }
                Skip(parser);
            }
            return;
        }
        throw new YamlException(at.Start, at.End, $"unexpected {at.GetType().Name}");
    }

    private static JsonNode? ReadNode(IParser parser, Dictionary<string, JsonNode?> anchors, Place place = Place.Elsewhere)
    {
        if (place == Place.Schema)
        {
            Skip(parser);
            return new JsonObject();
        }
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
                array.Add(ReadNode(parser, anchors, place == Place.Versions ? Place.Version : Place.Elsewhere));
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
                var value = ReadNode(parser, anchors, place == Place.Elsewhere ? place : Inside(place, key.Value));
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
        // YAML 1.2's core schema, which kubectl and the API server read: an empty value is null like ~ (Helm output is full
        // of `replicas: ` and `securityContext: `), and null, true and false come in three spellings each.
        return value switch
        {
            null or "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            var v when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            var v when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && v.Contains('.', StringComparison.Ordinal) => JsonValue.Create(d),
            var v => JsonValue.Create(v),
        };
    }
}
