using System.Buffers;
using System.Globalization;
using System.Text;

namespace NodeFleet.Cli.Output;

/// <summary>
/// Text that came from nodes or the coordinator (facts, labels, messages, output tails, errors) made safe to print on
/// a terminal. Characters a terminal would act on instead of showing are shown escaped, so nothing is lost and nothing
/// is interpreted: C0 controls (ESC, BEL, CR, BS, …) as <c>\x1b</c>, <c>\x07</c>, <c>\r</c>; DEL and the C1 controls
/// 0x80–0x9F (8-bit CSI, OSC, NEL) as <c>\x7f</c>, <c>\x9b</c>; the Unicode bidi embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069), which reorder what follows them on the screen, as <c>\u202e</c>.
/// </summary>
/// <remarks>
/// Newline and tab depend on where the text goes. In a block of lines (an output tail, a multi-line message, anything
/// printed as it is) they are kept: neither can move the cursor back over text already shown. On one line (a table
/// cell, a "Key: value" line, a line of <c>events -f</c>) they are escaped as <c>\n</c> and <c>\t</c> too, so a value
/// can neither break its row nor start a line that looks like another field.
/// Every human-readable line the CLI prints goes through <see cref="Block"/> (see <see cref="TerminalWriter"/>);
/// tables and aligned views apply <see cref="Line"/> to their cells first.
/// </remarks>
public static class TerminalText
{
    private static readonly SearchValues<char> UnsafeInBlock = SearchValues.Create(Chars(c => IsUnsafe(c)));
    private static readonly SearchValues<char> UnsafeInLine = SearchValues.Create(Chars(c => c is '\n' or '\t' || IsUnsafe(c)));

    /// <summary>
    /// A character shown escaped wherever it is printed: a C0 control other than newline and tab, DEL, a C1 control, or
    /// a bidi embedding, override or isolate.
    /// </summary>
    public static bool IsUnsafe(char c) => c is (< ' ' and not '\n' and not '\t') or (>= '\u007f' and <= '\u009f') || IsBidiControl(c);

    /// <summary>U+202A–U+202E (LRE, RLE, PDF, LRO, RLO) and U+2066–U+2069 (LRI, RLI, FSI, PDI).</summary>
    public static bool IsBidiControl(char c) => c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');

    /// <summary>Text printed as lines: newlines and tabs kept, every other unsafe character escaped.</summary>
    public static string Block(string text) => text.AsSpan().ContainsAny(UnsafeInBlock) ? Escape(text, UnsafeInBlock) : text;

    /// <inheritdoc cref="Block(string)"/>
    public static string Block(ReadOnlySpan<char> text) => text.ContainsAny(UnsafeInBlock) ? Escape(text, UnsafeInBlock) : text.ToString();

    /// <summary>Text printed within one line: newlines and tabs escaped as well, so the line stays one line.</summary>
    public static string Line(string text) => text.AsSpan().ContainsAny(UnsafeInLine) ? Escape(text, UnsafeInLine) : text;

    /// <summary>How one character is shown escaped: <c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\x1b</c>, <c>\x9b</c>, <c>\u202e</c>.</summary>
    public static string Escape(char c) => c switch
    {
        '\n' => @"\n",
        '\r' => @"\r",
        '\t' => @"\t",
        <= '\u00ff' => @"\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture),
        _ => @"\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
    };

    private static string Escape(ReadOnlySpan<char> text, SearchValues<char> unsafeChars)
    {
        var sb = new StringBuilder(text.Length + 16);
        while (text.Length > 0)
        {
            var i = text.IndexOfAny(unsafeChars);
            if (i < 0)
            {
                sb.Append(text);
                break;
            }
            sb.Append(text[..i]).Append(Escape(text[i]));
            text = text[(i + 1)..];
        }
        return sb.ToString();
    }

    private static string Chars(Func<char, bool> predicate)
    {
        var sb = new StringBuilder();
        for (var c = 0; c <= 0xffff; c++)
        {
            if (predicate((char)c)) sb.Append((char)c);
        }
        return sb.ToString();
    }
}
