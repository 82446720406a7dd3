using NodeFleet.Agent.Execution;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>What `join` checks locally, before any connection (the address points at a closed port).</summary>
public sealed class JoinCommandTests : IDisposable
{
    private const string Unreachable = "127.0.0.1:1";
    private const string GoodToken = "abcdef.0123456789abcdef";
    private static readonly string GoodPin = "sha256:" + new string('a', 64);

    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly JoinCommand _join;
    private readonly ImageServiceFactory _runtimes;

    public JoinCommandTests()
    {
        _root = new HostRoot(_dir.Path);
        _join = new JoinCommand(_root, new FactsCollector(new HostFiles(_root), _runtimes = new ImageServiceFactory(_root, new HostFiles(_root)),
            new CommandRunner(_root), NullLogger<FactsCollector>.Instance),
            NullLogger<JoinCommand>.Instance, TimeProvider.System);
    }

    public void Dispose()
    {
        _runtimes.Dispose();
        _dir.Dispose();
    }

    /// <summary>Runs join with good options except those given, expecting a refusal.</summary>
    private Task<AgentException> Refused(string? token = GoodToken, bool pinned = true, string? pin = null,
        string? nodeName = "node-1", string? labels = null, string? address = Unreachable, string? cluster = null)
    {
        var options = new JoinCommand.Options(address, token, pinned ? pin ?? GoodPin : null, DiscoveryFile: null,
            UnsafeSkipCaVerification: false, nodeName, labels, cluster);
        return Assert.ThrowsAsync<AgentException>(() => _join.RunAsync(options, TextWriter.Null, CancellationToken.None));
    }

    private void AssertNothingWritten() => Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));

    [Theory]
    [InlineData("abcdef")]
    [InlineData("ABCDEF.0123456789abcdef")]
    [InlineData("abcdef.0123456789abcdef0")]
    [InlineData("abcdef:0123456789abcdef")]
    public async Task Malformed_token_fails_fast_with_the_format(string token)
    {
        var e = await Refused(token: token);
        Assert.Contains("[a-z0-9]{6}.[a-z0-9]{16}", e.Message);
        Assert.DoesNotContain("cannot reach", e.Message);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task Missing_token_is_required(string? token)
    {
        var e = await Refused(token: token);
        Assert.Contains("--token is required", e.Message);
    }

    [Fact]
    public async Task Missing_pin_without_unsafe_skip_asks_for_the_ca_cert_hash()
    {
        var e = await Refused(pinned: false);
        Assert.Contains("--ca-cert-hash", e.Message);
        Assert.Contains("--unsafe-skip-ca-verification", e.Message);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("0123")]
    [InlineData("sha256:xyz")]
    [InlineData("md5:" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Malformed_pin_names_the_expected_form(string pin)
    {
        var e = await Refused(pin: pin);
        Assert.Contains("sha256:<64 hex digits>", e.Message);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("role")]
    [InlineData("role=worker,-x=1")]
    [InlineData("role=wor ker")]
    public async Task Bad_labels_name_the_flag(string labels)
    {
        var e = await Refused(labels: labels);
        Assert.StartsWith("--labels: ", e.Message);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("node_1")]
    [InlineData("-node")]
    [InlineData("node..1")]
    public async Task Bad_node_name_is_refused(string name)
    {
        var e = await Refused(nodeName: name);
        Assert.Contains($"node name '{name}'", e.Message);
        Assert.Contains("DNS-1123", e.Message);
        AssertNothingWritten();
    }

    [Fact]
    public async Task A_bad_cluster_name_or_one_that_contradicts_the_labels_is_refused_before_the_network()
    {
        var bad = await Refused(cluster: "Prod_1");
        Assert.Contains("--cluster: cluster name 'Prod_1'", bad.Message);
        var both = await Refused(cluster: "prod", labels: "nodefleet.io/cluster=dev");
        Assert.Contains("--cluster prod and --labels nodefleet.io/cluster=dev name different clusters", both.Message);
        AssertNothingWritten();
        // The same cluster both ways is no contradiction: join goes on to the network.
        Assert.Contains("cannot reach", (await Refused(cluster: "prod", labels: "nodefleet.io/cluster=prod")).Message);
    }

    [Fact]
    public async Task Node_already_joined_under_another_name_is_refused()
    {
        new AgentConfig { Coordinator = "10.0.0.1:7443", NodeName = "old-name" }.Save(_root);
        var e = await Refused(nodeName: "new-name");
        Assert.Contains("already joined as old-name", e.Message);
        Assert.Contains(_root.Path(AgentPaths.ConfigFile), e.Message);
    }

    [Fact]
    public async Task Bad_address_is_refused()
    {
        var e = await Refused(address: "host:port");
        Assert.Contains("host:port", e.Message);
        Assert.DoesNotContain("cannot reach", e.Message);
    }

    [Fact]
    public async Task Missing_address_is_refused()
    {
        var e = await Refused(address: null);
        Assert.Contains("ADDRESS", e.Message);
    }

    // The counterpart of the fail-fast tests: with valid input, the same options do reach for the network.
    [Fact]
    public async Task Valid_options_get_as_far_as_discovery()
    {
        var e = await Refused(nodeName: "Node-1", labels: "role=worker");
        Assert.Contains("discovery: cannot reach the coordinator at 127.0.0.1:1", e.Message);
        AssertNothingWritten();
    }

    [Fact]
    public async Task Unsafe_skip_replaces_the_pin()
    {
        var options = new JoinCommand.Options(Unreachable, GoodToken, CaCertHash: null, DiscoveryFile: null,
            UnsafeSkipCaVerification: true, "node-1", Labels: null);
        var e = await Assert.ThrowsAsync<AgentException>(() => _join.RunAsync(options, TextWriter.Null, CancellationToken.None));
        Assert.Contains("cannot reach", e.Message);
    }
}
