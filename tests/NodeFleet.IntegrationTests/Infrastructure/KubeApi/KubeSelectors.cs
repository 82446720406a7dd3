using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>
/// Label selectors (the query grammar: =, ==, !=, in, notin, exists, !exists; and metav1.LabelSelector objects)
/// and the field selectors the API server supports for pods and nodes.
/// </summary>
internal sealed class KubeSelectors
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _terms = [];

    public bool Matches(IReadOnlyDictionary<string, string> labels) => _terms.All(t => t(labels));

    public static KubeSelectors Everything { get; } = new();

    /// <summary>Parses a labelSelector query value; throws FormatException naming the bad term.</summary>
    public static KubeSelectors ParseLabels(string? query)
    {
        var selector = new KubeSelectors();
        foreach (var raw in SplitTerms(query ?? ""))
        {
            var term = raw.Trim();
            if (term.Length == 0) continue;
            if (term.Contains(" notin ", StringComparison.Ordinal) || term.Contains(" in ", StringComparison.Ordinal))
            {
                var not = term.Contains(" notin ", StringComparison.Ordinal);
                var parts = term.Split(not ? " notin " : " in ", 2);
                var set = parts[1].Trim().TrimStart('(').TrimEnd(')').Split(',').Select(v => v.Trim()).ToHashSet();
                var key = parts[0].Trim();
                selector._terms.Add(l => l.TryGetValue(key, out var v) ? set.Contains(v) != not : not);
            }
            else if (term.Contains("!=", StringComparison.Ordinal))
            {
                var (key, value) = Pair(term, "!=");
                selector._terms.Add(l => !l.TryGetValue(key, out var v) || v != value);
            }
            else if (term.Contains('='))
            {
                var (key, value) = Pair(term, term.Contains("==", StringComparison.Ordinal) ? "==" : "=");
                selector._terms.Add(l => l.TryGetValue(key, out var v) && v == value);
            }
            else if (term.StartsWith('!')) { var key = term[1..].Trim(); selector._terms.Add(l => !l.ContainsKey(key)); }
            else selector._terms.Add(l => l.ContainsKey(term));
        }
        return selector;
    }

    /// <summary>A metav1.LabelSelector (matchLabels and matchExpressions), as a PodDisruptionBudget carries it.</summary>
    public static KubeSelectors FromObject(JsonObject? selectorObject)
    {
        var selector = new KubeSelectors();
        if (selectorObject is null) return selector;
        if (selectorObject["matchLabels"] is JsonObject ml)
            foreach (var (k, v) in ml)
            {
                var value = (string?)v;
                selector._terms.Add(l => l.TryGetValue(k, out var x) && x == value);
            }
        if (selectorObject["matchExpressions"] is JsonArray exprs)
            foreach (var e in exprs.OfType<JsonObject>())
            {
                var key = (string)e["key"]!;
                var values = (e["values"] as JsonArray)?.Select(v => (string?)v).ToHashSet() ?? [];
                selector._terms.Add((string?)e["operator"] switch
                {
                    "In" => l => l.TryGetValue(key, out var v) && values.Contains(v),
                    "NotIn" => l => !l.TryGetValue(key, out var v) || !values.Contains(v),
                    "Exists" => l => l.ContainsKey(key),
                    "DoesNotExist" => l => !l.ContainsKey(key),
                    var op => throw new FormatException($"unknown label selector operator {op}"),
                });
            }
        return selector;
    }

    /// <summary>
    /// A fieldSelector over the fields the API server indexes for pods (metadata.name, metadata.namespace,
    /// spec.nodeName, status.phase) and nodes (metadata.name, spec.unschedulable); others are a 400 there and here.
    /// </summary>
    public static Func<JsonObject, bool> ParseFields(string? query, string resource)
    {
        var tests = new List<Func<JsonObject, bool>>();
        foreach (var raw in SplitTerms(query ?? ""))
        {
            var term = raw.Trim();
            if (term.Length == 0) continue;
            var negate = term.Contains("!=", StringComparison.Ordinal);
            var (field, value) = Pair(term, negate ? "!=" : term.Contains("==", StringComparison.Ordinal) ? "==" : "=");
            Func<JsonObject, string> read = (resource, field) switch
            {
                (_, "metadata.name") => o => KubeJson.Name(o),
                ("pods", "metadata.namespace") => o => KubeJson.Namespace(o) ?? "",
                ("pods", "spec.nodeName") => o => (string?)o["spec"]?["nodeName"] ?? "",
                ("pods", "status.phase") => o => (string?)o["status"]?["phase"] ?? "",
                ("nodes", "spec.unschedulable") => o => ((bool?)o["spec"]?["unschedulable"] ?? false) ? "true" : "false",
                _ => throw new FormatException($"field label not supported: {field}"),
            };
            tests.Add(o => (read(o) == value) != negate);
        }
        return o => tests.All(t => t(o));
    }

    private static (string Key, string Value) Pair(string term, string op)
    {
        var at = term.IndexOf(op, StringComparison.Ordinal);
        return (term[..at].Trim(), term[(at + op.Length)..].Trim());
    }

    // Commas separate terms except inside the parentheses of an in/notin set.
    private static IEnumerable<string> SplitTerms(string query)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < query.Length; i++)
        {
            if (query[i] == '(') depth++;
            else if (query[i] == ')') depth--;
            else if (query[i] == ',' && depth == 0) { yield return query[start..i]; start = i + 1; }
        }
        yield return query[start..];
    }
}
