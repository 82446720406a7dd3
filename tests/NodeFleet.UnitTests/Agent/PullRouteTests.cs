using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>A failed pull names the route the node's runtime had, from the node's files, not the plan's wish.</summary>
public sealed class PullRouteTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly PullRoute _containerd;
    private const string Hosts = "/etc/containerd/certs.d/registry.k8s.io/hosts.toml";

    public PullRouteTests()
    {
        _root = new HostRoot(_dir.Path);
        var mirrors = new MirrorMap(new Dictionary<string, IReadOnlyList<string>> { ["registry.k8s.io"] = ["http://127.0.0.1:5000"] });
        _containerd = new PullRoute(new HostFiles(_root), "containerd", mirrors);
    }

    public void Dispose() => _dir.Dispose();

    private void Write(string hostPath, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_root.Path(hostPath))!);
        File.WriteAllText(_root.Path(hostPath), content);
    }

    [Fact]
    public void Without_the_nodes_hosts_toml_the_pull_went_to_the_registry_and_says_so()
    {
        Assert.Equal($" directly, not via mirror http://127.0.0.1:5000: the node has no {_root.Path(Hosts)} yet", _containerd.Describe("registry.k8s.io"));
        // A registry the plan has no mirror for: nothing to say.
        Assert.Equal("", _containerd.Describe("quay.io"));
    }

    [Fact]
    public void With_the_hosts_toml_read_by_containerd_the_pull_went_through_the_mirror()
    {
        Write(Hosts, "server = \"http://127.0.0.1:5000\"\n");
        Assert.Equal($" via mirror http://127.0.0.1:5000 ({_root.Path(Hosts)})", _containerd.Describe("registry.k8s.io"));
        Write("/etc/containerd/config.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n");
        Assert.Equal($" via mirror http://127.0.0.1:5000 ({_root.Path(Hosts)})", _containerd.Describe("registry.k8s.io"));
    }

    [Fact]
    public void A_containerd_config_without_config_path_means_the_hosts_toml_is_not_read()
    {
        Write(Hosts, "server = \"http://127.0.0.1:5000\"\n");
        Write("/etc/containerd/config.toml", "version = 2\n");
        Assert.Equal($" directly, not via the mirrors in {_root.Path(Hosts)}: {_root.Path("/etc/containerd/config.toml")} does not set "
            + "config_path = \"/etc/containerd/certs.d\" (containerd-config sets it; it takes effect when containerd restarts)",
            _containerd.Describe("registry.k8s.io"));
    }
}
