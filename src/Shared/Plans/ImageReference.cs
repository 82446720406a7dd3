using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace NodeFleet.Plans;

/// <summary>
/// A container image reference, parsed and normalised as Docker and containerd do ("nginx" →
/// "docker.io/library/nginx:latest"): registry, repository path, tag and digest. Only the lowercase form is accepted.
/// </summary>
/// <remarks>
/// The grammar is the distribution project's (reference/regexp.go): path components of [a-z0-9] joined by '.', '_',
/// '__' or dashes; tags of up to 128 word characters, '.' and '-'; a name of at most 255 characters. The first path
/// component is the registry when it contains '.' or ':' or is "localhost"; otherwise the image is on Docker Hub.
/// Unlike Docker, uppercase letters are refused in the registry too, so two spellings never name one image.
/// </remarks>
public sealed partial record ImageReference
{
    public const string DockerHub = "docker.io";
    public const string DefaultTag = "latest";
    private const string LegacyDockerHub = "index.docker.io";
    private const int NameMaxLength = 255;

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponent();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(?:\\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*$")]
    private static partial Regex HostName();

    [GeneratedRegex("^\\[[0-9a-f:.]+\\]$")]
    private static partial Regex BracketedIPv6();

    [GeneratedRegex("^[a-f0-9]{64}$")]
    private static partial Regex ImageId();

    private ImageReference(string registry, string repository, string? tag, string? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>Registry host[:port], "docker.io" for Docker Hub.</summary>
    public string Registry { get; }

    /// <summary>Path within the registry: "library/nginx", "coredns/coredns".</summary>
    public string Repository { get; }

    /// <summary>The tag; "latest" when neither a tag nor a digest was given; null for a digest-only reference.</summary>
    public string? Tag { get; }

    /// <summary>"sha256:&lt;64 hex&gt;" (or sha512), or null.</summary>
    public string? Digest { get; }

    /// <summary>Registry and repository: "docker.io/library/nginx".</summary>
    public string Name => $"{Registry}/{Repository}";

    public static ImageReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    /// <summary>Null when <paramref name="text"/> is a valid reference, else why not.</summary>
    public static string? Error(string text) => TryParse(text, out _, out var error) ? null : error;

    public static bool TryParse(string text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        error = Check(text, out var registry, out var repository, out var tag, out var digest);
        if (error is not null) return false;
        reference = new ImageReference(registry!, repository!, tag, digest);
        return true;
    }

    /// <summary>
    /// The same image under another registry and repository prefix (kubeadm's imageRepository):
    /// ("mirror:5000/k8s", "pause") → "mirror:5000/k8s/pause" with this tag and digest.
    /// </summary>
    public ImageReference WithName(string repositoryPrefix, string image)
    {
        var text = $"{repositoryPrefix}/{image}{(Tag is null ? "" : ":" + Tag)}{(Digest is null ? "" : "@" + Digest)}";
        return Parse(text);
    }

    /// <summary>The fully qualified form: "docker.io/library/nginx:latest", "quay.io/x/y@sha256:…".</summary>
    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>The short form Docker prints: "nginx:latest", "bitnami/redis:7", "quay.io/x/y:1".</summary>
    public string ToFamiliarString()
    {
        var name = Registry != DockerHub ? Name
            : Repository.StartsWith("library/", StringComparison.Ordinal) && Repository.IndexOf('/', 8) < 0 ? Repository[8..]
            : Repository;
        return name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);
    }

    /// <summary>Null when <paramref name="host"/> is a registry host ("registry.k8s.io", "localhost:5000", "[::1]:5000").</summary>
    public static string? RegistryHostError(string host)
    {
        if (host.Length == 0) return "empty registry host";
        if (host.Any(char.IsUpper)) return $"registry host '{host}' must be lowercase";
        var name = host;
        var port = "";
        var colon = host.LastIndexOf(':');
        if (colon >= 0 && (!host.StartsWith('[') || host.LastIndexOf(']') < colon))
        {
            name = host[..colon];
            port = host[(colon + 1)..];
            if (!int.TryParse(port, System.Globalization.NumberStyles.None, null, out var p) || p is < 1 or > 65535 || port[0] == '0')
                return $"registry host '{host}': port must be a number from 1 to 65535";
        }
        if (!HostName().IsMatch(name) && !BracketedIPv6().IsMatch(name))
            return $"'{host}' is not a registry host (host[:port], e.g. registry.k8s.io or mirror.example:5000)";
        return null;
    }

    /// <summary>
    /// Null when <paramref name="prefix"/> can stand before an image name, as kubeadm's imageRepository does
    /// ("registry.k8s.io", "mirror.example:5000/k8s", "myorg"): a registry and/or path, without tag or digest.
    /// </summary>
    public static string? RepositoryPrefixError(string prefix)
    {
        if (prefix.Length == 0) return "empty image repository";
        if (prefix.Contains('@') || prefix.EndsWith('/'))
            return $"'{prefix}' is not an image repository (registry[:port][/path], without tag or digest)";
        // The prefix is valid exactly when it forms a valid reference with an image name after it.
        var error = Check(prefix + "/pause:1", out _, out _, out _, out _);
        return error is null ? null : $"'{prefix}' is not an image repository (registry[:port][/path], without tag or digest): {error}";
    }

    private static string? Check(string text, out string? registry, out string? repository, out string? tag, out string? digest)
    {
        registry = repository = tag = digest = null;
        if (text.Length == 0) return "empty image reference";
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c > '~')
                return $"image reference '{Printable(text)}' contains a space, a control or a non-ASCII character";
        }

        var rest = text;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (DigestError(digest) is { } digestError) return $"image reference '{text}': {digestError}";
        }

        var lastSlash = rest.LastIndexOf('/');
        var colon = rest.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagPattern().IsMatch(tag))
                return $"image reference '{text}': tag '{tag}' must be 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'";
        }
        if (rest.Length == 0) return $"image reference '{text}' has no name";
        if (rest.Any(char.IsUpper)) return $"image reference '{text}': repository name must be lowercase";

        var slash = rest.IndexOf('/');
        var first = slash < 0 ? "" : rest[..slash];
        if (slash < 0 || (!first.Contains('.') && !first.Contains(':') && first != "localhost"))
        {
            registry = DockerHub;
            repository = rest;
            if (ImageId().IsMatch(rest)) return $"image reference '{text}' is a 64-character hex string: that is an image id, not a name";
        }
        else
        {
            registry = first == LegacyDockerHub ? DockerHub : first;
            repository = rest[(slash + 1)..];
            if (RegistryHostError(first) is { } hostError) return $"image reference '{text}': {hostError}";
        }
        if (repository.Length == 0) return $"image reference '{text}' has no repository after the registry";
        foreach (var component in repository.Split('/'))
        {
            if (!PathComponent().IsMatch(component))
                return $"image reference '{text}': path component '{component}' must be lowercase letters and digits separated by '.', '_', '__' or '-'";
        }
        if (registry == DockerHub && !repository.Contains('/')) repository = "library/" + repository;
        if (registry.Length + 1 + repository.Length > NameMaxLength)
            return $"image reference '{text}': name is longer than {NameMaxLength} characters";
        if (tag is null && digest is null) tag = DefaultTag;
        return null;
    }

    private static string? DigestError(string digest)
    {
        var colon = digest.IndexOf(':');
        var (algorithm, hex) = colon < 0 ? (digest, "") : (digest[..colon], digest[(colon + 1)..]);
        var length = algorithm switch { "sha256" => 64, "sha512" => 128, _ => 0 };
        if (length == 0) return $"digest '{digest}' must be sha256:<64 hex digits> (or sha512:<128>)";
        if (hex.Length != length || !hex.All(char.IsAsciiHexDigitLower))
            return $"digest '{digest}' must be {algorithm}: followed by {length} lowercase hex digits";
        return null;
    }

    private static string Printable(string s) =>
        string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
}
