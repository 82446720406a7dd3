using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The facts an agent reports come from the real runtimes: containerd over CRI on its unix socket and dockerd
/// over its Engine API. A kubelet cannot run here: a fake kubelet binary (a script answering --version) stands
/// in for it at the process boundary.
/// </summary>
public sealed class RuntimeFactsTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static void InstallFakeKubelet(TestAgent agent, string version)
    {
        var path = agent.HostPath("/usr/bin/kubelet");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, $"#!/bin/sh\n# fake kubelet for tests\necho \"Kubernetes {version}\"\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    [Fact]
    public async Task Containerd_version_and_systemd_cgroup_driver_come_from_cri()
    {
        var agent = _cluster.NewAgent("ctr-node");
        await using var containerd = await RuntimeDaemons.StartContainerdAsync(Path.Combine(_cluster.Scratch, "containerd"),
            agent.HostPath("/run/containerd/containerd.sock"), systemdCgroup: true);
        InstallFakeKubelet(agent, "v1.31.2");
        var (token, hash) = await _cluster.CreateTokenAsync();
        Assert.Equal(0, (await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "ctr-node", _cluster.Address])).ExitCode);
        agent.StartRun();
        await _cluster.WaitForStatusAsync("ctr-node", "NODE_STATUS_ONLINE");

        var facts = (await _cluster.NodeAsync("ctr-node"))!.Value.GetProperty("facts");
        Assert.Equal("containerd", facts.GetProperty("runtimeKind").GetString());
        Assert.StartsWith("1.", facts.GetProperty("runtimeVersion").GetString());
        Assert.Equal("unix:///run/containerd/containerd.sock", facts.GetProperty("runtimeEndpoint").GetString());
        Assert.Equal("systemd", facts.GetProperty("cgroupDriver").GetString());
        Assert.Equal("v1.31.2", facts.GetProperty("kubeletVersion").GetString());

        var table = await _cluster.CliOkAsync("nodes");
        Assert.Contains("containerd 1.", table);
        Assert.Contains("v1.31.2", table);
    }

    [Fact]
    public async Task Containerd_with_cgroupfs_is_reported_as_cgroupfs()
    {
        var agent = _cluster.NewAgent("ctr-fs");
        await using var containerd = await RuntimeDaemons.StartContainerdAsync(Path.Combine(_cluster.Scratch, "containerd-fs"),
            agent.HostPath("/run/containerd/containerd.sock"), systemdCgroup: false);
        var r = await Proc.RunAsync(Binaries.Agent, ["--root", agent.Root, "facts"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\"cgroupDriver\": \"cgroupfs\"", r.StdOut);
        Assert.Contains("\"runtimeKind\": \"containerd\"", r.StdOut);
    }

    [Fact]
    public async Task Docker_version_and_cgroup_driver_come_from_the_engine_api()
    {
        var agent = _cluster.NewAgent("dkr-node");
        await using var dockerd = await RuntimeDaemons.StartDockerdAsync(Path.Combine(_cluster.Scratch, "d1"),
            agent.HostPath("/var/run/docker.sock"), "cgroupfs");
        var (token, hash) = await _cluster.CreateTokenAsync();
        Assert.Equal(0, (await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "dkr-node", _cluster.Address])).ExitCode);
        agent.StartRun();
        await _cluster.WaitForStatusAsync("dkr-node", "NODE_STATUS_ONLINE");
        var facts = (await _cluster.NodeAsync("dkr-node"))!.Value.GetProperty("facts");
        Assert.Equal("docker", facts.GetProperty("runtimeKind").GetString());
        Assert.False(string.IsNullOrEmpty(facts.GetProperty("runtimeVersion").GetString()));
        Assert.Equal("cgroupfs", facts.GetProperty("cgroupDriver").GetString());
    }
}
