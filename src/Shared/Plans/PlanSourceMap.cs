using System.Text;
using System.Text.RegularExpressions;

namespace NodeFleet.Plans;

/// <summary>
/// Where each field of a loaded plan is in its file, by field path ("spec.artifacts[0].sha256",
/// "spec.kubelet.extraArgs.node-labels", "spec.registry.mirrors[\"registry.k8s.io\"][0]"), so that checks made after
/// loading report lines too. A field that is absent is reported at its nearest present parent.
/// </summary>
public sealed class PlanSourceMap
{
    private readonly Dictionary<string, (int Line, int Column)> _positions = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unreadable = new(StringComparer.Ordinal);

    public PlanSourceMap(string file) => File = file;

    /// <summary>No file: a plan from the wire. Errors carry no position.</summary>
    public static PlanSourceMap None { get; } = new("");

    public string File { get; }

    public IReadOnlyDictionary<string, (int Line, int Column)> Positions => _positions;

    /// <summary>The position of <paramref name="path"/>, else of its nearest recorded parent; (0, 0) if none.</summary>
    public (int Line, int Column) Locate(string path)
    {
        for (var p = path; ; p = PlanPath.Parent(p))
        {
            if (_positions.TryGetValue(p, out var position)) return position;
            if (p.Length == 0) return (0, 0);
        }
    }

    public PlanError Error(string path, string message)
    {
        var (line, column) = Locate(path);
        return new PlanError(File, line, column, path, message);
    }

    internal void Record(string path, long line, long column) => _positions.TryAdd(path, ((int)line, (int)column));

    /// <summary>Marks a field whose value could not be read, so later checks do not report it a second time.</summary>
    internal void MarkUnreadable(string path) => _unreadable.Add(path);

    internal bool IsUnreadable(string path)
    {
        for (var p = path; ; p = PlanPath.Parent(p))
        {
            if (_unreadable.Contains(p)) return true;
            if (p.Length == 0) return false;
        }
    }
}

/// <summary>Field paths: "a.b", "a.b[0]", map keys as ".key" or, when not a plain word, as ["key"].</summary>
public static partial class PlanPath
{
    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex PlainKey();

    public static string Field(string parent, string name) => parent.Length == 0 ? name : $"{parent}.{name}";

    public static string Index(string parent, int index) => $"{parent}[{index}]";

    /// <summary>A map entry: "extraArgs.node-labels", or mirrors["registry.k8s.io"] when the key has dots or symbols.</summary>
    public static string Key(string parent, string key)
    {
        if (PlainKey().IsMatch(key)) return Field(parent, key);
        var sb = new StringBuilder(parent).Append("[\"");
        foreach (var c in key)
        {
            if (c is '"' or '\\') sb.Append('\\').Append(c);
            else if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.Append("\"]").ToString();
    }

    /// <summary>"a.b[0].c" → "a.b[0]" → "a.b" → "a" → "".</summary>
    public static string Parent(string path)
    {
        if (path.Length == 0) return "";
        if (path.EndsWith("\"]", StringComparison.Ordinal))
        {
            // A quoted key: find its opening ["; inside, '"' is always escaped, so the first unescaped one opens it.
            for (var i = path.Length - 3; i >= 1; i--)
            {
                if (path[i] == '"' && path[i - 1] == '[' && !Escaped(path, i)) return path[..(i - 1)];
            }
            return "";
        }
        if (path.EndsWith(']'))
        {
            var open = path.LastIndexOf('[');
            return open < 0 ? "" : path[..open];
        }
        var dot = path.LastIndexOf('.');
        return dot < 0 ? "" : path[..dot];
    }

    private static bool Escaped(string s, int i)
    {
        var backslashes = 0;
        for (var j = i - 1; j >= 0 && s[j] == '\\'; j--) backslashes++;
        return backslashes % 2 == 1;
    }
}
