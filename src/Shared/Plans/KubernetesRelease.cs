using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace NodeFleet.Plans;

/// <summary>A Kubernetes release version as plans spell it: "v1.31.2", "v1.32.0-rc.1".</summary>
public sealed partial record KubernetesRelease(int Major, int Minor, int Patch, string? PreRelease)
{
    [GeneratedRegex("^v(0|[1-9][0-9]{0,3})\\.(0|[1-9][0-9]{0,3})\\.(0|[1-9][0-9]{0,3})(?:-([0-9A-Za-z]+(?:\\.[0-9A-Za-z]+)*))?$")]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, [NotNullWhen(true)] out KubernetesRelease? version)
    {
        version = null;
        var m = Pattern().Match(text ?? "");
        if (!m.Success) return false;
        version = new KubernetesRelease(Int(m.Groups[1].Value), Int(m.Groups[2].Value), Int(m.Groups[3].Value),
            m.Groups[4].Success ? m.Groups[4].Value : null);
        return true;
    }

    public static KubernetesRelease Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException(FormatError(text));

    /// <summary>The message for a version that does not parse.</summary>
    public static string FormatError(string text) =>
        $"'{text}' is not a Kubernetes version: use v<major>.<minor>.<patch>, optionally with a pre-release (v1.31.2, v1.32.0-rc.1)";

    /// <summary>"v1.31" — the release line the version belongs to.</summary>
    public string MinorString => $"v{Major}.{Minor}";

    public override string ToString() => $"v{Major}.{Minor}.{Patch}{(PreRelease is null ? "" : "-" + PreRelease)}";

    private static int Int(string s) => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
}
