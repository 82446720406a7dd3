using System.Text;

namespace NodeFleet.Rendering;

/// <summary>
/// Renders containerd's per-registry <c>certs.d/&lt;registry&gt;/hosts.toml</c> (containerd docs/hosts.md): the mirrors
/// as <c>[host."…"]</c> entries, tried in order with pull and resolve capabilities, then <c>server</c>, the fallback.
/// The whole file is owned by NodeFleet.
/// </summary>
public static class HostsToml
{
    public const string FileName = "hosts.toml";

    private static readonly string Capabilities = TomlText.Array(["pull", "resolve"]);

    /// <summary>
    /// The directory containerd looks in for <paramref name="registry"/>: the registry host exactly as in image
    /// references, port included (<c>registry.example:5000</c>). containerd on Linux also accepts
    /// <c>registry.example_5000_</c>, a spelling meant for Windows, and tries it first; NodeFleet writes the documented one.
    /// </summary>
    public static string DirectoryName(string registry) => Registries.RequireRegistry(registry);

    /// <summary>The full path of the hosts file of <paramref name="registry"/> under <paramref name="certsDir"/>.</summary>
    public static string PathFor(string certsDir, string registry) =>
        certsDir.TrimEnd('/') + "/" + DirectoryName(registry) + "/" + FileName;

    /// <summary>
    /// The desired bytes of the hosts file for one mirror set. Not exclusive (default): every mirror is a
    /// <c>[host]</c> and <c>server</c> is the upstream registry, used when no mirror has the image. Exclusive: every
    /// mirror is still a <c>[host]</c> and the last one also takes the place of <c>server</c>, so containerd never falls
    /// back to the upstream registry. (containerd 1.6 refuses a hosts.toml without any <c>[host]</c> table — "invalid
    /// host tree" — and then silently uses the upstream registry, so the tables stay even for a single mirror.)
    /// </summary>
    public static byte[] Render(MirrorSettings mirror)
    {
        Registries.Validate(mirror);
        var hosts = mirror.Endpoints.ToList();
        var sb = new StringBuilder();
        sb.Append(FileText.Header).Append('\n');
        if (mirror.Exclusive)
        {
            sb.Append("# Exclusive: the last mirror is the fallback server instead of ")
              .Append(Registries.UpstreamServer(mirror.Registry)).Append(", so pulls never reach it.\n");
            sb.Append("server = ").Append(TomlText.Quote(hosts[^1])).Append('\n');
        }
        else
        {
            sb.Append("server = ").Append(TomlText.Quote(Registries.UpstreamServer(mirror.Registry))).Append('\n');
        }
        foreach (var host in hosts)
        {
            sb.Append('\n');
            sb.Append("[host.").Append(TomlText.Quote(host)).Append("]\n");
            sb.Append("  capabilities = ").Append(Capabilities).Append('\n');
        }
        return FileText.Encode(sb.ToString());
    }
}
