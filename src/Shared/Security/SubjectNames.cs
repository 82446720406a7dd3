using System.Net;
using System.Net.Sockets;

namespace NodeFleet.Security;

/// <summary>
/// The names a serving certificate may carry: an IP address, or a DNS name as RFC 1123 has it, with a wildcard only
/// as a whole first label (*.example.com).
/// </summary>
public static class SubjectNames
{
    /// <summary>
    /// The IP address <paramref name="name"/> is: four decimal parts for IPv4 (IPAddress.TryParse alone would take
    /// "10" or "1.2.3" for addresses), or an IPv6 address without brackets or zone (::ffff:10.0.0.1 included).
    /// </summary>
    public static bool TryParseIp(string name, out IPAddress ip)
    {
        ip = IPAddress.None;
        if (name.Contains(':'))
            return name.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.') && IPAddress.TryParse(name, out ip!) &&
                   ip.AddressFamily == AddressFamily.InterNetworkV6;
        // No leading zeros either: IPAddress.TryParse reads "010" as octal 8.
        var parts = name.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && (p.Length == 1 || p[0] != '0') &&
                                              int.Parse(p) <= 255) &&
               IPAddress.TryParse(name, out ip!);
    }

    /// <summary>Why <paramref name="name"/> is neither an IP address nor a DNS name, or null when it is one of them.</summary>
    public static string? Problem(string name)
    {
        if (name.Length == 0) return "it is empty";
        if (TryParseIp(name, out _)) return null;
        if (name.Contains(':')) return "not a valid IPv6 address (written without brackets or zone)";
        if (name.All(c => char.IsAsciiDigit(c) || c == '.')) return "not a valid IPv4 address";
        if (name.Length > 253) return "a DNS name is at most 253 characters";
        var labels = name.Split('.');
        for (var i = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (label.Length == 0) return "a DNS name has no empty labels (no leading, trailing or doubled '.')";
            if (label.Contains('*'))
            {
                if (i > 0 || label != "*") return "a wildcard may only be the whole first label (*.example.com)";
                if (labels.Length < 3) return "a wildcard needs at least two labels after it (*.example.com)";
                continue;
            }
            if (label.Length > 63) return $"DNS label '{label}' is longer than 63 characters";
            var bad = label.FirstOrDefault(c => !(char.IsAsciiLetterOrDigit(c) || c == '-'));
            if (bad != default)
                return $"'{bad}' is not allowed in a DNS name (letters, digits, '-' and '.'; an internationalised name in its xn-- form)";
            if (label[0] == '-' || label[^1] == '-') return $"DNS label '{label}' starts or ends with '-'";
        }
        if (labels[^1].All(char.IsAsciiDigit)) return "a DNS name does not end in a numeric label";
        return null;
    }
}
