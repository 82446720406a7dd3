using System.Text;
using System.Text.Json;

namespace NodeFleet.Agent.Host;

/// <summary>
/// Registry credentials from a file on the node in Docker's config.json shape
/// ({"auths": {"registry.example:5000": {"auth": "base64(user:password)"}}}); the plan only names the file.
/// </summary>
public sealed class RegistryCredentials
{
    private readonly Dictionary<string, (string User, string Password)> _byRegistry = new(StringComparer.OrdinalIgnoreCase);

    public static RegistryCredentials Empty { get; } = new();

    public static RegistryCredentials Load(HostFiles files, string? hostPath)
    {
        if (string.IsNullOrEmpty(hostPath)) return Empty;
        var bytes = files.Read(hostPath) ?? throw new InvalidOperationException(files.Stat(hostPath) is { Kind: EntryKind.SymbolicLink } link
            ? $"registry credentials file {hostPath} is a symbolic link (to {link.LinkTarget}); the agent reads no file through a link: name the file itself"
            : $"registry credentials file {hostPath} does not exist");
        var creds = new RegistryCredentials();
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (!doc.RootElement.TryGetProperty("auths", out var auths) || auths.ValueKind != JsonValueKind.Object)
                throw new InvalidOperationException($"registry credentials file {hostPath}: expected an \"auths\" object");
            foreach (var entry in auths.EnumerateObject())
            {
                string? user = null, password = null;
                if (entry.Value.TryGetProperty("auth", out var auth) && auth.GetString() is { Length: > 0 } b64)
                {
                    var pair = Encoding.UTF8.GetString(Convert.FromBase64String(b64));
                    var colon = pair.IndexOf(':');
                    if (colon > 0) (user, password) = (pair[..colon], pair[(colon + 1)..]);
                }
                if (entry.Value.TryGetProperty("username", out var u)) user = u.GetString();
                if (entry.Value.TryGetProperty("password", out var p)) password = p.GetString();
                if (user is not null && password is not null) creds._byRegistry[Host(entry.Name)] = (user, password);
            }
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new InvalidOperationException($"registry credentials file {hostPath} is not valid: {e.Message}");
        }
        return creds;
    }

    /// <summary>Credentials for a registry host ("docker.io" also matches Docker Hub's historical key).</summary>
    public (string User, string Password)? For(string registry)
    {
        if (_byRegistry.TryGetValue(registry, out var c)) return c;
        if (registry == "docker.io" && _byRegistry.TryGetValue("index.docker.io", out c)) return c;
        return null;
    }

    // Keys may be URLs ("https://index.docker.io/v1/"): only the host[:port] counts.
    private static string Host(string key)
    {
        var k = key;
        var scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) k = k[(scheme + 3)..];
        var slash = k.IndexOf('/');
        return slash >= 0 ? k[..slash] : k;
    }
}
