using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>Join over real gRPC between real coordinator, agent and CLI processes.</summary>
public sealed class JoinTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Joined_agent_shows_online_with_its_labels_and_facts()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("n1", "--labels", "role=worker,zone=a");

        var node = (await _cluster.NodeAsync("n1"))!.Value;
        Assert.Equal("NODE_STATUS_ONLINE", node.GetProperty("status").GetString());
        Assert.Equal("worker", node.GetProperty("labels").GetProperty("role").GetString());
        var facts = node.GetProperty("facts");
        Assert.False(string.IsNullOrEmpty(facts.GetProperty("kernel").GetString()));
        Assert.Contains(facts.GetProperty("arch").GetString(), new[] { "amd64", "arm64" });

        // The key was made on the node, is private, and only the certificate came back.
        var key = agent.HostPath("/etc/nodefleet/pki/node.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.True(File.Exists(agent.HostPath("/etc/nodefleet/pki/node.crt")));

        var table = await _cluster.CliOkAsync("nodes");
        Assert.Contains("n1", table);
        Assert.Contains("Online", table);

        var status = await agent.StatusAsync();
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("connected", status.StdOut);
    }

    [Fact]
    public async Task Wrong_ca_hash_is_refused_and_nothing_is_written()
    {
        var (token, _) = await _cluster.CreateTokenAsync();
        var agent = _cluster.NewAgent("n2");
        var wrong = "sha256:" + new string('0', 64);
        var r = await agent.JoinAsync(["--token", token, "--ca-cert-hash", wrong, "--node-name", "n2", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not match --ca-cert-hash", r.StdErr);
        // The test node's config holds only its settings (NodeRoot): no coordinator was written into it.
        Assert.DoesNotContain("coordinator", File.ReadAllText(agent.HostPath("/etc/nodefleet/agent.yaml")));
        Assert.False(File.Exists(agent.HostPath("/etc/nodefleet/pki/node.crt")));
        Assert.Null(await _cluster.NodeAsync("n2"));
    }

    [Fact]
    public async Task Wrong_token_secret_fails_discovery_signature_check()
    {
        var (token, hash) = await _cluster.CreateTokenAsync();
        var forged = token[..7] + new string(token[7..].Reverse().ToArray());
        if (forged == token) forged = token[..7] + "0000000000000000";
        var r = await _cluster.NewAgent("n3").JoinAsync(["--token", forged, "--ca-cert-hash", hash, "--node-name", "n3", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"not signed with token {token[..6]}", r.StdErr);
    }

    [Fact]
    public async Task Expired_token_is_refused()
    {
        var (token, hash) = await _cluster.CreateTokenAsync("--ttl", "1s");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var r = await _cluster.NewAgent("n4").JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "n4", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("expired", r.StdErr);
    }

    [Fact]
    public async Task Deleted_token_is_refused()
    {
        var (token, hash) = await _cluster.CreateTokenAsync();
        await _cluster.CliOkAsync("token", "delete", token[..6]);
        var r = await _cluster.NewAgent("n5").JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "n5", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not known to the coordinator", r.StdErr);
    }

    [Fact]
    public async Task Used_up_token_is_refused()
    {
        var (token, hash) = await _cluster.CreateTokenAsync("--usages", "1");
        var first = await _cluster.NewAgent("n6").JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "n6", _cluster.Address]);
        Assert.True(first.ExitCode == 0, first.ToString());
        var second = await _cluster.NewAgent("n7").JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "n7", _cluster.Address]);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("no uses left", second.StdErr);
        var list = await _cluster.CliOkAsync("token", "list");
        Assert.Contains("1/1", list);
        Assert.DoesNotContain(token[7..], list);
    }

    [Fact]
    public async Task Malformed_token_is_refused_before_any_network_call()
    {
        // Port 1 on loopback has no listener: reaching the network would give a different error.
        var r = await _cluster.NewAgent("n8").JoinAsync(["--token", "not-a-token", "--ca-cert-hash", "sha256:" + new string('a', 64), "127.0.0.1:1"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("malformed bootstrap token", r.StdErr);
        var cli = await _cluster.CliAsync("token", "create", "BAD.token");
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("malformed bootstrap token", cli.StdErr);
    }

    [Fact]
    public async Task A_name_held_by_another_key_is_refused()
    {
        var (token, hash) = await _cluster.CreateTokenAsync("--usages", "3");
        var first = _cluster.NewAgent("dup-a");
        Assert.Equal(0, (await first.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "dup", _cluster.Address])).ExitCode);
        var second = _cluster.NewAgent("dup-b");
        var r = await second.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "dup", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("already held by another key", r.StdErr);
        // The same node (same key) may join again.
        Assert.Equal(0, (await first.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "dup", _cluster.Address])).ExitCode);
    }

    [Fact]
    public async Task A_deleted_node_joins_again_under_its_name_without_naming_it()
    {
        var (token, hash) = await _cluster.CreateTokenAsync("--usages", "3");
        var agent = _cluster.NewAgent("back");
        Assert.Equal(0, (await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "back", _cluster.Address])).ExitCode);
        await _cluster.CliOkAsync("node", "delete", "back");
        Assert.Null(await _cluster.NodeAsync("back"));

        var again = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, _cluster.Address]);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.NotNull(await _cluster.NodeAsync("back"));

        // Another name is refused with both ways out.
        var other = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "elsewhere", _cluster.Address]);
        Assert.Equal(1, other.ExitCode);
        Assert.Contains("already joined as back; to join it under the name elsewhere instead, remove", other.StdErr);
        Assert.Contains("leave out --node-name to join again as back", other.StdErr);
    }

    [Fact]
    public async Task Discovery_file_join_works_without_a_pin()
    {
        var (token, _) = await _cluster.CreateTokenAsync();
        var admin = await File.ReadAllLinesAsync(_cluster.AdminConf);
        var discovery = Path.Combine(_cluster.Scratch, "discovery.yaml");
        await File.WriteAllLinesAsync(discovery, admin.Where(l => !l.StartsWith("client", StringComparison.Ordinal)));
        var agent = _cluster.NewAgent("n9");
        var r = await agent.JoinAsync(["--token", token, "--discovery-file", discovery, "--node-name", "n9"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.NotNull(await _cluster.NodeAsync("n9"));
    }

    [Fact]
    public async Task Joining_without_any_ca_verification_needs_the_unsafe_flag_and_warns()
    {
        var (token, _) = await _cluster.CreateTokenAsync("--usages", "2");
        var agent = _cluster.NewAgent("n10");
        var refused = await agent.JoinAsync(["--token", token, "--node-name", "n10", _cluster.Address]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("--ca-cert-hash", refused.StdErr);
        var r = await agent.JoinAsync(["--token", token, "--unsafe-skip-ca-verification", "--node-name", "n10", _cluster.Address]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("without pin verification", r.All);
    }
}
