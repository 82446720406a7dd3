using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.EventEmitters;

namespace NodeFleet.Cli.Output;

/// <summary>
/// Picks scalar styles the default serializer does not: RFC 3339 strings are quoted (as kubectl does), because
/// YAML 1.1 readers such as PyYAML would otherwise load them as dates; multi-line strings use the literal block;
/// strings with characters a terminal would act on, or that YAML readers take for line breaks, are double-quoted.
/// </summary>
/// <remarks>
/// YamlDotNet writes control characters raw in a plain or literal scalar (invalid YAML, and a terminal would act on
/// them) and folds carriage returns and NEL into newlines (the value does not read back); in double quotes it escapes
/// them ("\e", "\r", "\x9B", "\N"), and <see cref="Formats.ToYaml"/> escapes the bidi characters it leaves raw.
/// </remarks>
public sealed partial class YamlScalarStyles(IEventEmitter next) : ChainedEventEmitter(next)
{
    [GeneratedRegex(@"^\d{4}-\d{1,2}-\d{1,2}([Tt ]|$)")]
    private static partial Regex Timestamp();

    public override void Emit(ScalarEventInfo eventInfo, IEmitter emitter)
    {
        if (eventInfo.Source.Value is string s)
        {
            if (NeedsEscapes(s)) eventInfo.Style = ScalarStyle.DoubleQuoted;
            // The emitter falls back to double quotes itself when a string cannot be a block (e.g. trailing spaces).
            else if (s.Contains('\n')) eventInfo.Style = ScalarStyle.Literal;
            else if (Timestamp().IsMatch(s)) eventInfo.Style = ScalarStyle.DoubleQuoted;
        }
        base.Emit(eventInfo, emitter);
    }

    /// <summary>
    /// Holds a character that only a double-quoted scalar carries exactly and safely: one that
    /// <see cref="TerminalText.IsUnsafe"/> (a control other than newline and tab, DEL, C1, bidi), or a Unicode line or
    /// paragraph separator (U+2028, U+2029, line breaks to YAML 1.1 readers).
    /// </summary>
    public static bool NeedsEscapes(string s) => s.Any(c => TerminalText.IsUnsafe(c) || c is '\u2028' or '\u2029');
}
