namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// containerd with the CRI plugin whose registry <c>config_path</c> is a given directory: the certs.d the agent
/// manages under its --root (<c>agent.HostPath("/etc/containerd/certs.d")</c>), or one written with
/// <see cref="ContainerdMirror"/>. Otherwise as <see cref="RuntimeDaemons.StartContainerdAsync"/> (to be merged).
/// </summary>
public static class ContainerdProcess
{
    public const string Binary = "/usr/bin/containerd";

    public static async Task<BackgroundProc> StartAsync(string workDir, string socket, bool systemdCgroup, string certsDir)
    {
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing: scripts/test.sh installs it (apt-get install containerd)");
        Directory.CreateDirectory(workDir);
        Directory.CreateDirectory(certsDir);
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
        var p = Proc.Start(Binary, ["--config", config]);
        await Proc.WaitUntilAsync(() => Task.FromResult(File.Exists(socket) || p.HasExited), TimeSpan.FromSeconds(20),
            $"containerd socket {socket}");
        if (p.HasExited) throw new InvalidOperationException($"containerd exited: {p.Output}");
        return p;
    }
}
