using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

public sealed class HostRootTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("/etc/nodefleet/agent.yaml", "etc/nodefleet/agent.yaml")]
    [InlineData("/etc//nodefleet/./pki/../agent.yaml", "etc/nodefleet/agent.yaml")]
    [InlineData("/var/lib/../lib/x", "var/lib/x")]
    public void Maps_absolute_paths_under_the_root(string hostPath, string relative)
    {
        var root = new HostRoot(_dir.Path);
        Assert.Equal(Path.Combine(_dir.Path, relative), root.Path(hostPath));
    }

    [Fact]
    public void Root_itself_maps_inside()
    {
        var root = new HostRoot(_dir.Path);
        Assert.StartsWith(_dir.Path, root.Path("/"));
        Assert.Equal(_dir.Path, root.Path("/").TrimEnd('/'));
    }

    [Theory]
    [InlineData("etc/passwd")]
    [InlineData("./etc/passwd")]
    [InlineData("../etc/passwd")]
    [InlineData("")]
    public void Refuses_relative_paths(string hostPath)
    {
        var e = Assert.Throws<ArgumentException>(() => new HostRoot(_dir.Path).Path(hostPath));
        Assert.Contains("must be absolute", e.Message);
    }

    [Theory]
    [InlineData("/../etc/passwd")]
    [InlineData("/etc/../../etc/passwd")]
    [InlineData("/..")]
    public void Refuses_escapes_from_the_root(string hostPath)
    {
        var root = new HostRoot(Path.Combine(_dir.Path, "x"));
        var e = Assert.Throws<ArgumentException>(() => root.Path(hostPath));
        Assert.Contains("escapes the root", e.Message);
    }

    [Fact]
    public void Refuses_a_sibling_directory_sharing_the_roots_name_as_prefix()
    {
        // /tmp/…/x/../xy/secret is /tmp/…/xy/secret: it starts with the root's text but is outside it.
        var root = new HostRoot(Path.Combine(_dir.Path, "x"));
        Assert.Throws<ArgumentException>(() => root.Path("/../xy/secret"));
    }

    [Fact]
    public void Slash_root_is_the_identity()
    {
        var root = new HostRoot("/");
        Assert.Equal("/", root.Root);
        Assert.Equal("/etc/os-release", root.Path("/etc/os-release"));
        Assert.Equal("/etc/os-release", root.Path("/../etc/os-release")); // ".." of "/" is "/": nothing to escape to
    }

    [Fact]
    public void Root_is_made_absolute()
    {
        var root = new HostRoot("relative-root");
        Assert.True(Path.IsPathRooted(root.Root));
        Assert.Equal(Path.GetFullPath("relative-root"), root.Root);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Empty_root_is_refused(string root) => Assert.Throws<ArgumentException>(() => new HostRoot(root));
}
