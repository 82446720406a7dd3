using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>Heartbeats, offline detection and surviving a coordinator crash.</summary>
public sealed class PresenceTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(heartbeat: "1s");
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Silent_agent_goes_offline_after_missed_heartbeats_and_back_online()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("quiet");

        // SIGSTOP keeps the TCP connection open but stops the heartbeats.
        agent.Run!.Pause();
        await _cluster.WaitForStatusAsync("quiet", "NODE_STATUS_OFFLINE", TimeSpan.FromSeconds(15));
        var node = (await _cluster.NodeAsync("quiet"))!.Value;
        Assert.Contains("missed 3 heartbeats", node.GetProperty("statusReason").GetString());

        agent.Run.Resume();
        await _cluster.WaitForStatusAsync("quiet", "NODE_STATUS_ONLINE", TimeSpan.FromSeconds(30));

        var describe = await _cluster.CliOkAsync("node", "describe", "quiet");
        Assert.Contains("Offline", describe);
        Assert.Contains("missed 3 heartbeats", describe);
    }

    [Fact]
    public async Task Coordinator_killed_and_restarted_keeps_its_state_and_the_agent_returns_alone()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("survivor", "--labels", "role=worker");
        await _cluster.CliOkAsync("node", "label", "survivor", "zone=b");
        var (token, _) = await _cluster.CreateTokenAsync("--description", "kept across a crash");

        await _cluster.KillCoordinatorAsync();
        await _cluster.StartCoordinatorAsync();

        var node = (await _cluster.NodeAsync("survivor"))!.Value;
        Assert.Equal("worker", node.GetProperty("labels").GetProperty("role").GetString());
        Assert.Equal("b", node.GetProperty("labels").GetProperty("zone").GetString());
        var tokens = await _cluster.CliOkAsync("token", "list");
        Assert.Contains(token[..6], tokens);
        Assert.Contains("kept across a crash", tokens);

        // No help given to the agent: it reconnects by itself with its backoff.
        await _cluster.WaitForStatusAsync("survivor", "NODE_STATUS_ONLINE", TimeSpan.FromSeconds(45));
        Assert.Contains("Connected to the coordinator", agent.Run!.Output);
    }

    [Fact]
    public async Task Stopped_agent_is_marked_offline()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("leaver");
        await agent.Run!.KillHardAsync();
        await _cluster.WaitForStatusAsync("leaver", "NODE_STATUS_OFFLINE", TimeSpan.FromSeconds(15));
    }
}

/// <summary>The heartbeat period follows the size of the fleet, so the coordinator's heartbeat rate stays bounded.</summary>
public sealed class HeartbeatPacingTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    // At most half a heartbeat a second: one agent needs a 2 s period, two agents 4 s.
    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync("1s", "--max-heartbeat-rate", "0.5");
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Agents_are_told_a_longer_period_as_the_fleet_grows_and_a_shorter_one_as_it_shrinks()
    {
        var first = await _cluster.JoinedOnlineAgentAsync("pace-1");
        await first.Run!.WaitForOutputAsync("heartbeat period to 2s", TimeSpan.FromSeconds(20));
        await _cluster.Coordinator!.WaitForOutputAsync("Heartbeat period now 2s for 1 connected agents", TimeSpan.FromSeconds(5));

        var second = await _cluster.JoinedOnlineAgentAsync("pace-2");
        await first.Run.WaitForOutputAsync("heartbeat period to 4s", TimeSpan.FromSeconds(20));
        await second.Run!.WaitForOutputAsync("heartbeat period to 4s", TimeSpan.FromSeconds(20));
        using (var http = new HttpClient())
            Assert.Contains("nodefleet_heartbeat_period_seconds 4", await http.GetStringAsync(_cluster.MetricsUrl + "/metrics"));

        // Three of the longer periods pass: heartbeats at the new period keep both nodes online.
        await Task.Delay(TimeSpan.FromSeconds(13));
        foreach (var name in new[] { "pace-1", "pace-2" })
            Assert.Equal("NODE_STATUS_ONLINE", (await _cluster.NodeAsync(name))!.Value.GetProperty("status").GetString());

        // Back to what one agent needs, in the acknowledgement of one of its next heartbeats (which may come before
        // the CLI reports the second node offline: the first agent's output is marked before the kill).
        var firstOutput = first.Run.Output.Length;
        await second.Run.KillHardAsync();
        await _cluster.WaitForStatusAsync("pace-2", "NODE_STATUS_OFFLINE", TimeSpan.FromSeconds(15));
        await Proc.WaitUntilAsync(() => Task.FromResult(first.Run.Output[firstOutput..].Contains("heartbeat period to 2s", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "the first agent told 2s again");
    }
}

/// <summary>
/// The reconnect window: agents are told it, spread their reconnection over it after their stream breaks, and a
/// restarted coordinator does not mark the nodes that were connected to it offline before it has passed.
/// </summary>
public sealed class ReconnectWindowTests : IAsyncLifetime
{
    private readonly TempDir _config = new("nf-reconnect");
    private TestCluster _cluster = null!;

    // One reconnection every ten seconds: two agents are told a 20 s window.
    public async Task InitializeAsync()
    {
        var file = _config.Combine("coordinator.yaml");
        await File.WriteAllTextAsync(file, "maxReconnectRate: 0.1\n");
        _cluster = await TestCluster.StartAsync("1s", "--config", file);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _config.Dispose();
    }

    [Fact]
    public async Task A_restarted_coordinator_leaves_its_nodes_online_while_they_come_back_within_the_window_they_were_told()
    {
        var agents = new[] { await _cluster.JoinedOnlineAgentAsync("rw-1"), await _cluster.JoinedOnlineAgentAsync("rw-2") };
        // The first was welcomed with the window of a one-node fleet; a heartbeat acknowledgement moves it to two nodes'.
        await _cluster.Coordinator!.WaitForOutputAsync("Reconnect window now 20s for 2 agents", TimeSpan.FromSeconds(20));
        foreach (var a in agents)
        {
            await Proc.WaitUntilAsync(async () => await ToldWindowAsync(a) == 20, TimeSpan.FromSeconds(20), $"{a.Name} to report a 20 s window");
            var text = await a.StatusAsync();
            Assert.Contains("Reconnect:     within 20s of a broken stream", text.StdOut);
        }
        var outputBefore = agents.Select(a => a.Run!.Output.Length).ToArray();

        await _cluster.KillCoordinatorAsync();
        await _cluster.StartCoordinatorAsync();
        await _cluster.Coordinator!.WaitForOutputAsync("2 nodes were online before this start: they have 23s to reconnect (reconnect window 20s)",
            TimeSpan.FromSeconds(10));

        // Each agent waits a random point of its window before its first attempt. Until both are back, both stay online.
        var back = new bool[agents.Length];
        await Proc.WaitUntilAsync(async () =>
        {
            for (var i = 0; i < agents.Length; i++)
            {
                back[i] = agents[i].Run!.Output[outputBefore[i]..].Contains("Connected to the coordinator", StringComparison.Ordinal);
                Assert.Equal("NODE_STATUS_ONLINE", await _cluster.NodeStatusAsync(agents[i].Name));
            }
            return back.All(b => b);
        }, TimeSpan.FromSeconds(90), "both agents to reconnect");

        foreach (var (a, i) in agents.Select((a, i) => (a, i)))
        {
            Assert.Contains("a random point of the coordinator's 20s reconnect window", a.Run!.Output[outputBefore[i]..]);
            var events = await _cluster.CliOkAsync("events", "--node", a.Name, "-o", "json");
            Assert.DoesNotContain("\"Offline\"", events);
            // The restarted coordinator tells the same window: a fleet of two.
            await Proc.WaitUntilAsync(async () => await ToldWindowAsync(a) == 20, TimeSpan.FromSeconds(20), $"{a.Name} to report a 20 s window again");
        }
        Assert.DoesNotContain("did not reconnect", _cluster.Coordinator.Output);
    }

    private static async Task<int> ToldWindowAsync(TestAgent agent)
    {
        var r = await agent.StatusAsync("--output", "json");
        using var doc = System.Text.Json.JsonDocument.Parse(r.StdOut);
        return doc.RootElement.GetProperty("reconnectWindowSeconds").GetInt32();
    }
}
