using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using YamlDotNet.Serialization;

namespace NodeFleet.Cli.Output;

/// <summary>The -o choices: the default table, the wider table, or machine-readable documents.</summary>
public enum OutputFormat { Table, Wide, Json, Yaml }

/// <summary>JSON and YAML documents for scripts: proto messages in their canonical JSON mapping, lists as {"items": [...]}.</summary>
public static class Formats
{
    // Default values are printed so a script sees "usagesUsed": 0 rather than a missing key.
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        // Keep '<', '+' and non-ASCII readable; the output is a document, not HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly ISerializer Yaml = new SerializerBuilder()
        .WithQuotingNecessaryStrings(true)
        .WithEventEmitter(next => new YamlScalarStyles(next))
        .Build();

    /// <summary>Maps the -o value; null means the command's default table.</summary>
    public static OutputFormat Parse(string? text) => text switch
    {
        null or "" => OutputFormat.Table,
        "wide" => OutputFormat.Wide,
        "json" => OutputFormat.Json,
        "yaml" => OutputFormat.Yaml,
        _ => throw new CliException($"unknown output format '{text}'"),
    };

    public static bool IsDocument(this OutputFormat format) => format is OutputFormat.Json or OutputFormat.Yaml;

    public static JsonObject ToNode(IMessage message) => JsonNode.Parse(ProtoJson.Format(message))!.AsObject();

    public static JsonObject List(IEnumerable<IMessage> items) =>
        new() { ["items"] = new JsonArray(items.Select(m => (JsonNode?)ToNode(m)).ToArray()) };

    public static string ToJson(JsonNode node) => EscapeBidi(node.ToJsonString(Indented)) + "\n";

    /// <summary>One line of JSON Lines: the document on a single line, then a newline.</summary>
    public static string ToJsonLine(JsonNode node) => EscapeBidi(node.ToJsonString(Compact)) + "\n";

    /// <summary>
    /// The document as YAML. A string holding a control or bidi character is double-quoted (<see cref="YamlScalarStyles"/>),
    /// where YamlDotNet writes each control as an escape ("\e", "\x9B", "\N") and <see cref="EscapeBidi"/> each bidi
    /// character as "\u202E": the same string when read back, nothing raw for a terminal to act on.
    /// </summary>
    public static string ToYaml(JsonNode node) => EscapeBidi(Yaml.Serialize(ToPlain(node)));

    /// <summary>
    /// The bidi embeddings, overrides and isolates as "\u202E" escapes, which JSON strings and YAML double-quoted
    /// scalars both read back as the character itself: the encoders escape control characters already, not these,
    /// and raw they would reorder the text around them on a terminal. Only valid where every one of them is inside a
    /// JSON string or a double-quoted YAML scalar, which is the case for the documents written here.
    /// </summary>
    private static string EscapeBidi(string document)
    {
        if (!document.Any(TerminalText.IsBidiControl)) return document;
        var sb = new StringBuilder(document.Length + 16);
        foreach (var c in document)
        {
            if (TerminalText.IsBidiControl(c)) sb.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Writes a document as JSON or YAML; the table formats are the caller's business.</summary>
    public static void Write(TextWriter writer, JsonNode node, OutputFormat format) => writer.Write(format switch
    {
        OutputFormat.Json => ToJson(node),
        OutputFormat.Yaml => ToYaml(node),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a document format"),
    });

    /// <summary>JSON to plain dictionaries, lists and scalars, which YamlDotNet serializes without reflection surprises.</summary>
    private static object? ToPlain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => ToPlain(p.Value)),
        JsonArray a => a.Select(ToPlain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number when v.TryGetValue<long>(out var l) => l,
            JsonValueKind.Number when v.TryGetValue<ulong>(out var u) => u,
            JsonValueKind.Number => v.GetValue<double>(),
            _ => null,
        },
        _ => node.ToJsonString(),
    };
}
