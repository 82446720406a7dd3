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
