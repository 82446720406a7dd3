using System.Globalization;
using NodeFleet.IO;
using YamlDotNet.Core;

namespace NodeFleet.Config;

/// <summary>
/// The one serializer of the small config and state files (admin.conf, discovery files, agent.yaml, the agent's link
/// state): a flat YAML mapping whose keys are declared once, as <see cref="ConfigField{T}"/>s, for both reading and
/// writing. It binds through a field table over YamlDotNet's parser and emitter (<see cref="FlatYaml"/>) rather than
/// YamlDotNet's reflection-based object deserializer, which Native AOT cannot run and whose errors name .NET types.
/// </summary>
/// <typeparam name="T">The file's type; a new one starts with its defaults, and fields absent from a file keep them.</typeparam>
public sealed class ConfigFormat<T> where T : new()
{
    private readonly IReadOnlyList<ConfigField<T>> _fields;
    private readonly HashSet<string> _keys;
    private readonly bool _ignoreUnknown;

    /// <param name="fields">The keys, in the order they are written.</param>
    /// <param name="mode">The file's mode when it is saved: <see cref="AtomicFile.Private"/> for one holding a key.</param>
    /// <param name="ignoreUnknown">Whether a key not in <paramref name="fields"/> is skipped (true) or refused with its line.</param>
    public ConfigFormat(IReadOnlyList<ConfigField<T>> fields, UnixFileMode mode, bool ignoreUnknown = false)
    {
        _fields = fields;
        _keys = new HashSet<string>(fields.Select(f => f.Key), StringComparer.Ordinal);
        if (_keys.Count != fields.Count) throw new ArgumentException("a key is declared twice", nameof(fields));
        Mode = mode;
        _ignoreUnknown = ignoreUnknown;
    }

    /// <summary>The mode <see cref="Save"/> gives the file.</summary>
    public UnixFileMode Mode { get; }

    /// <summary>The YAML text of <paramref name="value"/>: every field with a value, in declaration order.</summary>
    public string Write(T value) => FlatYaml.Write(_fields
        .Select(f => (f.Key, Value: f.Write(value)))
        .Where(kv => kv.Value is not null)
        .Select(kv => KeyValuePair.Create(kv.Key, kv.Value!)));

    /// <summary>Writes <paramref name="value"/> to <paramref name="path"/> atomically (temp, fsync, rename) with <see cref="Mode"/>.</summary>
    public void Save(string path, T value) => AtomicFile.WriteAllText(path, Write(value), Mode);

    /// <summary>
    /// The file at <paramref name="path"/>, or null when it holds no document. A file that cannot be read is a
    /// <see cref="ConfigException"/> "cannot read <paramref name="what"/> PATH: why"; see <see cref="Read"/> for the rest.
    /// </summary>
    public ConfigDocument<T>? Load(string path, string what) =>
        TextFiles.TryRead(path, out var text, out var reason)
            ? Read(text, path)
            : throw new ConfigException($"cannot read {what} {path}: {reason}");

    /// <summary>
    /// <paramref name="text"/> read as the file <paramref name="path"/>, or null when it holds no document. YAML that
    /// does not parse, a value that is not a scalar, a duplicate key, an unknown key (unless ignored) and a value its
    /// field cannot take are a <see cref="ConfigException"/> "PATH:LINE: what is wrong".
    /// </summary>
    public ConfigDocument<T>? Read(string text, string path)
    {
        try
        {
            var entries = FlatYaml.ReadEntries(text, _keys, _ignoreUnknown);
            if (entries is null) return null;
            var value = new T();
            var lines = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var field in _fields)
            {
                if (!entries.TryGetValue(field.Key, out var entry)) continue;
                lines[field.Key] = entry.Line;
                if (field.Read(value, entry.Value) is { } problem)
                    throw new ConfigException($"{path}:{entry.Line}: {field.Key}: {problem}", field.Key);
            }
            return new ConfigDocument<T>(path, value, lines);
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
    }
}

/// <summary>A file read by <see cref="ConfigFormat{T}"/>: its value, and where each field was, for errors about what a value says.</summary>
public sealed record ConfigDocument<T>(string Path, T Value, IReadOnlyDictionary<string, long> Lines)
{
    /// <summary>"PATH:LINE" of <paramref name="key"/>, or the path alone when the file does not have it.</summary>
    public string At(string key) => Lines.TryGetValue(key, out var line) ? $"{Path}:{line}" : Path;
}

/// <summary>
/// One key of a <see cref="ConfigFormat{T}"/>: how its text is written from a <typeparamref name="T"/> (null: the key
/// is left out) and read into one (a returned string says why the text is not a value of the field).
/// </summary>
public sealed record ConfigField<T>(string Key, Func<T, string?> Write, Func<T, string, string?> Read);

/// <summary>The kinds of value the config files hold.</summary>
public static class ConfigField
{
    /// <summary>A string, written and read as it is (a tag-like value such as <c>!!!x</c> is kept as written).</summary>
    public static ConfigField<T> Text<T>(string key, Func<T, string> get, Action<T, string> set) =>
        new(key, get, (target, text) =>
        {
            set(target, text);
            return null;
        });

    /// <summary>A whole number in decimal.</summary>
    public static ConfigField<T> Integer<T>(string key, Func<T, int> get, Action<T, int> set) =>
        new(key, t => get(t).ToString(CultureInfo.InvariantCulture), (target, text) =>
        {
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                return $"expected a whole number, not '{text}'";
            set(target, n);
            return null;
        });

    /// <summary>
    /// A UTC time in ISO 8601 (round-trip form, "2026-12-07T01:28:52.1234567Z"), or none: left out when written,
    /// and read from an empty value, <c>null</c> or <c>~</c> (how a JSON or YAML writer says none).
    /// </summary>
    public static ConfigField<T> Time<T>(string key, Func<T, DateTime?> get, Action<T, DateTime?> set) =>
        new(key, t => get(t) is { } at ? Utc(at).ToString("O", CultureInfo.InvariantCulture) : null, (target, text) =>
        {
            if (text is "" or "null" or "~")
            {
                set(target, null);
                return null;
            }
            if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
                return $"expected a time such as 2026-12-07T01:28:52Z, not '{text}'";
            set(target, at);
            return null;
        });

    // A time of unspecified kind is taken as UTC, as the agent makes its times: never shifted by the local zone.
    private static DateTime Utc(DateTime at) =>
        at.Kind == DateTimeKind.Local ? at.ToUniversalTime() : DateTime.SpecifyKind(at, DateTimeKind.Utc);
}
