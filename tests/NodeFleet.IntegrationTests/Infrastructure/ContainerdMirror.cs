namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// containerd's registry host configuration (<c>config_path</c>, "certs.d"): <c>CERTSDIR/HOST/hosts.toml</c> sends the
/// pulls of one registry host to a mirror. containerd re-reads it on every pull, so it can be written or changed while
/// containerd runs. Only CRI pulls use the CRI plugin's config_path; <c>ctr images pull</c> needs <c>--hosts-dir</c>.
/// </summary>
public static class ContainerdMirror
{
    /// <summary>
    /// Writes CERTSDIR/<paramref name="registryHost"/>/hosts.toml so pulls of <paramref name="registryHost"/>
    /// ("registry.k8s.io", "docker.io") go to <paramref name="mirror"/>. The fallback <c>server</c> is the mirror too,
    /// so a test never reaches the internet even when the mirror fails. Returns the file's path.
    /// </summary>
    public static string WriteHostsToml(string certsDir, string registryHost, TestRegistry mirror) =>
        WriteHostsToml(certsDir, registryHost, mirror.Url);

    /// <param name="mirrorUrl">"http://127.0.0.1:PORT"</param>
    /// <param name="serverUrl">the fallback after the mirror; default <paramref name="mirrorUrl"/>.</param>
    public static string WriteHostsToml(string certsDir, string registryHost, string mirrorUrl, string? serverUrl = null)
    {
        var dir = Path.Combine(certsDir, registryHost);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "hosts.toml");
        File.WriteAllText(path, $"""
            server = "{serverUrl ?? mirrorUrl}"

            [host."{mirrorUrl}"]
              capabilities = ["pull", "resolve"]
            """ + "\n");
        return path;
    }
}
