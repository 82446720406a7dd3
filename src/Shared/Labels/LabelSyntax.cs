using System.Text.RegularExpressions;

namespace NodeFleet.Labels;

/// <summary>Kubernetes label syntax: keys "[prefix/]name", values of up to 63 characters.</summary>
public static partial class LabelSyntax
{
    [GeneratedRegex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\z")]
    private static partial Regex DnsSubdomainPattern();

    /// <summary>Null when the key is valid, else why not.</summary>
    public static string? KeyError(string key)
    {
        var slash = key.IndexOf('/');
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0)
        {
            var prefix = key[..slash];
            if (prefix.Length == 0 || prefix.Length > 253 || !DnsSubdomainPattern().IsMatch(prefix))
                return $"label key '{key}': prefix must be a DNS subdomain";
        }
        if (name.Length == 0 || !NamePattern().IsMatch(name))
            return $"label key '{key}': name must be 1-63 characters of [A-Za-z0-9-_.], beginning and ending alphanumeric";
        return null;
    }

    public static string? ValueError(string key, string value) =>
        NamePattern().IsMatch(value)
            ? null
            : $"label '{key}': value '{value}' must be at most 63 characters of [A-Za-z0-9-_.], beginning and ending alphanumeric";

    /// <summary>Parses "k=v,k2=v2" into a dictionary, failing with a message that names the bad pair.</summary>
    public static Dictionary<string, string> ParseAssignments(string? text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text)) return result;
        foreach (var raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = raw.IndexOf('=');
            if (eq <= 0) throw new FormatException($"label '{raw}': expected key=value");
            var (k, v) = (raw[..eq], raw[(eq + 1)..]);
            Validate(k, v);
            result[k] = v;
        }
        return result;
    }

    public static void Validate(string key, string value)
    {
        var error = KeyError(key) ?? ValueError(key, value);
        if (error is not null) throw new FormatException(error);
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\z")]
    private static partial Regex DnsLabelPattern();

    /// <summary>
    /// DNS-1123 label (a-z, 0-9, '-', at most 63 characters), as a cluster's name must be: it is also the value of a
    /// node's nodefleet.io/cluster label.
    /// </summary>
    public static string? ClusterNameError(string name) =>
        DnsLabelPattern().IsMatch(name)
            ? null
            : $"cluster name '{name}' must be a lowercase DNS-1123 label (a-z, 0-9, '-'; beginning and ending alphanumeric; at most 63 characters)";

    /// <summary>DNS-1123 subdomain, as Kubernetes requires of node names.</summary>
    public static string? NodeNameError(string name) =>
        name.Length is > 0 and <= 253 && DnsSubdomainPattern().IsMatch(name)
            ? null
            : $"node name '{name}' must be a lowercase DNS-1123 subdomain (a-z, 0-9, '-', '.'; at most 253 characters)";
}
