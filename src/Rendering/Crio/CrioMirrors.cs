using System.Text;

namespace NodeFleet.Rendering;

/// <summary>
/// Renders <c>/etc/containers/registries.conf.d/nodefleet-mirrors.conf</c> (containers-registries.conf(5), version 2),
/// read by CRI-O through containers/image: one <c>[[registry]]</c> per upstream registry with its mirrors as
/// <c>[[registry.mirror]]</c>, tried in order before the registry itself. A drop-in's <c>[[registry]]</c> replaces
/// one with the same prefix from files read before it. The whole file is owned by NodeFleet.
/// </summary>
public static class CrioMirrors
{
    public const string DefaultPath = "/etc/containers/registries.conf.d/nodefleet-mirrors.conf";

    /// <summary>
    /// The desired bytes of the mirror drop-in. Locations are written without scheme (<c>host[:port]</c>), with
    /// <c>insecure = true</c> for an <c>http://</c> endpoint. containers/image tries the mirrors in order, then the
    /// location; an exclusive set makes its last mirror the <c>location</c>, so the order is kept and a pull never
    /// reaches the upstream registry. No mirrors: a file with only its header comment.
    /// </summary>
    public static byte[] Render(IReadOnlyList<MirrorSettings> mirrors)
    {
        Registries.RequireDistinct(mirrors);
        var sb = new StringBuilder();
        sb.Append(FileText.Header).Append('\n');
        foreach (var mirror in mirrors)
        {
            var endpoints = Registries.Validate(mirror);
            sb.Append('\n');
            sb.Append("[[registry]]\n");
            sb.Append("prefix = ").Append(TomlText.Quote(mirror.Registry)).Append('\n');
            var mirrorsFirst = endpoints;
            if (mirror.Exclusive)
            {
                sb.Append("# Exclusive: the last mirror takes the place of ").Append(mirror.Registry).Append(", so pulls never reach it.\n");
                AppendLocation(sb, endpoints[^1]);
                mirrorsFirst = endpoints.Take(endpoints.Count - 1).ToList();
            }
            else
            {
                sb.Append("location = ").Append(TomlText.Quote(mirror.Registry)).Append('\n');
            }
            foreach (var endpoint in mirrorsFirst)
            {
                sb.Append('\n');
                sb.Append("[[registry.mirror]]\n");
                AppendLocation(sb, endpoint);
            }
        }
        return FileText.Encode(sb.ToString());
    }

    /// <summary>An endpoint as containers/image wants a location: <c>host[:port]</c>, no scheme.</summary>
    internal static string Location(Uri endpoint) => endpoint.Authority;

    private static void AppendLocation(StringBuilder sb, Uri endpoint)
    {
        sb.Append("location = ").Append(TomlText.Quote(Location(endpoint))).Append('\n');
        if (endpoint.Scheme == Uri.UriSchemeHttp)
            sb.Append("insecure = true\n");
    }
}
