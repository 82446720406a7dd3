using System.Globalization;
using System.Text.RegularExpressions;

namespace NodeFleet.Rendering;

/// <summary>A Kubernetes release, as far as flag compatibility cares: major and minor (<c>v1.31.2</c> → 1.31).</summary>
public readonly partial record struct KubernetesVersion(int Major, int Minor) : IComparable<KubernetesVersion>
{
    [GeneratedRegex(@"^v?(?<major>[0-9]+)\.(?<minor>[0-9]+)(?:\.[0-9]+)?(?:[-+][0-9A-Za-z.+-]*)?$")]
    private static partial Regex Pattern();

    /// <summary>Parses <c>v1.31.2</c>, <c>1.31.2</c>, <c>v1.31</c> or <c>v1.35.0-rc.1</c>.</summary>
    public static KubernetesVersion Parse(string version)
    {
        var m = Pattern().Match(version ?? "");
        if (!m.Success
            || !int.TryParse(m.Groups["major"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !int.TryParse(m.Groups["minor"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
            throw new RenderException($"'{version}' is not a Kubernetes version (expected e.g. v1.31.2)");
        return new KubernetesVersion(major, minor);
    }

    public int CompareTo(KubernetesVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public static bool operator <(KubernetesVersion a, KubernetesVersion b) => a.CompareTo(b) < 0;

    public static bool operator >(KubernetesVersion a, KubernetesVersion b) => a.CompareTo(b) > 0;

    public static bool operator <=(KubernetesVersion a, KubernetesVersion b) => a.CompareTo(b) <= 0;

    public static bool operator >=(KubernetesVersion a, KubernetesVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => $"v{Major}.{Minor}";
}
