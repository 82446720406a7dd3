namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// Real container runtimes started privately for a test (installed by scripts/test.sh): each instance has its own
/// root, state and socket, so several run side by side and nothing of the machine's own is used.
/// </summary>
public static class RuntimeDaemons
{
    private static string Require(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: scripts/test.sh installs it (apt-get install containerd docker.io)");

    /// <summary>
    /// containerd with the CRI plugin listening on <paramref name="socket"/>; registry host configuration (hosts.toml)
    /// is read from <paramref name="certsDir"/> (default: a directory of its own under <paramref name="workDir"/>).
    /// </summary>
    public static async Task<BackgroundProc> StartContainerdAsync(string workDir, string socket, bool systemdCgroup, string? certsDir = null)
    {
        certsDir ??= $"{workDir}/certs.d";
        var binary = Require("/usr/bin/containerd");
        Directory.CreateDirectory(workDir);
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        var config = Path.Combine(workDir, "config.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{workDir}/root"
            state = "{workDir}/state"
            [grpc]
              address = "{socket}"
            [plugins."io.containerd.grpc.v1.cri"]
              sandbox_image = "registry.k8s.io/pause:3.9"
              [plugins."io.containerd.grpc.v1.cri".containerd]
                snapshotter = "native"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                  runtime_type = "io.containerd.runc.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                    SystemdCgroup = {(systemdCgroup ? "true" : "false")}
              [plugins."io.containerd.grpc.v1.cri".registry]
                config_path = "{certsDir}"
            """);
        var p = Proc.Start(binary, ["--config", config]);
        await Proc.WaitUntilAsync(() => Task.FromResult(File.Exists(socket) || p.HasExited), TimeSpan.FromSeconds(20),
            $"containerd socket {socket}");
        if (p.HasExited) throw new InvalidOperationException($"containerd exited: {p.Output}");
        return p;
    }

    /// <summary>dockerd by hand (no iptables, no bridge, vfs storage) listening on <paramref name="socket"/>.</summary>
    public static async Task<BackgroundProc> StartDockerdAsync(string workDir, string socket, string cgroupDriver)
    {
        var binary = Require("/usr/sbin/dockerd");
        Directory.CreateDirectory(workDir);
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        var config = Path.Combine(workDir, "daemon.json");
        await File.WriteAllTextAsync(config, $$"""{"exec-opts": ["native.cgroupdriver={{cgroupDriver}}"]}""");
        var ns = "nf" + Path.GetFileName(workDir);
        var p = Proc.Start(binary, ["--config-file", config, "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--ip-masq=false", "--storage-driver=vfs", "--data-root", Path.Combine(workDir, "data"),
            "--exec-root", Path.Combine(workDir, "exec"), "--pidfile", Path.Combine(workDir, "dockerd.pid"),
            "-H", $"unix://{socket}", "--containerd-namespace", ns + "-moby", "--containerd-plugins-namespace", ns + "-plugins"]);
        await Proc.WaitUntilAsync(() => Task.FromResult(p.Output.Contains("API listen on", StringComparison.Ordinal) || p.HasExited),
            TimeSpan.FromSeconds(30), $"dockerd on {socket}");
        if (p.HasExited) throw new InvalidOperationException($"dockerd exited: {p.Output}");
        return p;
    }
}
