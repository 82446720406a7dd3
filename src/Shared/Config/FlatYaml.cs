using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace NodeFleet.Config;

/// <summary>
/// The YAML side of the small config files: one YAML mapping of string keys to string values, with the line of
/// each. <see cref="ConfigFormat{T}"/> binds it to a type (admin.conf, discovery files, agent.yaml, the link state);
/// coordinator.yaml reads it as settings. It uses YamlDotNet's representation model and emitter, not its
/// reflection-based (de)serializer, which Native AOT cannot run (the agent is published that way).
/// </summary>
public static class FlatYaml
{
    /// <summary>
    /// The mapping's scalar values by key, or null for an empty document. Syntax errors, a document that is not a
    /// mapping, a value that is not a scalar and (unless <paramref name="ignoreUnknown"/>) a key not in
    /// <paramref name="keys"/> throw a <see cref="YamlException"/> positioned at the offending node.
    /// </summary>
    public static Dictionary<string, string>? Read(string text, IReadOnlyCollection<string> keys, bool ignoreUnknown = false) =>
        ReadEntries(text, keys, ignoreUnknown)?.ToDictionary(kv => kv.Key, kv => kv.Value.Value, StringComparer.Ordinal);

    /// <summary>A value and the (1-based) line it is on, for errors about what the value says.</summary>
    public readonly record struct Entry(string Value, long Line);

    /// <summary>
    /// <see cref="Read"/> with the line of each value. These files hold plain strings only, so a value YAML reads as
    /// a tag (an unquoted <c>!!!x</c> or <c>!x</c>) is kept as it is written, for the field's own check to refuse,
    /// rather than read as an empty value and reported as missing.
    /// </summary>
    public static Dictionary<string, Entry>? ReadEntries(string text, IReadOnlyCollection<string> keys, bool ignoreUnknown = false)
    {
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try { stream.Load(parser); }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way on some malformed input (an unclosed flow sequence before the next
            // key): report it where the parser had got to.
            var at = parser.Current?.End ?? Mark.Empty;
            throw new YamlException(at, at, "not valid YAML here (an unclosed [ or {, or a misplaced ':'?)");
        }
        if (stream.Documents.Count == 0) return null;
        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" }) return null;
        if (root is not YamlMappingNode mapping)
            throw new YamlException(root.Start, root.End, "expected a mapping of keys to values");
        var result = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
                throw new YamlException(keyNode.Start, keyNode.End, "expected a plain key");
            if (!keys.Contains(key))
            {
                if (ignoreUnknown) continue;
                throw new YamlException(keyNode.Start, keyNode.End, $"unknown field '{key}' (expected one of: {string.Join(", ", keys)})");
            }
            if (valueNode is not YamlScalarNode scalar)
                throw new YamlException(valueNode.Start, valueNode.End, $"{key}: expected a string");
            if (result.ContainsKey(key))
                throw new YamlException(keyNode.Start, keyNode.End, $"duplicate field '{key}'");
            result[key] = new Entry(ValueAsWritten(scalar, text), scalar.Start.Line);
        }
        return result;
    }

    private const string StringTag = "tag:yaml.org,2002:str";

    private static string ValueAsWritten(YamlScalarNode scalar, string text)
    {
        if (scalar.Tag.IsEmpty || scalar.Tag.Value == StringTag) return scalar.Value ?? "";
        var (start, end) = ((int)scalar.Start.Index, (int)scalar.End.Index);
        return start >= 0 && end <= text.Length && start < end ? text[start..end].Trim() : scalar.Value ?? "";
    }

    /// <summary>One block mapping, in the given order; the emitter quotes a value only where YAML needs it.</summary>
    public static string Write(IEnumerable<KeyValuePair<string, string>> fields)
    {
        var writer = new StringWriter();
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, isImplicit: true));
        emitter.Emit(new MappingStart(null, null, isImplicit: true, MappingStyle.Block));
        foreach (var (key, value) in fields)
        {
            emitter.Emit(new Scalar(key));
            emitter.Emit(new Scalar(value));
        }
        emitter.Emit(new MappingEnd());
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }
}
