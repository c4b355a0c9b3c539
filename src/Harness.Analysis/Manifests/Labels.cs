using k8s.Models;

namespace Harness.Manifests;

/// <summary>Label selector matching as the API server does it (matchLabels and matchExpressions, ANDed).</summary>
public static class Labels
{
    /// <summary>The selector in the API's query syntax (<c>app=op,tier in (a,b),!legacy</c>) for list calls.</summary>
    public static string Selector(V1LabelSelector? selector)
    {
        if (selector is null)
        {
            return "";
        }
        var parts = (selector.MatchLabels ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value}")
            .Concat((selector.MatchExpressions ?? []).Select(e => e.OperatorProperty switch
            {
                "In" => $"{e.Key} in ({string.Join(",", e.Values ?? [])})",
                "NotIn" => $"{e.Key} notin ({string.Join(",", e.Values ?? [])})",
                "Exists" => e.Key,
                "DoesNotExist" => $"!{e.Key}",
                var op => throw new ArgumentException($"label selector operator '{op}' is not one of In, NotIn, Exists, DoesNotExist"),
            }));
        return string.Join(",", parts);
    }

    /// <summary>An equality-based selector (<c>app=widget,tier=control</c>) as match labels; a key alone matches the empty value. Pure.</summary>
    public static Dictionary<string, string> Parse(string selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        return selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim() : "", StringComparer.Ordinal);
    }

    /// <summary>Whether the labels satisfy the selector. A null selector matches nothing; an empty one matches everything.</summary>
    public static bool Matches(V1LabelSelector? selector, IDictionary<string, string>? labels)
    {
        if (selector is null)
        {
            return false;
        }
        labels ??= new Dictionary<string, string>();
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }
        foreach (var requirement in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(requirement.Key, out var actual);
            var values = requirement.Values ?? [];
            var ok = requirement.OperatorProperty switch
            {
                "In" => has && values.Contains(actual!),
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }
}
