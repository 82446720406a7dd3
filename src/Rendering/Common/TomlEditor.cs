using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace NodeFleet.Rendering;

/// <summary>A scalar the editor writes: its TOML text and whether an existing value already equals it.</summary>
internal abstract record TomlScalar
{
    public abstract string Text { get; }

    public abstract bool Matches(ValueSyntax? existing);
}

internal sealed record TomlString(string Value) : TomlScalar
{
    public override string Text => TomlText.Quote(Value);

    public override bool Matches(ValueSyntax? existing) => existing is StringValueSyntax s && s.Value == Value;
}

internal sealed record TomlBool(bool Value) : TomlScalar
{
    public override string Text => Value ? "true" : "false";

    public override bool Matches(ValueSyntax? existing) => existing is BooleanValueSyntax b && b.Value == Value;
}

internal sealed record TomlInteger(long Value) : TomlScalar
{
    public override string Text => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public override bool Matches(ValueSyntax? existing) => existing is IntegerValueSyntax i && i.Value == Value;
}

/// <summary>
/// Sets single keys in a TOML document by splicing its text, so that everything it does not touch (other keys,
/// comments, blank lines, indentation, quoting) stays byte for byte. Tomlyn's lossless syntax tree only locates
/// things: each <see cref="Set"/> parses the current text, finds where the key is (or where its table is, or where
/// that table belongs), and edits the text there. A key that already has the wanted value is left alone, so
/// setting the same keys twice changes nothing.
/// </summary>
internal sealed class TomlEditor
{
    private readonly string _what;
    private readonly string _nl;

    public TomlEditor(string text, string what)
    {
        Text = text;
        _what = what;
        _nl = FileText.NewLineOf(text);
    }

    public string Text { get; private set; }

    /// <summary>Parses the current text; a syntax or semantic error (e.g. a key defined twice) is a <see cref="RenderException"/>.</summary>
    public DocumentSyntax Parse()
    {
        var doc = SyntaxParser.Parse(Text, _what, validate: true);
        TomlText.ThrowIfErrors(doc, _what);
        return doc;
    }

    /// <summary>
    /// Sets <paramref name="key"/> in <paramref name="table"/> (a path of table names; empty for the root) to
    /// <paramref name="value"/>. When <paramref name="keep"/> says an existing value is fine, it is kept whatever it is.
    /// </summary>
    public void Set(IReadOnlyList<string> table, string key, TomlScalar value, Func<ValueSyntax?, bool>? keep = null)
    {
        var doc = Parse();
        var target = table.Append(key).ToArray();
        var scopes = Scopes(doc);
        var existing = Locate(scopes, target);

        if (existing is not null)
        {
            if (value.Matches(existing.Value) || keep?.Invoke(existing.Value) == true) return;
            Replace(existing.Value!.Span, value.Text);
            return;
        }

        if (table.Count == 0)
        {
            InsertAtTop(doc, key, value);
            return;
        }

        var header = scopes.FirstOrDefault(s => s.Table is not null && !s.IsArray && s.Path.SequenceEqual(table));
        if (header is not null)
        {
            InsertInto(header, [key], value);
            return;
        }

        // The table exists only through dotted keys of an enclosing table (`[a]` with `b.c = 1` makes table a.b):
        // a header for it would be a redefinition, so the key goes there as a dotted key too.
        var dotted = scopes
            .Where(s => !s.IsArray && IsPrefix(s.Path, table))
            .Where(s => s.Items.Any(kv => IsPrefix(table, s.Path.Concat(KeyPath(kv.Key!)).ToArray())))
            .OrderByDescending(s => s.Path.Length)
            .FirstOrDefault();
        if (dotted is not null)
        {
            InsertInto(dotted, target.Skip(dotted.Path.Length).ToArray(), value);
            return;
        }

        InsertTable(scopes, table, key, value);
    }

    /// <summary>
    /// Checks, without editing, that <see cref="Set"/> could set this key: call it for every key before the first
    /// edit so that errors name lines of the file as it was.
    /// </summary>
    public void Verify(IReadOnlyList<string> table, string key) => Locate(Scopes(Parse()), [.. table, key]);

    /// <summary>The key-value defining <paramref name="target"/>, null when absent; throws when the document shapes it otherwise.</summary>
    private KeyValueSyntax? Locate(List<Scope> scopes, string[] target)
    {
        foreach (var array in scopes.Where(s => s.IsArray && IsPrefix(s.Path, target)))
            throw Conflict(target, array.Table!, "is inside an array of tables");

        KeyValueSyntax? existing = null;
        foreach (var scope in scopes.Where(s => !s.IsArray))
        {
            if (scope.Table is not null && IsPrefix(target, scope.Path))
                throw Conflict(target, scope.Table, "is a table, not a value");
            foreach (var kv in scope.Items)
            {
                var full = scope.Path.Concat(KeyPath(kv.Key!)).ToArray();
                if (full.SequenceEqual(target)) existing = kv;
                else if (IsPrefix(full, target))
                    throw Conflict(target, kv, kv.Value is InlineTableSyntax
                        ? "is inside an inline table, which NodeFleet does not edit: write it as a [table] section"
                        : "is inside a value that is not a table");
                else if (IsPrefix(target, full)) throw Conflict(target, kv, "is a table, not a value");
            }
        }
        return existing;
    }

    private sealed record Scope(string[] Path, TableSyntaxBase? Table, bool IsArray, List<KeyValueSyntax> Items);

    private static List<Scope> Scopes(DocumentSyntax doc)
    {
        var scopes = new List<Scope> { new([], null, false, [.. doc.KeyValues]) };
        foreach (var t in doc.Tables)
            scopes.Add(new Scope(KeyPath(t.Name!), t, t is TableArraySyntax, [.. t.Items]));
        return scopes;
    }

    private static string[] KeyPath(KeySyntax key) =>
        [Segment(key.Key!), .. key.DotKeys.Select(d => Segment(d.Key!))];

    private static string Segment(BareKeyOrStringValueSyntax key) => key switch
    {
        BareKeySyntax bare => bare.Key!.Text!,
        StringValueSyntax quoted => quoted.Value!,
        _ => throw new InvalidOperationException("unexpected key syntax " + key.GetType().Name),
    };

    /// <summary>True when <paramref name="prefix"/> is a strict prefix of <paramref name="path"/>.</summary>
    private static bool IsPrefix(IReadOnlyList<string> prefix, IReadOnlyList<string> path) =>
        prefix.Count < path.Count && prefix.SequenceEqual(path.Take(prefix.Count));

    private RenderException Conflict(string[] target, SyntaxNode at, string why) =>
        new($"{_what}: cannot set {TomlText.Path(target)}: line {at.Span.Start.Line + 1} defines it so that it {why}");

    private void InsertAtTop(DocumentSyntax doc, string key, TomlScalar value)
    {
        var line = TomlText.Key(key) + " = " + value.Text + _nl;
        if (doc.KeyValues.ChildrenCount > 0)
            Insert(LineStart(doc.KeyValues.GetChild(0)!.Span.Offset), line);
        else if (doc.Tables.ChildrenCount > 0)
            Insert(LineStart(doc.Tables.GetChild(0)!.OpenBracket!.Span.Offset), line + _nl);
        else
            Insert(Text.Length, line);
    }

    private void InsertInto(Scope scope, IReadOnlyList<string> keyPath, TomlScalar value)
    {
        string indent;
        if (scope.Items.Count > 0) indent = IndentOf(scope.Items[^1].Span.Offset);
        else indent = IndentOf(scope.Table!.OpenBracket!.Span.Offset) + "  ";
        Insert(ContentEnd(scope), indent + TomlText.Path(keyPath) + " = " + value.Text + _nl);
    }

    /// <summary>
    /// Adds <c>[table]</c> with its one key where a reader would look for it: before the first of its sub-tables if
    /// it has any, else after the last table sharing the longest leading part of its name, else at the end.
    /// Indentation follows the neighbouring table (containerd's own dump indents two spaces per level).
    /// </summary>
    private void InsertTable(List<Scope> scopes, IReadOnlyList<string> table, string key, TomlScalar value)
    {
        var tables = scopes.Where(s => s.Table is not null).ToList();
        int position;
        Scope? reference;
        var child = tables.FirstOrDefault(s => IsPrefix(table, s.Path));
        if (child is not null)
        {
            var index = tables.IndexOf(child);
            position = index > 0 ? ContentEnd(tables[index - 1]) : (scopes[0].Items.Count > 0 ? ContentEnd(scopes[0]) : 0);
            reference = child;
        }
        else
        {
            var anchor = tables.Where(s => !s.IsArray)
                .Select(s => (Scope: s, Shared: SharedLength(s.Path, table)))
                .Where(x => x.Shared > 0)
                .OrderByDescending(x => x.Shared)
                .ThenByDescending(x => tables.IndexOf(x.Scope))
                .Select(x => x.Scope)
                .FirstOrDefault();
            position = anchor is not null ? ContentEnd(anchor) : Text.Length;
            reference = anchor ?? tables.LastOrDefault(s => !s.IsArray);
        }

        var (headerIndent, keyIndent) = StyleFrom(reference, table.Count);
        var block = headerIndent + "[" + TomlText.Path(table) + "]" + _nl + keyIndent + TomlText.Key(key) + " = " + value.Text + _nl;
        if (position > 0) block = _nl + block;
        if (position < Text.Length && Text[position] is not ('\n' or '\r')) block += _nl;
        Insert(position, block);
    }

    private (string Header, string Key) StyleFrom(Scope? reference, int depth)
    {
        if (reference is null) return ("", "  ");
        var header = IndentOf(reference.Table!.OpenBracket!.Span.Offset);
        var levels = reference.Path.Length - 1;
        var unit = levels > 0 && header.Length > 0 && header.All(c => c == ' ') && header.Length % levels == 0
            ? header.Length / levels
            : 0;
        var newHeader = unit > 0 ? new string(' ', unit * (depth - 1)) : header;
        string offset;
        if (reference.Items.Count > 0)
        {
            var keyIndent = IndentOf(reference.Items[0].Span.Offset);
            offset = keyIndent.StartsWith(header, StringComparison.Ordinal) ? keyIndent[header.Length..] : "  ";
        }
        else offset = unit > 0 ? new string(' ', unit) : "  ";
        return (newHeader, newHeader + offset);
    }

    private static int SharedLength(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
        return n;
    }

    /// <summary>Where a scope's last line ends: after its last key's line, else after its header line.</summary>
    private int ContentEnd(Scope scope)
    {
        var eol = scope.Items.Count > 0 ? scope.Items[^1].EndOfLineToken : scope.Table?.EndOfLineToken;
        if (eol is { TokenKind: TokenKind.NewLine }) return eol.Span.Offset + eol.Span.Length;
        return scope.Items.Count == 0 && scope.Table is null ? 0 : Text.Length;
    }

    private int LineStart(int offset) => offset == 0 ? 0 : Text.LastIndexOf('\n', offset - 1) + 1;

    private string IndentOf(int offset)
    {
        var start = LineStart(offset);
        var prefix = Text[start..offset];
        return prefix.All(c => c is ' ' or '\t') ? prefix : "";
    }

    private void Insert(int position, string text)
    {
        if (position == Text.Length && Text.Length > 0 && !Text.EndsWith('\n')) text = _nl + text;
        Text = Text.Insert(position, text);
    }

    private void Replace(SourceSpan span, string text) =>
        Text = string.Concat(Text.AsSpan(0, span.Offset), text, Text.AsSpan(span.Offset + span.Length));
}
