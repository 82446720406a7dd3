using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.EventEmitters;

namespace NodeFleet.Cli.Output;

/// <summary>
/// Picks scalar styles the default serializer does not: RFC 3339 strings are quoted (as kubectl does), because
/// YAML 1.1 readers such as PyYAML would otherwise load them as dates; multi-line strings use the literal block.
/// </summary>
public sealed partial class YamlScalarStyles(IEventEmitter next) : ChainedEventEmitter(next)
{
    [GeneratedRegex(@"^\d{4}-\d{1,2}-\d{1,2}([Tt ]|$)")]
    private static partial Regex Timestamp();

    public override void Emit(ScalarEventInfo eventInfo, IEmitter emitter)
    {
        if (eventInfo.Source.Value is string s)
        {
            // The emitter falls back to double quotes itself when a string cannot be a block (e.g. trailing spaces).
            if (s.Contains('\n')) eventInfo.Style = ScalarStyle.Literal;
            else if (Timestamp().IsMatch(s)) eventInfo.Style = ScalarStyle.DoubleQuoted;
        }
        base.Emit(eventInfo, emitter);
    }
}
