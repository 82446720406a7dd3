using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

public sealed class FactsCollectorTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly FactsCollector _facts;
    private readonly ImageServiceFactory _runtimes;

    public FactsCollectorTests()
    {
        _root = new HostRoot(_dir.Path);
        _runtimes = new ImageServiceFactory(_root, new HostFiles(_root));
        _facts = new FactsCollector(new HostFiles(_root), _runtimes, new CommandRunner(_root), NullLogger<FactsCollector>.Instance);
    }

    public void Dispose()
    {
        _runtimes.Dispose();
        _dir.Dispose();
    }

    private void WriteHostFile(string hostPath, string content, UnixFileMode? mode = null)
    {
        var path = _root.Path(hostPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        if (mode is { } m) File.SetUnixFileMode(path, m);
    }

    [Fact]
    public async Task Empty_root_gives_the_machines_basics_and_no_runtime()
    {
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Contains(f.Arch, new[] { "amd64", "arm64" });
        Assert.Equal(RuntimeInformation.OSArchitecture == Architecture.X64 ? "amd64" : "arm64", f.Arch);
        Assert.NotEmpty(f.Kernel);
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), f.Kernel);
        Assert.Equal("", f.RuntimeKind);
        Assert.Equal("", f.RuntimeEndpoint);
        Assert.Equal("", f.KubeletVersion);
        Assert.NotEmpty(f.AgentVersion);
        Assert.Equal(NodeFleet.BuildInfo.Version, f.AgentVersion);
        Assert.Equal(System.Net.Dns.GetHostName(), f.Hostname);
        Assert.NotEmpty(f.Os);
    }

    [Fact]
    public async Task The_kubelets_hostname_override_is_read_from_its_files_under_the_root()
    {
        Assert.Equal("", (await _facts.CollectAsync(CancellationToken.None)).KubeletHostnameOverride);
        WriteHostFile("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "[Service]\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n");
        WriteHostFile("/var/lib/kubelet/kubeadm-flags.env", "KUBELET_KUBEADM_ARGS=\"--hostname-override=worker-7 --node-ip=10.1.2.3\"\n");
        Assert.Equal("worker-7", (await _facts.CollectAsync(CancellationToken.None)).KubeletHostnameOverride);
    }

    [Fact]
    public async Task Os_and_hostname_are_read_under_the_root()
    {
        WriteHostFile("/etc/os-release", "NAME=\"Test OS\"\nPRETTY_NAME=\"Test OS 1\"\nID=test\n");
        WriteHostFile("/etc/hostname", "fake-host\n");
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Equal("Test OS 1", f.Os);
        Assert.Equal("fake-host", f.Hostname);
    }

    [Fact]
    public async Task Os_release_without_a_pretty_name_falls_back_to_the_runtime_description()
    {
        WriteHostFile("/etc/os-release", "NAME=\"Test OS\"\n");
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Equal(RuntimeInformation.OSDescription, f.Os);
    }

    [Fact]
    public async Task Kubelet_version_comes_from_the_kubelet_under_the_root()
    {
        WriteHostFile("/usr/bin/kubelet", "#!/bin/sh\necho \"Kubernetes v1.31.2\"\n",
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Equal("v1.31.2", f.KubeletVersion);
    }

    [Fact]
    public async Task Kubelet_that_fails_gives_no_version()
    {
        WriteHostFile("/usr/bin/kubelet", "#!/bin/sh\necho oops\nexit 3\n",
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Equal("", f.KubeletVersion);
    }

    [Fact]
    public async Task Runtime_socket_that_does_not_answer_still_names_the_runtime()
    {
        WriteHostFile("/run/containerd/containerd.sock", ""); // a plain file: connecting fails
        var f = await _facts.CollectAsync(CancellationToken.None);
        Assert.Equal("containerd", f.RuntimeKind);
        Assert.Equal("unix:///run/containerd/containerd.sock", f.RuntimeEndpoint);
        Assert.Equal("", f.RuntimeVersion);
    }

    [Fact]
    public async Task Os_release_as_the_distributions_link_is_followed_within_the_root()
    {
        WriteHostFile("/usr/lib/os-release", "PRETTY_NAME=\"Linked OS 2\"\n");
        Directory.CreateDirectory(_root.Path("/etc"));
        File.CreateSymbolicLink(_root.Path("/etc/os-release"), "../usr/lib/os-release");
        Assert.Equal("Linked OS 2", (await _facts.CollectAsync(CancellationToken.None)).Os);

        // An absolute target is the root's file too, never the machine's own.
        File.Delete(_root.Path("/etc/os-release"));
        File.CreateSymbolicLink(_root.Path("/etc/os-release"), "/usr/lib/os-release");
        Assert.Equal("Linked OS 2", (await _facts.CollectAsync(CancellationToken.None)).Os);
    }
}
