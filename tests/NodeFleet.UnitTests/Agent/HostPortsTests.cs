using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Phases;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The host ports the steps, facts and preflight go through: the file port's reads, downloads and renames (with its
/// link checks), the kernel port (the running kernel's /proc, not the root's), the network port, and the one process runner.
/// </summary>
public sealed class HostPortsTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly HostFiles _files;
    private readonly string _kernel;

    public HostPortsTests()
    {
        _kernel = _dir.File("kernel");
        _root = new HostRoot(_dir.File("root"), _kernel);
        _files = new HostFiles(_root);
    }

    public void Dispose() => _dir.Dispose();

    private static void Write(string fullPath, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        File.WriteAllText(fullPath, content);
    }

    [Fact]
    public void Sha256_and_free_space_are_read_through_the_file_port_and_never_through_a_link()
    {
        Write(_root.Path("/var/lib/nodefleet-agent/cache/a"), "artifact");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("artifact"u8)), _files.Sha256Of("/var/lib/nodefleet-agent/cache/a"));
        File.CreateSymbolicLink(_root.Path("/var/lib/nodefleet-agent/cache/b"), _root.Path("/var/lib/nodefleet-agent/cache/a"));
        Assert.Null(_files.Sha256Of("/var/lib/nodefleet-agent/cache/b"));
        Assert.Null(_files.Sha256Of("/var/lib/nodefleet-agent/cache/none"));

        Assert.True(_files.FreeBytes("/var/lib") > 0);
        Assert.Null(_files.FreeBytes("/var/nothing"));
    }

    [Fact]
    public void A_download_file_is_created_new_never_through_a_link_and_renamed_into_place()
    {
        const string part = "/var/lib/nodefleet-agent/cache/x.part";
        using (var f = _files.CreateNew(part)) f.Write("bytes"u8);
        _files.Move(part, "/var/lib/nodefleet-agent/cache/x");
        Assert.Equal("bytes", File.ReadAllText(_root.Path("/var/lib/nodefleet-agent/cache/x")));
        Assert.False(File.Exists(_root.Path(part)));

        // A link put where the partial file goes is not written through: the target outside stays untouched.
        var outside = _dir.File("outside");
        File.WriteAllText(outside, "theirs");
        File.CreateSymbolicLink(_root.Path(part), outside);
        Assert.Throws<IOException>(() => _files.CreateNew(part).Dispose());
        Assert.Equal("theirs", File.ReadAllText(outside));

        // Nor a cache directory that is a link.
        Directory.CreateDirectory(_dir.File("elsewhere"));
        Directory.Delete(_root.Path("/var/lib/nodefleet-agent/cache"), recursive: true);
        Directory.CreateSymbolicLink(_root.Path("/var/lib/nodefleet-agent/cache"), _dir.File("elsewhere"));
        var refused = Assert.Throws<HostPathException>(() => _files.CreateNew(part).Dispose());
        Assert.Contains("/var/lib/nodefleet-agent/cache is a symbolic link", refused.Message);
        Assert.Empty(Directory.GetFiles(_dir.File("elsewhere")));
    }

    [Fact]
    public void Kernel_state_is_read_from_the_kernel_root_and_named_where_it_was_read()
    {
        Write(Path.Join(_kernel, "/proc/sys/net/ipv4/ip_forward"), "1\n");
        Assert.Equal("1\n", _root.Kernel.ReadText("/proc/sys/net/ipv4/ip_forward"));
        Assert.Equal(Path.Join(_kernel, "/proc/sys/net/ipv4/ip_forward"), _root.Kernel.PathOf("/proc/sys/net/ipv4/ip_forward"));
        Assert.Null(_root.Kernel.ReadText("/proc/sys/net/bridge/bridge-nf-call-iptables"));
        Assert.Throws<ArgumentException>(() => _root.Kernel.PathOf("/etc/passwd"));
        Assert.Throws<ArgumentException>(() => _root.Kernel.PathOf("/proc/../etc/passwd"));

        // By default the running kernel's, whatever the root.
        var host = new HostRoot(_dir.File("root"));
        Assert.Equal("/proc/sys/kernel/osrelease", host.Kernel.PathOf("/proc/sys/kernel/osrelease"));
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease"), host.Kernel.ReadText("/proc/sys/kernel/osrelease"));
        Assert.True(host.Kernel.Exists($"/proc/{Environment.ProcessId}"));
    }

    private StepContext Context(HostRoot root) => new(
        new NodePlan { Spec = new NodePlanSpec { Runtime = new RuntimeSpec { Kind = "containerd", CgroupDriver = "systemd" } } },
        new HostFiles(root), new Systemctl("/bin/false"), null, new CommandRunner(root), TimeProvider.System, NullLogger.Instance)
    {
        ChangedUnits = new HashSet<string>(),
        RestartedUnits = new HashSet<string>(),
    };

    [Fact]
    public async Task Preflight_reads_kernel_state_from_the_kernel_and_configuration_under_the_root_naming_each_path()
    {
        // The root holds a stand-in /proc that must not be read, and the node's kubelet config, that must.
        Write(_root.Path("/proc/sys/net/ipv4/ip_forward"), "1\n");
        Write(_root.Path("/proc/sys/net/bridge/bridge-nf-call-iptables"), "1\n");
        Write(_root.Path("/var/lib/kubelet/config.yaml"), "cgroupDriver: cgroupfs\n");
        Write(Path.Join(_kernel, "/proc/sys/net/ipv4/ip_forward"), "0\n");
        Write(Path.Join(_kernel, "/proc/swaps"), "Filename\tType\tSize\tUsed\tPriority\n");
        using var http = new HttpClient();

        var findings = await PreflightStep.RunChecksAsync(Context(_root), new HostNetwork(http), CancellationToken.None);
        var messages = findings.ToDictionary(f => f.Id, f => f.Message);
        Assert.Equal($"{_kernel}/proc/sys/net/ipv4/ip_forward contents are not set to 1", messages["FileContent--proc-sys-net-ipv4-ip_forward"]);
        Assert.Equal($"{_kernel}/proc/sys/net/bridge/bridge-nf-call-iptables does not exist (is the module loaded?)",
            messages["FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"]);
        Assert.Contains($"({_root.Path("/var/lib/kubelet/config.yaml")}) has cgroupDriver cgroupfs", messages["CgroupDriver"]);
        Assert.False(messages.ContainsKey("Swap"));

        // With the default kernel root, the running kernel's file is read (and named) though the root has its own.
        var onHost = await PreflightStep.RunChecksAsync(Context(new HostRoot(_dir.File("root"))), new HostNetwork(http), CancellationToken.None);
        var forwarding = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim() == "1";
        var finding = onHost.SingleOrDefault(f => f.Id == "FileContent--proc-sys-net-ipv4-ip_forward");
        if (forwarding) Assert.Null(finding);
        else Assert.Equal("/proc/sys/net/ipv4/ip_forward contents are not set to 1", finding!.Message);
    }

    [Fact]
    public async Task The_network_port_sees_a_port_in_use_and_a_closed_one()
    {
        using var http = new HttpClient();
        var network = new HostNetwork(http);
        var listener = ListenBelowEphemeralPorts();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Assert.False(network.IsTcpPortFree(port));
        await network.ConnectTcpAsync("127.0.0.1", port, CancellationToken.None);
        listener.Stop();
        Assert.True(network.IsTcpPortFree(port));
        await Assert.ThrowsAsync<SocketException>(() => network.ConnectTcpAsync("127.0.0.1", port, CancellationToken.None));
    }

    /// <summary>
    /// A listener on a port below the range the kernel gives outgoing connections: once it is closed, no connection
    /// made meanwhile (by a test running beside this one) takes its port. One on port 0 got a port from that range.
    /// </summary>
    private static TcpListener ListenBelowEphemeralPorts()
    {
        var low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0]);
        var start = Random.Shared.Next(10_000, low - 1);
        for (var port = start; port < low; port++)
        {
            var listener = new TcpListener(IPAddress.Any, port);
            try
            {
                listener.Start();
                return listener;
            }
            catch (SocketException) { listener.Dispose(); }
        }
        throw new InvalidOperationException($"no free port from {start} to {low}");
    }

    [Fact]
    public async Task One_process_runner_kills_what_overruns_and_systemctl_goes_through_it()
    {
        var script = _dir.File("slow.sh");
        var pidFile = _dir.File("pid");
        File.WriteAllText(script, $"#!/bin/sh\necho $$ > '{pidFile}'\nexec sleep 30\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => ProcessRunner.RunAsync(script, [], TimeSpan.FromMilliseconds(500), CancellationToken.None));
        Assert.Contains("did not finish within", timeout.Message);
        var pid = File.ReadAllText(pidFile).Trim();
        await Task.Delay(200);
        Assert.False(Directory.Exists($"/proc/{pid}"), "the process that overran is still running");

        var failing = _dir.File("systemctl");
        File.WriteAllText(failing, "#!/bin/sh\necho \"Job for $2.service failed.\" >&2\nexit 1\n");
        File.SetUnixFileMode(failing, (UnixFileMode)0b111_101_101);
        var error = await Assert.ThrowsAsync<ServiceManagerException>(() => new Systemctl(failing).RestartAsync("kubelet", CancellationToken.None));
        Assert.Equal("systemctl restart kubelet exited 1: Job for kubelet.service failed.", error.Message);
        var missing = await Assert.ThrowsAsync<ServiceManagerException>(() => new Systemctl(_dir.File("none")).DaemonReloadAsync(CancellationToken.None));
        Assert.StartsWith($"cannot run {_dir.File("none")} (daemon-reload)", missing.Message);
    }
}
