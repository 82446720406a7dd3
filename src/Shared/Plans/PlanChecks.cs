using System.Text.RegularExpressions;

namespace NodeFleet.Plans;

/// <summary>Checks on host paths a plan names: absolute, clean, and confined to allowed roots.</summary>
public static class HostPaths
{
    /// <summary>Where a registry credentials file may live.</summary>
    public static readonly IReadOnlyList<string> CredentialRoots = ["/etc", "/var/lib"];

    /// <summary>
    /// Null when <paramref name="path"/> is absolute and clean: no '..' or '.' segments, no empty segment ('//' or a
    /// trailing '/'), no spaces or control characters. A clean path means what it says, so confinement checks hold.
    /// </summary>
    public static string? AbsolutePathError(string path)
    {
        if (path.Length == 0) return "empty path";
        if (path.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))) return "must not contain spaces or control characters";
        if (!path.StartsWith('/')) return "must be an absolute path (starting with '/'), not a relative one";
        var segments = path[1..].Split('/');
        if (segments.Contains("..")) return "must not contain '..' segments";
        if (segments.Any(s => s is "" or ".")) return "must be a clean path (no '.' segments, '//' or trailing '/')";
        return null;
    }

    /// <summary>Null when clean <paramref name="path"/> lies strictly beneath one of <paramref name="roots"/>.</summary>
    public static string? UnderRootError(string path, IReadOnlyList<string> roots) =>
        roots.Any(r => path.StartsWith(r + "/", StringComparison.Ordinal))
            ? null
            : $"must be under {string.Join(", ", roots)}";
}

/// <summary>Checks on the URLs a plan names (artifact downloads, registry mirrors).</summary>
internal static partial class Urls
{
    public enum Kind { Download, Mirror }

    [GeneratedRegex("^[A-Za-z0-9._~-]+$")]
    private static partial Regex PathSegment();

    /// <summary>
    /// Null when <paramref name="text"/> is an absolute http(s) URL with a host and no credentials or fragment.
    /// Mirrors take no query either, and a path only when <paramref name="allowPath"/> (a namespace prefix such as
    /// /v2/k8s, which containerd and cri-o accept and Docker does not).
    /// </summary>
    public static string? Error(string text, Kind kind, bool allowPath)
    {
        var what = kind == Kind.Mirror ? "mirror endpoint" : "URL";
        if (text.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
            return $"{what} '{text}' must not contain spaces or control characters";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || !text.StartsWith(uri.Scheme + "://", StringComparison.OrdinalIgnoreCase))
            return $"{what} '{text}' must be an http:// or https:// URL";
        if (uri.Host.Length == 0) return $"{what} '{text}' has no host";
        if (uri.UserInfo.Length > 0) return $"{what} '{text}' must not carry credentials (use spec.registry.credentialsFile)";
        if (uri.Fragment.Length > 0) return $"{what} '{text}' must not have a #fragment";

        // The path as written: Uri would resolve "a/../b" to "b", hiding what the text says.
        var afterScheme = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var slash = afterScheme.IndexOfAny(['/', '?']);
        var rawPath = slash < 0 || afterScheme[slash] == '?' ? "" : afterScheme[slash..];
        var query = rawPath.IndexOf('?');
        if (query >= 0) rawPath = rawPath[..query];
        if (rawPath.Split('/').Any(s => s is "." or ".."))
            return $"{what} '{text}' must not contain '.' or '..' path segments";

        if (kind == Kind.Download)
        {
            if (rawPath.Trim('/').Length == 0) return $"URL '{text}' names no file";
            return null;
        }
        if (uri.Query.Length > 0 || text.Contains('?')) return $"mirror endpoint '{text}' must not have a query";
        if (rawPath is "" or "/") return null;
        if (!allowPath)
            return $"mirror endpoint '{text}' must be scheme://host[:port] with no path (the runtime takes no path prefix)";
        var segments = rawPath.Trim('/').Split('/');
        if (rawPath.Contains("//") || !segments.All(s => PathSegment().IsMatch(s)))
            return $"mirror endpoint '{text}': path prefix must be '/'-separated segments of letters, digits, '.', '_', '~' and '-'";
        return null;
    }
}
