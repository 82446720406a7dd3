using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>The in-memory event fan-out, and events published only once their write has committed.</summary>
public sealed class EventBusTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();

    public Task InitializeAsync() => Task.CompletedTask;
    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private static EventRecord Event(string reason) => new() { Reason = reason, Node = "n1", Time = DateTime.UtcNow };

    private static List<string> Drain(EventBus.Subscription s)
    {
        var reasons = new List<string>();
        while (s.Reader.TryRead(out var e)) reasons.Add(e.Reason);
        return reasons;
    }

    [Fact]
    public void Every_subscriber_gets_every_event_in_order()
    {
        var bus = new EventBus();
        using var a = bus.Subscribe();
        using var b = bus.Subscribe();
        foreach (var r in new[] { "Joined", "Online", "Labeled" }) bus.Publish(Event(r));
        Assert.Equal(["Joined", "Online", "Labeled"], Drain(a));
        Assert.Equal(["Joined", "Online", "Labeled"], Drain(b));
    }

    [Fact]
    public async Task A_slow_subscriber_loses_its_oldest_events_and_the_publisher_never_blocks()
    {
        var bus = new EventBus();
        using var slow = bus.Subscribe(capacity: 3);
        using var fast = bus.Subscribe();
        // Nobody reads while publishing: with a blocking channel this would hang on the fourth event.
        var publish = Task.Run(() => { for (var i = 0; i < 10; i++) bus.Publish(Event($"e{i}")); });
        await publish.WaitAsync(TimeSpan.FromSeconds(5)); // a TimeoutException here means Publish blocked

        Assert.Equal(["e7", "e8", "e9"], Drain(slow));
        Assert.Equal(7, slow.Dropped);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"e{i}"), Drain(fast));
        Assert.Equal(0, fast.Dropped);
    }

    [Fact]
    public async Task A_disposed_subscription_is_removed_and_its_reader_completes()
    {
        var bus = new EventBus();
        var s = bus.Subscribe();
        Assert.Equal(1, bus.SubscriberCount);
        s.Dispose();
        Assert.Equal(0, bus.SubscriberCount);
        bus.Publish(Event("late"));
        Assert.False(s.Reader.TryRead(out _));
        await s.Reader.Completion.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_subscriber_waiting_for_events_is_woken_by_a_publish()
    {
        var bus = new EventBus();
        using var s = bus.Subscribe();
        var read = s.Reader.ReadAsync().AsTask();
        Assert.False(read.IsCompleted);
        bus.Publish(Event("Offline"));
        Assert.Equal("Offline", (await read.WaitAsync(TimeSpan.FromSeconds(5))).Reason);
    }

    [Fact]
    public async Task OnCommitted_runs_after_the_commit_and_before_the_write_returns()
    {
        var ran = false;
        var seenInsideWrite = true;
        await _rig.Store.WriteAsync(s =>
        {
            s.Tokens.Insert(new TokenRecord { Id = "abcdef" });
            s.OnCommitted(() => ran = true);
            seenInsideWrite = ran;
        });
        Assert.False(seenInsideWrite);
        Assert.True(ran);
    }

    [Fact]
    public async Task A_throwing_after_commit_action_fails_neither_its_write_nor_the_next()
    {
        await _rig.Store.WriteAsync(s => s.OnCommitted(() => throw new InvalidOperationException("observer bug")));
        Assert.Equal(42, await _rig.Store.WriteAsync(_ => 42));
    }

    [Fact]
    public async Task AddEvent_gives_an_id_and_publishes_what_is_already_stored()
    {
        var bus = new EventBus();
        using var s = bus.Subscribe();
        var record = new EventRecord { Reason = "RolloutStarted", Rollout = "r-1", Time = DateTime.UtcNow };
        await _rig.Store.WriteAsync(st =>
        {
            st.AddEvent(bus, record);
            Assert.False(s.Reader.TryRead(out _)); // not before the commit
        });
        var published = await s.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotEmpty(published.Id);
        Assert.Equal("r-1", Assert.Single(_rig.Store.Events.Newest(new EventQuery(10)), e => e.Id == published.Id).Rollout);
    }

    [Fact]
    public async Task Registry_changes_publish_their_events_once_committed()
    {
        _rig.Time.Advance(TimeSpan.FromTicks(1234)); // a time finer than the store keeps
        using var s = _rig.Events.Subscribe();
        var token = await _rig.CreateTokenAsync();
        (await _rig.JoinAsync(token, "node-1")).Key.Dispose();
        await _rig.Registry.LabelAsync("node-1", new Dictionary<string, string> { ["zone"] = "a" }, [], overwrite: false);
        await _rig.Registry.MarkOnlineAsync("node-1", null, "10.0.0.1:1");
        await _rig.Registry.MarkOfflineAsync("node-1", "disconnected", null);
        await _rig.Registry.DeleteAsync("node-1");

        var events = new List<EventRecord>();
        while (s.Reader.TryRead(out var e)) events.Add(e);
        Assert.Equal(["Joined", "Labeled", "Online", "Offline", "Deleted"], events.Select(e => e.Reason));
        Assert.All(events, e => Assert.Equal("node-1", e.Node));
        var stored = _rig.Store.Events.Newest(new EventQuery(100)).ToDictionary(e => e.Id);
        Assert.All(events, e => Assert.True(stored.ContainsKey(e.Id)));
        // What a watcher is sent is what a later listing reads back, to the tick.
        Assert.All(events, e => Assert.Equal(stored[e.Id].Time, e.Time));
        Assert.Equal("zone=a", events[1].Message);
    }
}
