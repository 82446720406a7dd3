using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NodeFleet.Rendering;

/// <summary>What NodeFleet sets in Docker's <c>daemon.json</c>: the cgroup driver and Docker Hub mirrors.</summary>
public sealed record DockerSettings(CgroupDriver CgroupDriver, IReadOnlyList<MirrorSettings> Mirrors);

/// <summary>A mirror set Docker cannot honour as asked: ignored entirely, or applied with a caveat.</summary>
public sealed record MirrorLimitation(MirrorSettings Mirror, bool Ignored, string Reason);

/// <summary>
/// Renders Docker's <c>/etc/docker/daemon.json</c> by merging into the existing file: NodeFleet owns
/// <c>registry-mirrors</c> and the <c>native.cgroupdriver</c> entry of <c>exec-opts</c>; every other key and exec-opt is
/// kept, in its order (new keys are appended). Output: 2-space indentation, trailing newline; idempotent.
/// </summary>
public static class DockerDaemonJson
{
    public const string DefaultPath = "/etc/docker/daemon.json";

    private const string What = "docker daemon.json";
    private const string ExecOpts = "exec-opts";
    private const string RegistryMirrors = "registry-mirrors";
    private const string CgroupDriverOpt = "native.cgroupdriver";

    private static readonly JsonSerializerOptions Output = new()
    {
        WriteIndented = true,
        IndentSize = 2,
        NewLine = "\n",
        // daemon.json is read by dockerd, not a browser: keep '+', '<', non-ASCII etc. readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// The desired bytes of <c>daemon.json</c> given its current bytes (null when absent). <c>registry-mirrors</c>
    /// becomes the endpoints of the Docker Hub mirror set, or is removed when there is none. Throws
    /// <see cref="RenderException"/> when the existing file is not a JSON object or its <c>exec-opts</c> is not a
    /// list of strings.
    /// </summary>
    public static byte[] Render(byte[]? existing, DockerSettings settings)
    {
        Registries.RequireDistinct(settings.Mirrors);
        foreach (var m in settings.Mirrors) Registries.Validate(m);

        var root = Parse(existing);
        SetCgroupDriver(root, settings.CgroupDriver);

        var hub = settings.Mirrors.FirstOrDefault(m => Registries.IsDockerHub(m.Registry));
        if (hub is null) root.Remove(RegistryMirrors);
        else
        {
            var mirrors = new JsonArray([.. hub.Endpoints.Select(e => (JsonNode?)JsonValue.Create(e))]);
            if (!JsonNode.DeepEquals(root[RegistryMirrors], mirrors)) root[RegistryMirrors] = mirrors;
        }

        return FileText.Encode(root.ToJsonString(Output) + "\n");
    }

    /// <summary>
    /// The mirror sets Docker cannot honour as asked, for the caller to warn about: Docker's
    /// <c>registry-mirrors</c> apply to Docker Hub only (other registries' mirrors are ignored), and Docker always
    /// falls back to Docker Hub, so an exclusive Docker Hub mirror is applied but not exclusive.
    /// </summary>
    public static IReadOnlyList<MirrorLimitation> Limitations(IEnumerable<MirrorSettings> mirrors)
    {
        var result = new List<MirrorLimitation>();
        foreach (var m in mirrors)
        {
            if (!Registries.IsDockerHub(m.Registry))
                result.Add(new(m, Ignored: true, $"Docker applies registry mirrors to Docker Hub only; the mirrors of {m.Registry} are not used"));
            else if (m.Exclusive)
                result.Add(new(m, Ignored: false, "Docker falls back to Docker Hub when no mirror answers; the Docker Hub mirrors are used but cannot be made exclusive"));
        }
        return result;
    }

    private static JsonObject Parse(byte[]? existing)
    {
        var text = existing is null ? "" : FileText.Decode(existing, What).Text;
        if (text.Trim().Length == 0) return [];
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions
            {
                AllowDuplicateProperties = false,
                AllowTrailingCommas = false,
                CommentHandling = JsonCommentHandling.Disallow,
            });
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line
                ? $"line {line + 1}, position {ex.BytePositionInLine + 1}"
                : DuplicateAt(text) ?? "position unknown";
            throw new RenderException($"{What} is not valid JSON ({where}): {FirstSentence(ex.Message)}", ex);
        }
        return node as JsonObject
            ?? throw new RenderException($"{What} is not a JSON object (it is a {node?.GetValueKind().ToString().ToLowerInvariant() ?? "null"})");
    }

    /// <summary>Exactly one <c>native.cgroupdriver=…</c> in exec-opts, where the first one was; other options kept.</summary>
    private static void SetCgroupDriver(JsonObject root, CgroupDriver driver)
    {
        var wanted = $"{CgroupDriverOpt}={driver.Name()}";
        if (!root.TryGetPropertyValue(ExecOpts, out var node) || node is null)
        {
            root[ExecOpts] = new JsonArray(wanted);
            return;
        }
        if (node is not JsonArray opts || opts.Any(o => o?.GetValueKind() != JsonValueKind.String))
            throw new RenderException($"{What}: \"{ExecOpts}\" must be a list of strings");

        var values = opts.Select(o => o!.GetValue<string>()).ToList();
        var desired = new List<string>();
        var placed = false;
        foreach (var v in values)
        {
            if (!IsCgroupDriverOpt(v)) desired.Add(v);
            else if (!placed)
            {
                desired.Add(wanted);
                placed = true;
            }
        }
        if (!placed) desired.Add(wanted);
        if (!desired.SequenceEqual(values, StringComparer.Ordinal))
            root[ExecOpts] = new JsonArray([.. desired.Select(v => (JsonNode?)JsonValue.Create(v))]);
    }

    // dockerd splits each exec-opt at the first '=' and compares the trimmed key case-insensitively.
    private static bool IsCgroupDriverOpt(string opt)
    {
        var eq = opt.IndexOf('=');
        return eq >= 0 && opt[..eq].Trim().Equals(CgroupDriverOpt, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Where a property name repeats in its object (System.Text.Json reports duplicates without a position).</summary>
    private static string? DuplicateAt(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var names = new Stack<HashSet<string>>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: names.Push(new HashSet<string>(StringComparer.Ordinal)); break;
                    case JsonTokenType.EndObject: names.Pop(); break;
                    case JsonTokenType.PropertyName when !names.Peek().Add(reader.GetString()!):
                        var start = (int)reader.TokenStartIndex;
                        var lineStart = Array.LastIndexOf(bytes, (byte)'\n', Math.Max(0, start - 1)) + 1;
                        var line = bytes.AsSpan(0, start).Count((byte)'\n') + 1;
                        return $"line {line}, position {start - lineStart + 1}";
                }
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }
}
