namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>containerd's own CLI (ships with containerd) against a test's containerd, in CRI's namespace k8s.io.</summary>
public static class Ctr
{
    public const string Binary = "/usr/bin/ctr";

    /// <summary><c>ctr -a SOCKET -n k8s.io ARGS…</c>; the result is returned whatever the exit code.</summary>
    public static Task<ProcResult> CtrAsync(string socket, params string[] args)
    {
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing: scripts/test.sh installs it (apt-get install containerd)");
        return Proc.RunAsync(Binary, ["-a", socket, "-n", "k8s.io", .. args], timeout: TimeSpan.FromMinutes(2));
    }

    /// <summary>The names of the images in k8s.io (<c>images ls -q</c>): tags and digests as CRI recorded them
    /// ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause@sha256:…", "sha256:…").</summary>
    public static async Task<IReadOnlyList<string>> ImagesAsync(string socket)
    {
        var r = await CtrAsync(socket, "images", "ls", "-q");
        if (r.ExitCode != 0) throw new InvalidOperationException($"ctr images ls failed: {r}");
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary><c>images rm REF…</c> (removing a name that does not exist is not an error).</summary>
    public static async Task RemoveImagesAsync(string socket, params string[] references)
    {
        var r = await CtrAsync(socket, ["images", "rm", .. references]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"ctr images rm failed: {r}");
    }
}
