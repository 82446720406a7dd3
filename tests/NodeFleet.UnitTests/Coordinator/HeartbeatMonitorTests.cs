using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class HeartbeatMonitorTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private readonly CoordinatorRig _rig = new();
    private readonly Presence _presence;
    private readonly HeartbeatMonitor _monitor;
    private readonly ReconnectWindow _window;

    public HeartbeatMonitorTests()
    {
        _presence = new Presence(_rig.Time);
        // A rate of one reconnection every ten seconds: the two nodes' window is 20 s.
        var options = Options.Create(new CoordinatorOptions { HeartbeatInterval = "1s", MaxReconnectRate = 0.1 });
        _window = new ReconnectWindow(options);
        _monitor = new HeartbeatMonitor(_presence, new HeartbeatPacer(options), _window, _rig.Registry, _rig.Tokens, options, _rig.Time,
            NullLogger<HeartbeatMonitor>.Instance);
    }

    public async Task InitializeAsync()
    {
        var token = await _rig.CreateTokenAsync();
        foreach (var name in new[] { "node-1", "node-2" })
        {
            (await _rig.JoinAsync(token, name)).Key.Dispose();
            await _rig.Registry.MarkOnlineAsync(name, null, "10.0.0.1:1");
        }
    }

    public async Task DisposeAsync()
    {
        _monitor.Dispose();
        await _rig.DisposeAsync();
    }

    private NodeRecord Node(string name) => _rig.Registry.Get(name);

    [Fact]
    public async Task Stopping_ends_the_loop_normally_not_with_a_cancellation()
    {
        await _monitor.StartAsync(CancellationToken.None);
        var loop = _monitor.ExecuteTask!;
        // Running: it has given the nodes that were online their grace, and waits for the first tick.
        for (var i = 0; i < 100 && _presence.Snapshot().Count < 2; i++) await Task.Delay(20);
        Assert.Equal(2, _presence.Snapshot().Count);
        Assert.False(loop.IsCompleted);
        await _monitor.StopAsync(CancellationToken.None);
        // A cancelled task is what the host logs as "BackgroundService failed" when it stops before it started.
        Assert.True(loop.IsCompletedSuccessfully, loop.Status.ToString());
    }

    [Fact]
    public async Task Silent_session_is_marked_offline_after_three_missed_heartbeats()
    {
        var session = _presence.Open("node-1");
        var opened = _rig.Time.Now.UtcDateTime;

        _rig.Time.Advance(Interval * 3); // exactly three intervals: not yet
        await _monitor.CheckAsync(Interval);
        Assert.Equal(NodeState.Online, Node("node-1").Status);
        Assert.False(session.Silent);

        _rig.Time.Advance(TimeSpan.FromMilliseconds(1));
        await _monitor.CheckAsync(Interval);
        var node = Node("node-1");
        Assert.Equal(NodeState.Offline, node.Status);
        Assert.Contains("missed 3 heartbeats", node.StatusReason);
        Assert.Equal(opened, node.LastSeen);
        Assert.True(session.Silent);
        Assert.Same(session, _presence.Get("node-1")); // the stream stays open; only the status changes
        Assert.Equal("Offline", _rig.Registry.Events("node-1", 1).Single().Reason);

        // A second check does not mark it again.
        _rig.Time.Advance(Interval * 10);
        await _monitor.CheckAsync(Interval);
        Assert.Single(_rig.Registry.Events("node-1", 10), e => e.Reason == "Offline");
    }

    [Fact]
    public async Task Touched_session_stays_online()
    {
        var quiet = _presence.Open("node-1");
        var chatty = _presence.Open("node-2");
        for (var i = 0; i < 8; i++)
        {
            _rig.Time.Advance(Interval);
            chatty.Touch(_rig.Time.Now.UtcDateTime);
            await _monitor.CheckAsync(Interval);
        }
        Assert.Equal(NodeState.Online, Node("node-2").Status);
        Assert.False(chatty.Silent);
        Assert.Equal(NodeState.Offline, Node("node-1").Status);
        Assert.True(quiet.Silent);
    }

    [Fact]
    public async Task Node_that_does_not_reconnect_after_a_restart_is_marked_offline()
    {
        _presence.AddGrace("node-1");
        _presence.AddGrace("node-2");
        _rig.Time.Advance(Interval * 2);
        _presence.Open("node-2"); // node-2 reconnects in time, replacing its grace placeholder
        _rig.Time.Advance(Interval * 2);

        await _monitor.CheckAsync(Interval);

        var node = Node("node-1");
        Assert.Equal(NodeState.Offline, node.Status);
        Assert.Contains("restart", node.StatusReason);
        Assert.Null(_presence.Get("node-1"));
        Assert.Equal(NodeState.Online, Node("node-2").Status);
        Assert.True(_presence.Get("node-2")!.Connected);
    }

    [Fact]
    public async Task After_a_restart_nodes_online_before_are_not_marked_offline_within_the_reconnect_window()
    {
        // A restarted coordinator: both nodes are online in the store, none has a stream yet.
        Assert.Equal(2, _monitor.GiveRestartGrace());
        var window = TimeSpan.FromSeconds(20);
        Assert.Equal(window, _window.Current); // what the reconnecting agents are told from the first welcome on
        var grace = _monitor.RestartGrace(2);
        Assert.Equal(window + Interval * HeartbeatMonitor.MissedHeartbeats, grace);

        // The whole window passes with neither back (their random delays were long): both stay online.
        for (var t = TimeSpan.Zero; t < window; t += TimeSpan.FromSeconds(5))
        {
            _rig.Time.Advance(TimeSpan.FromSeconds(5));
            await _monitor.CheckAsync(Interval);
        }
        Assert.Equal(NodeState.Online, Node("node-1").Status);
        Assert.Equal(NodeState.Online, Node("node-2").Status);
        Assert.DoesNotContain(_rig.Registry.Events("node-1", 10), e => e.Reason == "Offline");

        // node-2 comes back; node-1 does not, and is marked offline once the grace is over.
        var back = _presence.Open("node-2");
        _rig.Time.Advance(grace - window);
        back.Touch(_rig.Time.Now.UtcDateTime); // it heartbeats
        await _monitor.CheckAsync(Interval);
        Assert.Equal(NodeState.Online, Node("node-1").Status);
        _rig.Time.Advance(TimeSpan.FromMilliseconds(1));
        await _monitor.CheckAsync(Interval);
        Assert.Equal(NodeState.Offline, Node("node-1").Status);
        Assert.Contains("did not reconnect within 23s of a coordinator restart", Node("node-1").StatusReason);
        Assert.Equal(NodeState.Online, Node("node-2").Status);
    }

    [Fact]
    public void The_restart_grace_follows_the_number_of_nodes_that_were_online()
    {
        // 10,000 nodes at the defaults: a 50 s window, then three of the 100 s periods such a fleet heartbeats at.
        var options = Options.Create(new CoordinatorOptions());
        var monitor = new HeartbeatMonitor(_presence, new HeartbeatPacer(options), new ReconnectWindow(options), _rig.Registry, _rig.Tokens,
            options, _rig.Time, NullLogger<HeartbeatMonitor>.Instance);
        Assert.Equal(TimeSpan.FromSeconds(50 + 300), monitor.RestartGrace(10_000));
        Assert.Equal(TimeSpan.FromSeconds(1 + 30), monitor.RestartGrace(3));
    }

    [Fact]
    public async Task Grace_does_not_replace_a_connected_session()
    {
        var session = _presence.Open("node-1");
        _presence.AddGrace("node-1");
        Assert.Same(session, _presence.Get("node-1"));
        Assert.Equal(1, _presence.ConnectedCount);
        await _monitor.CheckAsync(Interval);
        Assert.Equal(NodeState.Online, Node("node-1").Status);
    }

    [Fact]
    public void Opening_a_second_stream_closes_the_first()
    {
        var first = _presence.Open("node-1");
        var second = _presence.Open("node-1");
        Assert.True(first.Closed.IsCancellationRequested);
        Assert.False(second.Closed.IsCancellationRequested);
        Assert.False(_presence.Close(first)); // no longer current: closing it must not remove the new one
        Assert.Same(second, _presence.Get("node-1"));
        Assert.True(_presence.Close(second));
        Assert.Null(_presence.Get("node-1"));
    }
}
