using System.Text.RegularExpressions;

namespace NodeFleet.Rendering;

/// <summary>
/// Pull-through mirrors for one upstream registry. <paramref name="Registry"/> is the registry host as it appears in
/// image references (<c>docker.io</c>, <c>registry.k8s.io</c>, <c>registry.example:5000</c>); <paramref name="Endpoints"/>
/// are <c>http://</c> or <c>https://</c> URLs of a host (<c>https://mirror.example:5000</c>, no path), tried in order. When <paramref name="Exclusive"/> is set, a pull
/// never falls back to the upstream registry (where the runtime can express that).
/// </summary>
public sealed record MirrorSettings(string Registry, IReadOnlyList<string> Endpoints, bool Exclusive = false);

/// <summary>Validation and naming shared by the containerd, CRI-O and Docker mirror renderers.</summary>
public static partial class Registries
{
    /// <summary>The registry Docker Hub images live in, as written in image references.</summary>
    public const string DockerHub = "docker.io";

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")]
    private static partial Regex RegistryHost();

    /// <summary>True for the names image references use for Docker Hub.</summary>
    public static bool IsDockerHub(string registry) =>
        registry.Equals(DockerHub, StringComparison.OrdinalIgnoreCase)
        || registry.Equals("index.docker.io", StringComparison.OrdinalIgnoreCase)
        || registry.Equals("registry-1.docker.io", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The URL a runtime talks to for <paramref name="registry"/> when no mirror answers: Docker Hub's registry API is
    /// served from <c>registry-1.docker.io</c>, every other registry from its own host over HTTPS.
    /// </summary>
    public static string UpstreamServer(string registry) =>
        IsDockerHub(RequireRegistry(registry)) ? "https://registry-1.docker.io" : "https://" + registry;

    internal static string RequireRegistry(string registry)
    {
        if (string.IsNullOrEmpty(registry) || !RegistryHost().IsMatch(registry))
            throw new RenderException($"registry '{registry}' is not a host name or address with an optional port (e.g. registry.example:5000)");
        return registry;
    }

    /// <summary>Checks a mirror set and returns its endpoints parsed.</summary>
    internal static IReadOnlyList<Uri> Validate(MirrorSettings mirror)
    {
        RequireRegistry(mirror.Registry);
        if (mirror.Endpoints is null || mirror.Endpoints.Count == 0)
            throw new RenderException($"mirror for {mirror.Registry} has no endpoints");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var result = new List<Uri>();
        foreach (var endpoint in mirror.Endpoints)
        {
            var uri = ParseEndpoint(endpoint, mirror.Registry);
            if (!seen.Add(endpoint))
                throw new RenderException($"mirror endpoint '{endpoint}' is listed twice for {mirror.Registry}");
            result.Add(uri);
        }
        return result;
    }

    /// <summary>Refuses two mirror sets for the same registry: which one wins would depend on file order.</summary>
    internal static void RequireDistinct(IEnumerable<MirrorSettings> mirrors)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var m in mirrors)
        {
            var key = IsDockerHub(m.Registry) ? DockerHub : m.Registry;
            if (!seen.Add(key))
                throw new RenderException($"registry {m.Registry} has more than one mirror set; list all its endpoints in one");
        }
    }

    private static Uri ParseEndpoint(string endpoint, string registry)
    {
        FileText.RequireSingleToken(endpoint ?? "", $"mirror endpoint for {registry}");
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
            throw new RenderException($"mirror endpoint '{endpoint}' for {registry} is not an absolute http:// or https:// URL");
        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            throw new RenderException($"mirror endpoint '{endpoint}' for {registry} must not carry credentials, a query or a fragment");
        // containerd puts /v2 after a host's path, containers/image puts the path after /v2: the same URL would
        // reach different places, so mirrors are whole registries at the root of their host.
        if (uri.AbsolutePath != "/")
            throw new RenderException($"mirror endpoint '{endpoint}' for {registry} has a path; NodeFleet supports mirrors served at the root of their host (scheme://host[:port])");
        return uri;
    }
}
