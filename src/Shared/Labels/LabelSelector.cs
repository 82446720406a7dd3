namespace NodeFleet.Labels;

/// <summary>A kubectl-style label selector: "k=v", "k==v", "k!=v", "k", "!k", "k in (a,b)", "k notin (a,b)", comma-joined (AND).</summary>
public sealed class LabelSelector
{
    /// <summary>How a requirement matches a label.</summary>
    public enum Op { Equals, NotEquals, Exists, NotExists, In, NotIn }

    /// <summary>One comma-separated part of a selector.</summary>
    public sealed record Requirement(string Key, Op Op, IReadOnlyList<string> Values);

    private readonly List<Requirement> _requirements;

    private LabelSelector(List<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEmpty => _requirements.Count == 0;

    /// <summary>The requirements, all of which a match meets (for a store that matches in its query).</summary>
    public IReadOnlyList<Requirement> Requirements => _requirements;

    public bool Matches(IReadOnlyDictionary<string, string> labels) => _requirements.All(r =>
    {
        var has = labels.TryGetValue(r.Key, out var v);
        return r.Op switch
        {
            Op.Equals => has && v == r.Values[0],
            Op.NotEquals => !has || v != r.Values[0],
            Op.Exists => has,
            Op.NotExists => !has,
            Op.In => has && r.Values.Contains(v!),
            Op.NotIn => !has || !r.Values.Contains(v!),
            _ => false,
        };
    });

    /// <summary>Parses a selector; the message of a failure names the offending part and its column.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var reqs = new List<Requirement>();
        foreach (var (part, column) in SplitTopLevel(text))
        {
            reqs.Add(ParseRequirement(part.Trim(), column, text));
        }
        return new LabelSelector(reqs);
    }

    private static Requirement ParseRequirement(string p, int column, string whole)
    {
        FormatException Bad(string why) => new($"label selector '{whole}', column {column}: '{p}': {why}");
        if (p.Length == 0) throw Bad("empty requirement");
        if (p.StartsWith('!'))
        {
            var key = p[1..].Trim();
            CheckKey(key, Bad);
            return new Requirement(key, Op.NotExists, []);
        }
        foreach (var (token, op) in new[] { ("!=", Op.NotEquals), ("==", Op.Equals), ("=", Op.Equals) })
        {
            var i = p.IndexOf(token, StringComparison.Ordinal);
            if (i < 0) continue;
            var key = p[..i].Trim();
            var value = p[(i + token.Length)..].Trim();
            CheckKey(key, Bad);
            var ve = LabelSyntax.ValueError(key, value);
            if (ve is not null) throw Bad(ve);
            return new Requirement(key, op, [value]);
        }
        var words = p.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 2)
        {
            var rest = words[1];
            Op? setOp = rest.StartsWith("notin", StringComparison.Ordinal) ? Op.NotIn
                : rest.StartsWith("in", StringComparison.Ordinal) ? Op.In : null;
            if (setOp is null) throw Bad("expected =, ==, !=, in or notin");
            var list = rest[(setOp == Op.NotIn ? 5 : 2)..].Trim();
            if (!list.StartsWith('(') || !list.EndsWith(')')) throw Bad("expected a parenthesised list of values");
            var values = list[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (values.Length == 0) throw Bad("the list of values is empty");
            CheckKey(words[0], Bad);
            foreach (var v in values)
            {
                var ve = LabelSyntax.ValueError(words[0], v);
                if (ve is not null) throw Bad(ve);
            }
            return new Requirement(words[0], setOp.Value, values);
        }
        CheckKey(p, Bad);
        return new Requirement(p, Op.Exists, []);
    }

    private static void CheckKey(string key, Func<string, FormatException> bad)
    {
        var e = LabelSyntax.KeyError(key);
        if (e is not null) throw bad(e);
    }

    /// <summary>Splits on commas that are not inside parentheses, keeping each part's 1-based column.</summary>
    private static IEnumerable<(string Part, int Column)> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || (text[i] == ',' && depth == 0))
            {
                yield return (text[start..i], start + 1);
                start = i + 1;
            }
            else if (text[i] == '(') depth++;
            else if (text[i] == ')') depth--;
        }
    }
}
