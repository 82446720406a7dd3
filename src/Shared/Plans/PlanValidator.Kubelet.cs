using System.Text.RegularExpressions;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

public static partial class PlanValidator
{
    public const string DefaultDropInName = "20-nodefleet.conf";

    /// <summary>
    /// Characters refused in kubelet flag values. The values end up in a systemd drop-in, where a shell or systemd
    /// would give these a meaning ('%' is a systemd specifier); no flag value a plan should set needs them.
    /// </summary>
    public const string ForbiddenArgCharacters = "`$;&|<>()\\\"'%";

    /// <summary>Flags the plan sets from its own fields, and the field to set instead.</summary>
    public static readonly IReadOnlyDictionary<string, string> PlanOwnedKubeletFlags = new Dictionary<string, string>
    {
        ["container-runtime-endpoint"] = "spec.runtime.endpoint",
        ["cgroup-driver"] = "spec.runtime.cgroupDriver",
        ["pod-infra-container-image"] = "spec.runtime.sandboxImage",
    };

    [GeneratedRegex("^[0-9]{2}-[a-z0-9-]+\\.conf$")]
    private static partial Regex DropInName();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex FlagName();

    private static void CheckKubelet(ErrorSink errors, KubeletSpec kubelet, string version)
    {
        if (kubelet.DropInName.Length > 0 && !DropInName().IsMatch(kubelet.DropInName))
            errors.Add("spec.kubelet.dropInName", $"'{kubelet.DropInName}' must look like NN-name.conf (two digits, a dash, a-z 0-9 '-', .conf), e.g. {DefaultDropInName}");

        int? minor = KubernetesRelease.TryParse(version, out var release) && release.Major == 1 ? release.Minor : null;
        foreach (var (flag, value) in kubelet.ExtraArgs.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var path = PlanPath.Key("spec.kubelet.extraArgs", flag);
            if (KubeletFlagError(flag, value, minor) is { } error) errors.Add(path, error);
        }
    }

    /// <summary>
    /// Null when <paramref name="flag"/>=<paramref name="value"/> may be passed to a kubelet of 1.<paramref name="minor"/>
    /// (null: any version), else why not: <see cref="KubeletFlags"/> says which flags a plan may set.
    /// </summary>
    public static string? KubeletFlagError(string flag, string value, int? minor = null)
    {
        if (flag.StartsWith('-'))
            return $"write the flag name without leading dashes ('{flag.TrimStart('-')}', not '{flag}')";
        if (!FlagName().IsMatch(flag))
            return $"'{flag}' is not a kubelet flag name (a-z, 0-9 and '-', starting with a letter or digit)";
        if (PlanOwnedKubeletFlags.TryGetValue(flag, out var field))
            return $"the plan sets --{flag} itself: set {field} instead";
        if (KubeletFlags.Error(flag, minor) is { } refused) return refused;
        foreach (var c in value)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c) || ForbiddenArgCharacters.Contains(c))
                return $"value of '{flag}' contains {Describe(c)} (spaces, quotes, shell metacharacters {ForbiddenArgCharacters} and control characters are not allowed)";
        }
        return null;
    }

    private static string Describe(char c) => c switch
    {
        ' ' => "a space",
        '\n' => "a newline",
        '\r' => "a carriage return",
        '\t' => "a tab",
        '\0' => "a NUL character",
        _ when char.IsControl(c) || char.IsWhiteSpace(c) => $"the character U+{(int)c:X4}",
        _ => $"'{c}'",
    };
}
