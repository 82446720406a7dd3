using NodeFleet.Plans;
using NodeFleet.Rendering;

namespace NodeFleet.Agent.Host;

/// <summary>
/// Which way a CRI runtime sends the pulls of a registry, as far as the node's files tell: through the mirrors of its
/// registry configuration (containerd's certs.d/&lt;registry&gt;/hosts.toml, cri-o's registries.conf.d file) or straight
/// to the registry. A failed pull says what the node had, not what the plan asks for.
/// </summary>
public sealed class PullRoute(HostFiles files, string runtimeKind, MirrorMap planMirrors)
{
    /// <summary>The node file that holds <paramref name="registry"/>'s mirrors for this runtime, or null when it has none.</summary>
    public string? ConfigFile(string registry) => runtimeKind switch
    {
        PlanRuntimes.Containerd => HostsToml.PathFor(ContainerdConfig.DefaultCertsDir, registry),
        PlanRuntimes.CriO => CrioMirrors.DefaultPath,
        _ => null,
    };

    /// <summary>" via mirror …" or why not, to follow "from REGISTRY" in a message.</summary>
    public string Describe(string registry)
    {
        var file = ConfigFile(registry);
        planMirrors.ByRegistry.TryGetValue(registry, out var mirrors);
        var planned = mirrors is { Count: > 0 } ? string.Join(", ", mirrors) : null;
        if (file is null) return planned is null ? "" : $" via mirror {planned}";
        bool present;
        try { present = files.Exists(file); }
        catch (HostPathException) { present = false; }
        if (present && UnreadCertsDir() is { } why) return $" directly, not via the mirrors in {files.Root.Path(file)}: {why}";
        if (present) return planned is null ? $" via the mirrors in {files.Root.Path(file)}" : $" via mirror {planned} ({files.Root.Path(file)})";
        return planned is null ? "" : $" directly, not via mirror {planned}: the node has no {files.Root.Path(file)} yet";
    }

    /// <summary>
    /// Why containerd does not read certs.d, when its config.toml says so (config_path unset or elsewhere; it takes
    /// effect at containerd's next start); null when it does or the node's config.toml does not tell.
    /// </summary>
    private string? UnreadCertsDir()
    {
        if (runtimeKind != PlanRuntimes.Containerd) return null;
        ContainerdConfigState state;
        try
        {
            if (files.Read(ContainerdConfig.DefaultPath) is not { } bytes) return null;
            state = ContainerdConfig.Inspect(bytes);
        }
        catch (Exception e) when (e is RenderException or HostPathException) { return null; }
        return state.RegistryConfigPath == ContainerdConfig.DefaultCertsDir ? null
            : $"{files.Root.Path(ContainerdConfig.DefaultPath)} does not set config_path = \"{ContainerdConfig.DefaultCertsDir}\" " +
              "(containerd-config sets it; it takes effect when containerd restarts)";
    }
}
