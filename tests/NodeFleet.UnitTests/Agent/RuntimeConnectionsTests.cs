using System.Diagnostics;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The runtime port over many steps, against a real containerd (installed by scripts/test.sh): every step asks the
/// factory for its image service, and the connections containerd holds open must not grow with them.
/// </summary>
public sealed class RuntimeConnectionsTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private Process _containerd = null!;
    private HostRoot _root = null!;

    private const string Socket = "/run/containerd/containerd.sock";

    public async Task InitializeAsync()
    {
        _root = new HostRoot(_dir.File("root"));
        var socket = _root.Path(Socket);
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        var config = _dir.File("config.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{_dir.File("c-root")}"
            state = "{_dir.File("c-state")}"
            [grpc]
              address = "{socket}"
            [plugins."io.containerd.grpc.v1.cri".containerd]
              snapshotter = "native"
            """);
        if (!File.Exists("/usr/bin/containerd")) throw new FileNotFoundException("/usr/bin/containerd is missing: scripts/test.sh installs it (apt-get install containerd)");
        var psi = new ProcessStartInfo("/usr/bin/containerd") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        _containerd = Process.Start(psi)!;
        _containerd.BeginErrorReadLine();
        _containerd.BeginOutputReadLine();
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!File.Exists(socket) && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.True(File.Exists(socket), "containerd did not open its socket");
    }

    public async Task DisposeAsync()
    {
        _containerd.Kill(entireProcessTree: true);
        await _containerd.WaitForExitAsync();
        _containerd.Dispose();
        _dir.Dispose();
    }

    /// <summary>The unix-socket connections containerd holds: its open file descriptors that are sockets.</summary>
    private int ContainerdSockets() =>
        new DirectoryInfo($"/proc/{_containerd.Id}/fd").EnumerateFileSystemInfos()
            .Count(f => f.LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true);

    [Fact]
    public async Task Fifty_steps_share_one_connection_and_it_closes_with_the_agent()
    {
        var plan = new NodePlan { Spec = new NodePlanSpec { Runtime = new RuntimeSpec { Kind = "containerd", Endpoint = "unix://" + Socket } } };
        var factory = new ImageServiceFactory(_root, new HostFiles(_root));
        Assert.Null(await factory.For(plan)!.ProbeAsync(CancellationToken.None));
        var idle = ContainerdSockets();

        // As the executor does: a new context, so a new image service, for every step.
        for (var step = 0; step < 50; step++)
        {
            var images = factory.For(plan)!;
            Assert.False(await images.IsPresentAsync("registry.k8s.io/pause:3.10", CancellationToken.None));
        }
        Assert.InRange(ContainerdSockets() - idle, 0, 1);

        factory.Dispose();
        var until = DateTime.UtcNow.AddSeconds(10);
        while (ContainerdSockets() >= idle && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.True(ContainerdSockets() < idle, "the agent's connection to containerd is still open after the factory was disposed");
    }
}
