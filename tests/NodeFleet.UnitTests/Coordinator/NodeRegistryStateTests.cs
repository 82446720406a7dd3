using Grpc.Core;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Labels, presence transitions, events and persistence of joined nodes.</summary>
public sealed class NodeRegistryStateTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private string _token = "";

    public async Task InitializeAsync()
    {
        _token = await _rig.CreateTokenAsync(usages: 10);
        (await _rig.JoinAsync(_token, "node-1", new Dictionary<string, string> { ["role"] = "worker", ["zone"] = "a" })).Key.Dispose();
    }

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private static Dictionary<string, string> Set(params (string K, string V)[] kv) => kv.ToDictionary(p => p.K, p => p.V);

    // Several things often happen to a node within one millisecond (the resolution of stored times): joined and
    // labelled, or offline and online again on a reconnect. They must still be listed in the order they happened.
    [Fact]
    public async Task Events_of_the_same_instant_keep_their_order()
    {
        await _rig.Registry.LabelAsync("node-1", Set(("gpu", "nvidia")), [], overwrite: false);
        await _rig.Registry.MarkOnlineAsync("node-1", null, "10.0.0.7:1");
        await _rig.Registry.MarkOfflineAsync("node-1", "stream closed", null);
        Assert.Equal(["Joined", "Labeled", "Online", "Offline"], _rig.Registry.Events("node-1", 10).Select(e => e.Reason));
        Assert.Equal(["Online", "Offline"], _rig.Registry.Events("node-1", 2).Select(e => e.Reason));
    }

    [Fact]
    public async Task Label_adds_and_removes()
    {
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        var (node, changed) = await _rig.Registry.LabelAsync("node-1", Set(("gpu", "nvidia")), ["zone"], overwrite: false);
        Assert.True(changed);
        Assert.Equal(Set(("role", "worker"), ("gpu", "nvidia")), node.Labels);
        Assert.Equal(node.Labels, _rig.Registry.Get("node-1").Labels);
        var ev = _rig.Registry.Events("node-1", 10).Last();
        Assert.Equal("Labeled", ev.Reason);
        Assert.Equal("gpu=nvidia,zone-", ev.Message);
    }

    [Fact]
    public async Task Label_with_the_same_value_needs_no_overwrite_and_changes_nothing()
    {
        var events = _rig.Registry.Events("node-1", 100).Count;
        var (node, changed) = await _rig.Registry.LabelAsync("node-1", Set(("role", "worker")), [], overwrite: true);
        Assert.False(changed);
        Assert.Equal("worker", node.Labels["role"]);
        Assert.Equal(events, _rig.Registry.Events("node-1", 100).Count);

        // Only what changes is in the event.
        (_, changed) = await _rig.Registry.LabelAsync("node-1", Set(("role", "worker"), ("gpu", "nvidia")), ["nope"], overwrite: false);
        Assert.True(changed);
        Assert.Equal("gpu=nvidia", _rig.Registry.Events("node-1", 100).Last().Message);
    }

    [Fact]
    public async Task Changing_a_value_needs_overwrite()
    {
        var e = await Edge.ThrowsAsync(() =>
            _rig.Registry.LabelAsync("node-1", Set(("gpu", "amd"), ("role", "master")), [], overwrite: false));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("role=worker", e.Status.Detail);
        Assert.Contains("--overwrite", e.Status.Detail);
        // Nothing of the refused change was applied, not even the new label.
        Assert.Equal(Set(("role", "worker"), ("zone", "a")), _rig.Registry.Get("node-1").Labels);

        var (node, _) = await _rig.Registry.LabelAsync("node-1", Set(("role", "master")), [], overwrite: true);
        Assert.Equal("master", node.Labels["role"]);
        Assert.Equal("master", _rig.Registry.Get("node-1").Labels["role"]);
    }

    [Fact]
    public async Task Removing_a_missing_label_is_harmless()
    {
        var events = _rig.Registry.Events("node-1", 100).Count;
        var (node, changed) = await _rig.Registry.LabelAsync("node-1", Set(), ["nope"], overwrite: false);
        Assert.False(changed);
        Assert.Equal(Set(("role", "worker"), ("zone", "a")), node.Labels);
        Assert.Equal(events, _rig.Registry.Events("node-1", 100).Count);
    }

    [Fact]
    public async Task Label_refuses_bad_labels_and_unknown_nodes()
    {
        var bad = await Edge.ThrowsAsync(() => _rig.Registry.LabelAsync("node-1", Set(("-x", "1")), [], false));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        var badRemove = await Edge.ThrowsAsync(() => _rig.Registry.LabelAsync("node-1", Set(), ["a b"], false));
        Assert.Equal(StatusCode.InvalidArgument, badRemove.StatusCode);
        var missing = await Edge.ThrowsAsync(() => _rig.Registry.LabelAsync("node-9", Set(("a", "1")), [], false));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task List_filters_with_a_selector_and_orders_by_name()
    {
        (await _rig.JoinAsync(_token, "node-0", new Dictionary<string, string> { ["role"] = "master" })).Key.Dispose();
        (await _rig.JoinAsync(_token, "node-2", new Dictionary<string, string> { ["role"] = "worker" })).Key.Dispose();
        Assert.Equal(["node-0", "node-1", "node-2"], _rig.Registry.List(LabelSelector.Everything).Select(n => n.Name));
        Assert.Equal(["node-1", "node-2"], _rig.Registry.List(LabelSelector.Parse("role=worker")).Select(n => n.Name));
        Assert.Equal(["node-0", "node-2"], _rig.Registry.List(LabelSelector.Parse("!zone")).Select(n => n.Name));
    }

    [Fact]
    public async Task Online_and_offline_transitions_are_recorded_as_events()
    {
        var facts = new NodeFacts { Os = "Updated OS", Kernel = "6.1" };
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        await _rig.Registry.MarkOnlineAsync("node-1", facts, "10.0.0.7:1234");
        var online = _rig.Registry.Get("node-1");
        Assert.Equal(NodeState.Online, online.Status);
        Assert.Equal("Updated OS", online.Facts.Os);
        Assert.Equal("10.0.0.7:1234", online.Address);
        Assert.Equal(_rig.Time.Now.UtcDateTime, online.LastSeen);
        Assert.Single(_rig.Registry.ListOnline());

        // Already online: no second event.
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        await _rig.Registry.MarkOnlineAsync("node-1", null, "10.0.0.7:1234");

        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        await _rig.Registry.MarkOfflineAsync("node-1", "stream closed", null);
        var offline = _rig.Registry.Get("node-1");
        Assert.Equal(NodeState.Offline, offline.Status);
        Assert.Equal("stream closed", offline.StatusReason);
        Assert.Equal(_rig.Time.Now.UtcDateTime, offline.StatusChangedAt);
        Assert.Empty(_rig.Registry.ListOnline());

        // Already offline: no second event.
        await _rig.Registry.MarkOfflineAsync("node-1", "again", null);

        var events = _rig.Registry.Events("node-1", 10);
        Assert.Equal(["Joined", "Online", "Offline"], events.Select(e => e.Reason));
        Assert.Equal("stream closed", events[^1].Message);
        Assert.Equal("Warning", events[^1].Type);
        Assert.Equal(["Online", "Offline"], _rig.Registry.Events("node-1", 2).Select(e => e.Reason));
    }

    [Fact]
    public async Task Presence_updates_of_unknown_nodes_are_ignored()
    {
        await _rig.Registry.MarkOnlineAsync("ghost", null, "10.0.0.1:1");
        await _rig.Registry.MarkOfflineAsync("ghost", "gone", null);
        Edge.Throws(() => _rig.Registry.Get("ghost"));
        Assert.Empty(_rig.Registry.Events("ghost", 10));
    }

    [Fact]
    public async Task Last_seen_flush_only_moves_forward()
    {
        var t0 = _rig.Time.Now.UtcDateTime;
        await _rig.Registry.FlushLastSeenAsync([("node-1", t0.AddSeconds(10)), ("ghost", t0)]);
        Assert.Equal(t0.AddSeconds(10), _rig.Registry.Get("node-1").LastSeen);
        await _rig.Registry.FlushLastSeenAsync([("node-1", t0.AddSeconds(5))]);
        Assert.Equal(t0.AddSeconds(10), _rig.Registry.Get("node-1").LastSeen);
    }

    [Fact]
    public async Task Nodes_labels_events_and_token_uses_survive_a_restart()
    {
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        await _rig.Registry.LabelAsync("node-1", Set(("gpu", "nvidia")), [], overwrite: false);
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        await _rig.Registry.MarkOnlineAsync("node-1", null, "10.0.0.7:1");
        var fingerprint = _rig.Registry.Get("node-1").CertificateFingerprint;

        await _rig.ReopenAsync();

        var node = _rig.Registry.Get("node-1");
        Assert.Equal(Set(("role", "worker"), ("zone", "a"), ("gpu", "nvidia")), node.Labels);
        Assert.Equal(NodeState.Online, node.Status);
        Assert.Equal(fingerprint, node.CertificateFingerprint);
        Assert.Equal(1, _rig.Store.Tokens.Get(_token[..6])!.UsagesUsed);
        Assert.Equal(10, _rig.Tokens.RequireUsable(_token[..6]).UsagesLimit);
        Assert.Equal(["Joined", "Labeled", "Online"], _rig.Registry.Events("node-1", 10).Select(e => e.Reason));
    }
}
