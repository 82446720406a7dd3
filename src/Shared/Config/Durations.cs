using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NodeFleet.Config;

/// <summary>Go-style durations as kubeadm and kubectl accept them: "24h", "1h30m", "90s", "500ms", "0".</summary>
public static partial class Durations
{
    [GeneratedRegex("^(\\d+(?:\\.\\d+)?)(ms|s|m|h|d)")]
    private static partial Regex Part();

    /// <summary>
    /// The longest duration accepted: 100 years. Every duration ends up added to a date (token expiry), in a
    /// protobuf Duration or in a timer; far below where any of those (or TimeSpan itself) overflows.
    /// </summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(36500);

    public static TimeSpan Parse(string text)
    {
        var s = text.Trim();
        if (s == "0") return TimeSpan.Zero;
        if (s.Length == 0) throw new FormatException("empty duration");
        var total = TimeSpan.Zero;
        var rest = s;
        while (rest.Length > 0)
        {
            var m = Part().Match(rest);
            if (!m.Success)
                throw new FormatException($"'{text}' is not a duration: use a number with a unit ms, s, m, h or d, e.g. 24h, 1h30m, 90s");
            var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var days = n / (m.Groups[2].Value switch
            {
                "ms" => 86_400_000,
                "s" => 86_400,
                "m" => 1_440,
                "h" => 24,
                _ => 1,
            });
            // Checked as a double before any TimeSpan is built: TimeSpan itself overflows at about 29,000 years.
            if (!double.IsFinite(days) || days > Max.TotalDays) throw TooLong(text);
            var part = m.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
            // Not 0 by accident: "--ttl 0" means "never expires", "--ttl 0.00000001s" must not.
            if (n > 0 && part == TimeSpan.Zero)
                throw new FormatException($"'{text.Trim()}' is too short: a duration other than 0 is at least 100ns (0.0001ms)");
            total += part;
            if (total > Max) throw TooLong(text);
            rest = rest[m.Length..];
        }
        return total;
    }

    private static FormatException TooLong(string text) =>
        new($"'{text.Trim()}' is too long: a duration is at most {Format(Max)} (100 years)");

    /// <summary>Short human form: "23h59m", "45s", "3d4h".</summary>
    public static string Format(TimeSpan t)
    {
        if (t < TimeSpan.Zero) t = t.Negate();
        if (t > TimeSpan.Zero && t.TotalSeconds < 1) return $"{(int)t.TotalMilliseconds}ms";
        var sb = new StringBuilder();
        if (t.Days > 0) sb.Append(CultureInfo.InvariantCulture, $"{t.Days}d");
        if (t.Hours > 0) sb.Append(CultureInfo.InvariantCulture, $"{t.Hours}h");
        if (t.Days == 0 && t.Minutes > 0) sb.Append(CultureInfo.InvariantCulture, $"{t.Minutes}m");
        if (t.TotalHours < 1 && t.Seconds > 0) sb.Append(CultureInfo.InvariantCulture, $"{t.Seconds}s");
        return sb.Length == 0 ? "0s" : sb.ToString();
    }
}
