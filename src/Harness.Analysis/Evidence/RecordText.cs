using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace Harness.Evidence;

/// <summary>
/// A readable text form for records that hold collections: the compiler's <c>ToString</c> prints
/// <c>System.Collections.Immutable.ImmutableArray`1[System.String]</c> for them, which tells a reader nothing.
/// Collections print their items, dictionaries their entries, long strings are cut.
/// </summary>
internal static class RecordText
{
    private const int MaxItems = 50;
    private const int MaxString = 300;

    /// <summary><c>TypeName { Prop = value, List = [a, b], Map = {k: v} }</c>.</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Text for ToString and messages: a property the trimmer removed is one nothing reads, and its absence from the text is harmless.")]
    public static string Format(object record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var type = record.GetType();
        var builder = new StringBuilder(type.Name).Append(" { ");
        var first = true;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.Name == "EqualityContract")
            {
                continue;
            }
            if (!first)
            {
                builder.Append(", ");
            }
            first = false;
            builder.Append(property.Name).Append(" = ");
            Append(builder, property.GetValue(record), depth: 0);
        }
        return builder.Append(first ? "}" : " }").ToString();
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Text for ToString and messages, as Format.")]
    private static void Append(StringBuilder builder, object? value, int depth)
    {
        switch (value)
        {
            case null:
                builder.Append("null");
                return;
            case var _ when value.GetType() is { IsGenericType: true } t && t.GetGenericTypeDefinition() == typeof(System.Collections.Immutable.ImmutableArray<>)
                && (bool)t.GetProperty("IsDefault")!.GetValue(value)!:
                builder.Append("default");
                return;
            case string s:
                builder.Append(s.Length > MaxString ? string.Concat(s.AsSpan(0, MaxString), "…") : s);
                return;
            case IFormattable f:
                builder.Append(f.ToString(null, CultureInfo.InvariantCulture));
                return;
            case IDictionary dictionary:
                builder.Append('{');
                var n = 0;
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (n++ >= MaxItems)
                    {
                        builder.Append(", …");
                        break;
                    }
                    builder.Append(n > 1 ? ", " : "").Append(entry.Key).Append(": ");
                    Append(builder, entry.Value, depth + 1);
                }
                builder.Append('}');
                return;
            case IEnumerable items when depth < 3:
                builder.Append('[');
                var i = 0;
                foreach (var item in items)
                {
                    if (i++ >= MaxItems)
                    {
                        builder.Append(", …");
                        break;
                    }
                    if (i > 1)
                    {
                        builder.Append(", ");
                    }
                    Append(builder, item, depth + 1);
                }
                builder.Append(']');
                return;
            default:
                builder.Append(value);
                return;
        }
    }
}
