using NodeFleet.Rendering;
using Tomlyn;
using Tomlyn.Model;

namespace NodeFleet.Tests.Rendering;

public class MirrorRenderersTests
{
    internal static readonly MirrorSettings DockerHub = new("docker.io", ["https://mirror.example", "http://cache.lab:5000"]);
    internal static readonly MirrorSettings K8sExclusive = new("registry.k8s.io", ["https://k8s-mirror.example", "https://backup.example"], Exclusive: true);
    internal static readonly MirrorSettings Quay = new("quay.io", ["https://quay-mirror.example:8443"]);

    [Fact]
    public void Hosts_toml_lists_mirrors_in_order_then_falls_back_to_docker_hub()
    {
        var bytes = HostsToml.Render(DockerHub);
        Golden.Matches("hosts.docker.io.toml", bytes);
        var model = TomlSerializer.Deserialize<TomlTable>(Utf8.Text(bytes))!;
        Assert.Equal("https://registry-1.docker.io", model["server"]);
        Assert.Equal(["https://mirror.example", "http://cache.lab:5000"], ((TomlTable)model["host"]!).Keys);
    }

    [Fact]
    public void Hosts_toml_exclusive_makes_the_last_mirror_the_server()
    {
        // containerd tries the [host] entries in order, then the server: the mirror order is kept, upstream never used.
        var bytes = HostsToml.Render(K8sExclusive);
        Golden.Matches("hosts.registry.k8s.io.exclusive.toml", bytes);
        var model = TomlSerializer.Deserialize<TomlTable>(Utf8.Text(bytes))!;
        Assert.Equal(["https://k8s-mirror.example", "https://backup.example"], ((TomlTable)model["host"]!).Keys);
        Assert.Equal("https://backup.example", model["server"]);
        Assert.DoesNotContain("\"https://registry.k8s.io\"", Utf8.Text(bytes));

        var single = TomlSerializer.Deserialize<TomlTable>(Utf8.Text(HostsToml.Render(new MirrorSettings("quay.io", ["https://q.example"], Exclusive: true))))!;
        Assert.Equal("https://q.example", single["server"]);
        // containerd 1.6 ignores a hosts.toml without a [host] table ("invalid host tree") and pulls upstream.
        Assert.Equal(["https://q.example"], ((TomlTable)single["host"]!).Keys);
    }

    [Theory]
    [InlineData("docker.io", "https://registry-1.docker.io")]
    [InlineData("registry.k8s.io", "https://registry.k8s.io")]
    [InlineData("quay.io", "https://quay.io")]
    [InlineData("registry.example:5000", "https://registry.example:5000")]
    public void Upstream_server_of_a_registry(string registry, string server) =>
        Assert.Equal(server, Registries.UpstreamServer(registry));

    [Fact]
    public void Hosts_directory_is_the_registry_host_with_its_port()
    {
        Assert.Equal("registry.example:5000", HostsToml.DirectoryName("registry.example:5000"));
        Assert.Equal("/etc/containerd/certs.d/registry.example:5000/hosts.toml", HostsToml.PathFor("/etc/containerd/certs.d/", "registry.example:5000"));
        Assert.Equal("/etc/containerd/certs.d/docker.io/hosts.toml", HostsToml.PathFor(ContainerdConfig.DefaultCertsDir, "docker.io"));
        Assert.Equal("[fd00::1]:5000", HostsToml.DirectoryName("[fd00::1]:5000"));
    }

    [Theory]
    [InlineData("https://docker.io")]
    [InlineData("docker.io/library")]
    [InlineData("../etc")]
    [InlineData("")]
    public void Refuses_a_registry_that_is_not_a_host(string registry)
    {
        Assert.Throws<RenderException>(() => HostsToml.DirectoryName(registry));
        Assert.Throws<RenderException>(() => HostsToml.Render(new MirrorSettings(registry, ["https://m.example"])));
    }

    [Theory]
    [InlineData("mirror.example")]
    [InlineData("ftp://mirror.example")]
    [InlineData("https://user:secret@mirror.example")]
    [InlineData("https://mirror.example/?x=1")]
    [InlineData("https://mirror.example/a b")]
    [InlineData("https://harbor.example/v2/proxy")]
    public void Refuses_an_endpoint_that_is_not_a_plain_http_url(string endpoint)
    {
        var e = Assert.Throws<RenderException>(() => HostsToml.Render(new MirrorSettings("docker.io", [endpoint])));
        Assert.Contains("docker.io", e.Message);
    }

    [Fact]
    public void Refuses_a_mirror_set_without_endpoints() =>
        Assert.Throws<RenderException>(() => HostsToml.Render(new MirrorSettings("docker.io", [])));

    [Fact]
    public void Crio_drop_in_for_each_cgroup_driver()
    {
        Golden.Matches("crio-20-nodefleet.systemd.conf", CrioDropIn.Render(new CrioSettings(CgroupDriver.Systemd, "registry.k8s.io/pause:3.10")));
        var cgroupfs = CrioDropIn.Render(new CrioSettings(CgroupDriver.Cgroupfs, "registry.k8s.io/pause:3.10"));
        Golden.Matches("crio-20-nodefleet.cgroupfs.conf", cgroupfs);
        var runtime = (TomlTable)((TomlTable)TomlSerializer.Deserialize<TomlTable>(Utf8.Text(cgroupfs))!["crio"]!)["runtime"]!;
        Assert.Equal("cgroupfs", runtime["cgroup_manager"]);
        Assert.Equal("pod", runtime["conmon_cgroup"]);
    }

    [Fact]
    public void Crio_mirrors_one_registry_table_per_upstream()
    {
        var bytes = CrioMirrors.Render([DockerHub, K8sExclusive, Quay]);
        Golden.Matches("registries-nodefleet-mirrors.conf", bytes);
        var registries = (TomlTableArray)TomlSerializer.Deserialize<TomlTable>(Utf8.Text(bytes))!["registry"]!;
        Assert.Equal(3, registries.Count);

        var hub = registries[0];
        Assert.Equal("docker.io", hub["prefix"]);
        Assert.Equal("docker.io", hub["location"]);
        var hubMirrors = (TomlTableArray)hub["mirror"]!;
        Assert.Equal("mirror.example", hubMirrors[0]["location"]);
        Assert.False(hubMirrors[0].ContainsKey("insecure"));
        Assert.Equal("cache.lab:5000", hubMirrors[1]["location"]);
        Assert.Equal(true, hubMirrors[1]["insecure"]);

        // Exclusive: containers/image tries the mirrors, then the location; the upstream is never contacted.
        var k8s = registries[1];
        Assert.Equal("registry.k8s.io", k8s["prefix"]);
        Assert.Equal("k8s-mirror.example", ((TomlTableArray)k8s["mirror"]!).Single()["location"]);
        Assert.Equal("backup.example", k8s["location"]);
    }

    [Fact]
    public void Crio_mirrors_without_mirrors_is_only_the_header() =>
        Assert.Equal("# Written by NodeFleet; changes are overwritten.\n", Utf8.Text(CrioMirrors.Render([])));

    [Fact]
    public void Refuses_two_mirror_sets_for_one_registry()
    {
        var e = Assert.Throws<RenderException>(() => CrioMirrors.Render([DockerHub, new MirrorSettings("index.docker.io", ["https://x.example"])]));
        Assert.Contains("more than one mirror set", e.Message);
    }
}
