namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// Mounts a killed runtime leaves behind. dockerd bind-mounts its --data-root onto itself (and containerd may mount
/// under its root); when the daemon is killed with SIGKILL the mount stays, and the scratch directory cannot be removed.
/// </summary>
public static class Mounts
{
    /// <summary>Mount points at or under <paramref name="directory"/>, deepest first (from /proc/self/mountinfo).</summary>
    public static IReadOnlyList<string> Under(string directory)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        return File.ReadAllLines("/proc/self/mountinfo")
            .Select(l => Unescape(l.Split(' ')[4]))
            .Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(m => m.Length)
            .ToList();
    }

    /// <summary><c>umount --lazy</c> everything at or under <paramref name="directory"/>; call after the daemon has exited.</summary>
    public static async Task UnmountUnderAsync(string directory)
    {
        foreach (var mount in Under(directory))
        {
            var r = await Proc.RunAsync("/bin/umount", ["--lazy", mount]);
            if (r.ExitCode != 0 && Under(mount).Contains(mount))
                throw new InvalidOperationException($"umount {mount} failed: {r}");
        }
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo.
    private static string Unescape(string s) =>
        System.Text.RegularExpressions.Regex.Replace(s, "\\\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
