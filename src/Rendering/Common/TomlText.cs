using System.Globalization;
using System.Text;
using Tomlyn.Syntax;

namespace NodeFleet.Rendering;

/// <summary>Writing TOML by hand: quoted strings, keys, and the first error of a parse as one readable line.</summary>
internal static class TomlText
{
    /// <summary>A TOML basic string: quotes, backslashes and control characters escaped.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A key segment: bare when TOML allows it, quoted otherwise (<c>"io.containerd.grpc.v1.cri"</c>).</summary>
    public static string Key(string segment) => BareKeySyntax.IsBareKey(segment) ? segment : Quote(segment);

    /// <summary>A dotted key path.</summary>
    public static string Path(IEnumerable<string> segments) => string.Join('.', segments.Select(Key));

    /// <summary>A string array on one line: <c>["pull", "resolve"]</c>.</summary>
    public static string Array(IEnumerable<string> values) => "[" + string.Join(", ", values.Select(Quote)) + "]";

    /// <summary>Throws a <see cref="RenderException"/> naming the first error of a parse, with its 1-based line and column.</summary>
    public static void ThrowIfErrors(DocumentSyntax doc, string what)
    {
        if (!doc.HasErrors) return;
        var first = doc.Diagnostics.First(d => d.Kind == DiagnosticMessageKind.Error);
        throw new RenderException(
            $"{what} is not valid TOML: line {first.Span.Start.Line + 1}, column {first.Span.Start.Column + 1}: {first.Message}");
    }
}
