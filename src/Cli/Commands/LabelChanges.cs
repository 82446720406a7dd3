using NodeFleet.Labels;

namespace NodeFleet.Cli.Commands;

/// <summary>The arguments of `node label`, kubectl style: "key=value" sets a label, "key-" removes it.</summary>
public sealed record LabelChanges(IReadOnlyDictionary<string, string> Set, IReadOnlyList<string> Remove)
{
    /// <summary>Parses and validates every argument, failing with a message that names the bad one.</summary>
    public static LabelChanges Parse(IEnumerable<string> arguments)
    {
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        var remove = new List<string>();
        foreach (var arg in arguments)
        {
            var eq = arg.IndexOf('=');
            if (eq > 0)
            {
                var (key, value) = (arg[..eq], arg[(eq + 1)..]);
                LabelSyntax.Validate(key, value);
                if (set.TryGetValue(key, out var earlier) && earlier != value)
                    throw new CliException($"label '{key}' is given twice with different values");
                set[key] = value;
            }
            else if (eq < 0 && arg.Length > 1 && arg.EndsWith('-'))
            {
                var key = arg[..^1];
                if (LabelSyntax.KeyError(key) is { } error) throw new CliException(error);
                if (!remove.Contains(key)) remove.Add(key);
            }
            else
            {
                throw new CliException($"'{arg}': expected key=value to set a label or key- to remove one");
            }
        }
        if (set.Keys.Intersect(remove).FirstOrDefault() is { } both)
            throw new CliException($"label '{both}' cannot be both set and removed");
        return new LabelChanges(set, remove);
    }
}
