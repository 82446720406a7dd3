using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

public static partial class PlanValidator
{
    /// <summary>
    /// The directories artifacts are installed into; which names each takes is <see cref="PlanInstallTargets"/>'s rule.
    /// </summary>
    public static IReadOnlyList<string> AllowedInstallRoots => PlanInstallTargets.Directories;

    public const string DefaultArtifactMode = "0755";

    [GeneratedRegex("^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")]
    private static partial Regex ArtifactName();

    [GeneratedRegex("^[0-7]{3,4}$")]
    private static partial Regex OctalMode();

    private static void CheckArtifacts(ErrorSink errors, RepeatedField<Artifact> artifacts)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < artifacts.Count; i++)
        {
            var a = artifacts[i];
            var path = PlanPath.Index("spec.artifacts", i);

            var namePath = PlanPath.Field(path, "name");
            if (a.Name.Length == 0) errors.Add(namePath, "required");
            else if (!ArtifactName().IsMatch(a.Name))
                errors.Add(namePath, $"'{a.Name}' must be at most 63 characters of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit");
            else if (!names.TryAdd(a.Name, path)) errors.Add(namePath, $"duplicate artifact name '{a.Name}' (also {names[a.Name]})");

            var urlPath = PlanPath.Field(path, "url");
            if (a.Url.Length == 0) errors.Add(urlPath, "required");
            else if (Urls.Error(a.Url, Urls.Kind.Download, allowPath: true) is { } urlError) errors.Add(urlPath, urlError);

            if (Sha256Error(a.Sha256) is { } shaError) errors.Add(PlanPath.Field(path, "sha256"), shaError);

            var installPath = PlanPath.Field(path, "installPath");
            if (a.InstallPath.Length == 0) errors.Add(installPath, $"required: where to install it, in {string.Join(", ", AllowedInstallRoots)}");
            else if (PlanInstallTargets.Error(a.InstallPath) is { } pathError)
                errors.Add(installPath, $"'{a.InstallPath}': {pathError}");
            else if (!targets.TryAdd(a.InstallPath, path))
                errors.Add(installPath, $"'{a.InstallPath}' is also the install path of {targets[a.InstallPath]}");

            if (a.Mode.Length > 0 && ModeError(a.Mode) is { } modeError) errors.Add(PlanPath.Field(path, "mode"), modeError);
        }
    }

    /// <summary>Null when <paramref name="sha256"/> is 64 lowercase hex digits, else why not ("bad sha256 ...").</summary>
    public static string? Sha256Error(string sha256)
    {
        if (sha256.Length == 0) return "required: the SHA-256 of the file, 64 lowercase hex digits";
        if (sha256.Length == 64 && sha256.All(char.IsAsciiHexDigitLower)) return null;
        if (sha256.Length == 64 && sha256.All(char.IsAsciiHexDigit)) return $"bad sha256 '{sha256}': hex digits must be lowercase";
        var shown = sha256.Length > 80 ? sha256[..77] + "..." : sha256;
        return $"bad sha256 '{shown}': must be exactly 64 lowercase hex digits (got {sha256.Length} characters{(sha256.All(char.IsAsciiHexDigit) ? "" : ", not all hex")})";
    }

    /// <summary>
    /// Null when <paramref name="mode"/> is an octal file mode of 3 or 4 digits up to 0755 that neither the group nor
    /// others may write, else why not. The agent installs as root into system paths (/usr/bin/kubelet): a file any
    /// local user may write there is a way to root.
    /// </summary>
    public static string? ModeError(string mode)
    {
        if (!OctalMode().IsMatch(mode)) return $"mode '{mode}' must be an octal string of 3 or 4 digits, such as 0755";
        if (mode.Length == 4 && mode[0] != '0') return $"mode '{mode}': setuid, setgid and sticky bits are not allowed (at most 0755)";
        var bits = Convert.ToInt32(mode, 8);
        if ((bits & 0b000_010_010) != 0)
            return $"mode '{mode}': the file would be writable by {((bits & 0b000_010_010) == 0b000_010_010 ? "its group and all users" : (bits & 0b000_000_010) != 0 ? "all users" : "its group")}, " +
                   "and it is installed as root into a system path; use 0755 or 0555 (0644 for data files)";
        return null;
    }
}
