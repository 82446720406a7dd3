using YamlDotNet.RepresentationModel;

namespace NodeFleet.Plans;

/// <summary>
/// Strict, typed reads of YAML nodes that never throw: a wrong shape or an unknown key becomes a
/// <see cref="PlanError"/> at the node's line, and every field read is recorded in the source map.
/// </summary>
internal sealed class YamlFieldReader(PlanSourceMap source)
{
    private static readonly HashSet<string> NullWords = new(StringComparer.Ordinal) { "", "~", "null", "Null", "NULL" };

    public List<PlanError> Errors { get; } = [];

    public PlanSourceMap Source => source;

    public void Error(YamlNode node, string path, string message) =>
        Errors.Add(new PlanError(source.File, (int)node.Start.Line, (int)node.Start.Column, path, message));

    /// <summary>A YAML null: nothing after the colon, "~" or "null" unquoted. Treated as "not set".</summary>
    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s
        && NullWords.Contains(s.Value ?? "");

    /// <summary>
    /// The entries of a mapping with known keys, as (key, value, path). Unknown keys are reported with the known ones
    /// (and the likely one meant); a node that is not a mapping is reported; null yields nothing.
    /// </summary>
    public IEnumerable<(string Key, YamlNode Value, string Path)> Fields(YamlNode node, string path, IReadOnlyList<string> known)
    {
        foreach (var (key, value, keyNode) in Entries(node, path))
        {
            var childPath = PlanPath.Field(path, key);
            if (!known.Contains(key))
            {
                // The path says where ("spec: unknown field 'runtme' (did you mean 'runtime'? known: ...)").
                var hint = Suggest(key, known) is { } s ? $"did you mean '{s}'? " : "";
                Error(keyNode, path, $"unknown field '{key}' ({hint}known: {string.Join(", ", known)})");
                continue;
            }
            source.Record(childPath, keyNode.Start.Line, keyNode.Start.Column);
            yield return (key, value, childPath);
        }
    }

    /// <summary>The entries of a free-form map (extraArgs, mirrors, timeouts), keyed by the map key path.</summary>
    public IEnumerable<(string Key, YamlNode Value, string Path)> MapEntries(YamlNode node, string path)
    {
        foreach (var (key, value, keyNode) in Entries(node, path))
        {
            var childPath = PlanPath.Key(path, key);
            source.Record(childPath, keyNode.Start.Line, keyNode.Start.Column);
            yield return (key, value, childPath);
        }
    }

    /// <summary>The items of a sequence with their paths; a node that is not a sequence is reported; null yields nothing.</summary>
    public IEnumerable<(YamlNode Item, string Path)> Items(YamlNode node, string path)
    {
        if (IsNull(node)) yield break;
        if (node is not YamlSequenceNode sequence)
        {
            Unreadable(node, path, $"expected a list, found {Describe(node)}");
            yield break;
        }
        var i = 0;
        foreach (var item in sequence.Children)
        {
            var itemPath = PlanPath.Index(path, i++);
            source.Record(itemPath, item.Start.Line, item.Start.Column);
            yield return (item, itemPath);
        }
    }

    /// <summary>A scalar's text ("" for null); any scalar is accepted as text, so 0755 and 110 read as written.</summary>
    public string String(YamlNode node, string path)
    {
        if (IsNull(node)) return "";
        if (node is YamlScalarNode scalar) return scalar.Value ?? "";
        Unreadable(node, path, $"expected a string, found {Describe(node)}");
        return "";
    }

    /// <summary>An unquoted true or false (any case of YAML's core schema); null reads as false.</summary>
    public bool Bool(YamlNode node, string path)
    {
        if (IsNull(node)) return false;
        if (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s)
        {
            if (s.Value is "true" or "True" or "TRUE") return true;
            if (s.Value is "false" or "False" or "FALSE") return false;
        }
        Unreadable(node, path, $"expected true or false, found {Describe(node)}");
        return false;
    }

    /// <summary>The strings of a list of scalars.</summary>
    public List<string> Strings(YamlNode node, string path) =>
        Items(node, path).Select(x => String(x.Item, x.Path)).ToList();

    /// <summary>True when <paramref name="node"/> is a mapping (or null, read as empty); otherwise reports it.</summary>
    public bool IsMapping(YamlNode node, string path)
    {
        if (node is YamlMappingNode || IsNull(node)) return true;
        Unreadable(node, path, $"expected a mapping, found {Describe(node)}");
        return false;
    }

    public void Unreadable(YamlNode node, string path, string message)
    {
        source.MarkUnreadable(path);
        Error(node, path, message);
    }

    private IEnumerable<(string Key, YamlNode Value, YamlNode KeyNode)> Entries(YamlNode node, string path)
    {
        if (IsNull(node)) yield break;
        if (node is not YamlMappingNode mapping)
        {
            Unreadable(node, path, $"expected a mapping, found {Describe(node)}");
            yield break;
        }
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key } || IsNull(keyNode))
            {
                Error(keyNode, path, $"expected a field name, found {Describe(keyNode)}");
                continue;
            }
            yield return (key, value, keyNode);
        }
    }

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "null",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };

    /// <summary>The known name closest to a mistyped one (same letters in another case, or at most 2 edits).</summary>
    private static string? Suggest(string key, IReadOnlyList<string> known)
    {
        var exact = known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
        if (exact is not null) return exact;
        var best = known.Select(k => (k, d: Distance(k.ToLowerInvariant(), key.ToLowerInvariant())))
            .OrderBy(x => x.d).FirstOrDefault();
        return best.k is not null && best.d <= Math.Min(2, key.Length / 3) ? best.k : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }
        return d[a.Length, b.Length];
    }
}
