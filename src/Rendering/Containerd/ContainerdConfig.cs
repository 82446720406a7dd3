using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Syntax;

namespace NodeFleet.Rendering;

/// <summary>
/// What NodeFleet sets in containerd's <c>config.toml</c>: the cgroup driver of the runc runtime, the sandbox (pause)
/// image, and the directory of per-registry <c>hosts.toml</c> files (usually <c>/etc/containerd/certs.d</c>).
/// </summary>
public sealed record ContainerdSettings(CgroupDriver CgroupDriver, string SandboxImage, string CertsDir = ContainerdConfig.DefaultCertsDir);

/// <summary>The keys NodeFleet owns, as they are in an existing <c>config.toml</c> (null when absent).</summary>
public sealed record ContainerdConfigState(
    long? Version,
    string? SandboxImage,
    string? DefaultRuntimeName,
    string? RuncRuntimeType,
    bool? SystemdCgroup,
    string? RegistryConfigPath);

/// <summary>
/// Renders containerd 1.6/1.7 <c>config.toml</c> (format <c>version = 2</c>) by merging into the existing file: only
/// the owned keys are set, everything else (other keys, tables, comments, layout) is kept as it was. An absent or
/// blank file becomes a minimal one with just the owned keys. Idempotent: rendering its own output changes nothing.
/// </summary>
public static class ContainerdConfig
{
    public const string DefaultPath = "/etc/containerd/config.toml";
    public const string DefaultCertsDir = "/etc/containerd/certs.d";
    public const string RuncV2 = "io.containerd.runc.v2";

    private const string What = "containerd config.toml";
    private const string Cri = "io.containerd.grpc.v1.cri";
    private static readonly string[] CriTable = ["plugins", Cri];
    private static readonly string[] RuncTable = ["plugins", Cri, "containerd", "runtimes", "runc"];
    private static readonly string[] RuncOptionsTable = [.. RuncTable, "options"];
    private static readonly string[] RegistryTable = ["plugins", Cri, "registry"];
    private static readonly (string[] Table, string Key)[] Owned =
    [
        ([], "version"),
        (CriTable, "sandbox_image"),
        (RuncTable, "runtime_type"),
        (RuncOptionsTable, "SystemdCgroup"),
        (RegistryTable, "config_path"),
    ];

    /// <summary>
    /// The desired bytes of <c>config.toml</c> given its current bytes (null when the file does not exist).
    /// Throws <see cref="RenderException"/> for a file it must not merge into: not TOML, version 1 (or no version but
    /// plugin sections, which containerd reads as version 1), version 3 (containerd 2.x), or CRI registry
    /// <c>mirrors</c>/<c>configs.*.tls</c>, which containerd refuses together with <c>config_path</c>.
    /// </summary>
    public static byte[] Render(byte[]? existing, ContainerdSettings settings)
    {
        FileText.RequireSingleToken(settings.SandboxImage, "sandbox image");
        if (!settings.CertsDir.StartsWith('/'))
            throw new RenderException($"containerd certs directory '{settings.CertsDir}' is not an absolute path");
        FileText.RequireSingleToken(settings.CertsDir, "containerd certs directory");

        var (text, bom) = existing is null ? ("", false) : FileText.Decode(existing, What);
        if (text.Trim().Length == 0) text = "";

        var editor = new TomlEditor(text, What);
        var doc = editor.Parse();
        var model = Model(text);
        CheckVersion(doc, model);
        CheckRegistry(model);

        foreach (var (table, key) in Owned) editor.Verify(table, key);
        editor.Set([], "version", new TomlInteger(2));
        editor.Set(CriTable, "sandbox_image", new TomlString(settings.SandboxImage));
        // A runc runtime without a type would not be the runc v2 shim SystemdCgroup belongs to; a type the user chose is kept.
        editor.Set(RuncTable, "runtime_type", new TomlString(RuncV2), keep: v => v is StringValueSyntax { Value.Length: > 0 });
        editor.Set(RuncOptionsTable, "SystemdCgroup", new TomlBool(settings.CgroupDriver == CgroupDriver.Systemd));
        editor.Set(RegistryTable, "config_path", new TomlString(settings.CertsDir));

        var result = editor.Text;
        if (!result.EndsWith('\n')) result += FileText.NewLineOf(result);
        return FileText.Encode(result, bom);
    }

    /// <summary>Reads the owned keys of an existing file (all null for an absent or blank one).</summary>
    public static ContainerdConfigState Inspect(byte[]? existing)
    {
        var text = existing is null ? "" : FileText.Decode(existing, What).Text;
        if (text.Trim().Length == 0) return new(null, null, null, null, null, null);
        TomlText.ThrowIfErrors(Tomlyn.Parsing.SyntaxParser.Parse(text, What, validate: true), What);
        var model = Model(text);
        return new(
            GetValue<long>(model, ["version"]),
            Get<string>(model, [.. CriTable, "sandbox_image"]),
            Get<string>(model, ["plugins", Cri, "containerd", "default_runtime_name"]),
            Get<string>(model, [.. RuncTable, "runtime_type"]),
            GetValue<bool>(model, [.. RuncOptionsTable, "SystemdCgroup"]),
            Get<string>(model, [.. RegistryTable, "config_path"]));
    }

    private static TomlTable Model(string text)
    {
        try
        {
            return text.Length == 0 ? new TomlTable() : TomlSerializer.Deserialize(text, ContainerdTomlContext.Default.TomlTable) ?? new TomlTable();
        }
        catch (TomlException ex)
        {
            throw new RenderException($"{What} is not valid TOML: {ex.Message}", ex);
        }
    }

    private static void CheckVersion(DocumentSyntax doc, TomlTable model)
    {
        var line = doc.KeyValues.FirstOrDefault(kv => kv.Key?.Key is BareKeySyntax { Key.Text: "version" } && kv.Key.DotKeys.ChildrenCount == 0)
            ?.Span.Start.Line + 1;
        if (!model.TryGetValue("version", out var version))
        {
            if (model.ContainsKey("plugins"))
                throw new RenderException(
                    $"{What} has plugin sections but no `version` key, which containerd reads as a version 1 config; " +
                    "NodeFleet merges only version 2 configs (containerd 1.6/1.7): add `version = 2` and rename the " +
                    "plugin sections (e.g. [plugins.cri] → [plugins.\"io.containerd.grpc.v1.cri\"]), or remove the file");
            return;
        }
        switch (version)
        {
            case 2L:
                return;
            case 1L:
                throw new RenderException(
                    $"{What} line {line}: `version = 1` is containerd's deprecated version 1 format; NodeFleet merges only " +
                    "version 2 configs (containerd 1.6/1.7): convert it (plugin sections become [plugins.\"io.containerd.grpc.v1.cri\"] etc.) or remove the file");
            case 3L:
                throw new RenderException(
                    $"{What} line {line}: `version = 3` is the containerd 2.x format; NodeFleet renders the containerd 1.6/1.7 (version 2) format");
            default:
                throw new RenderException($"{What} line {line}: unsupported `version = {version}`; expected 2");
        }
    }

    private static void CheckRegistry(TomlTable model)
    {
        if (Get<TomlTable>(model, [.. RegistryTable, "mirrors"]) is { Count: > 0 } mirrors)
            throw new RenderException(
                $"{What} sets [plugins.\"{Cri}\".registry.mirrors] ({string.Join(", ", mirrors.Keys)}), which containerd " +
                "refuses together with config_path; NodeFleet configures mirrors as certs.d/<registry>/hosts.toml: remove the mirrors section");
        if (Get<TomlTable>(model, [.. RegistryTable, "configs"]) is { } configs)
        {
            foreach (var (registry, config) in configs)
            {
                if (config is TomlTable t && t.ContainsKey("tls"))
                    throw new RenderException(
                        $"{What} sets [plugins.\"{Cri}\".registry.configs.\"{registry}\".tls], which containerd refuses together " +
                        "with config_path; move the TLS settings (ca, client, skip_verify) into certs.d/<registry>/hosts.toml");
            }
        }
    }

    private static T? Get<T>(TomlTable table, IReadOnlyList<string> path) where T : class => Find(table, path) as T;

    private static T? GetValue<T>(TomlTable table, IReadOnlyList<string> path) where T : struct =>
        Find(table, path) is T value ? value : null;

    private static object? Find(TomlTable table, IReadOnlyList<string> path)
    {
        object? current = table;
        foreach (var segment in path)
        {
            if (current is not TomlTable t || !t.TryGetValue(segment, out current)) return null;
        }
        return current;
    }
}

/// <summary>
/// Source-generated TOML metadata for the untyped model: the reflection-based serializer is not available under
/// Native AOT (the agent is published that way).
/// </summary>
[Tomlyn.Serialization.TomlSerializable(typeof(TomlTable))]
internal sealed partial class ContainerdTomlContext : Tomlyn.Serialization.TomlSerializerContext;
