using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Rollouts.Windows;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Windows;

/// <summary>Setting, listing and deleting windows, and the windows a rollout takes at its start, over a real LiteDB store.</summary>
public sealed class WindowServiceTests : IAsyncLifetime
{
    // The rig's clock: Tuesday 2030-01-01 12:00 UTC.
    private readonly CoordinatorRig _rig = new();
    private WindowService _windows = null!;
    private RolloutService _rollouts = null!;

    public async Task InitializeAsync()
    {
        var presence = new Presence(_rig.Time);
        var messages = new NodeFleet.Coordinator.Messaging.NodeMessages(_rig.Store);
        var plans = new PlanService(_rig.Store, _rig.Registry, presence, _rig.Events, _rig.Time, messages);
        var controller = new RolloutController(_rig.Store, presence, _rig.Events, new RolloutMetrics(Prometheus.Metrics.NewCustomRegistry()),
            _rig.Time, NullLogger<RolloutController>.Instance, messages);
        _rollouts = new RolloutService(_rig.Store, plans, _rig.Registry, controller, _rig.Events, _rig.Time);
        _windows = new WindowService(_rig.Store, _rig.Events, controller, _rig.Time);
        var token = await _rig.CreateTokenAsync();
        (await _rig.JoinAsync(token, "w1", new Dictionary<string, string> { ["role"] = "worker" })).Key.Dispose();
        (await _rig.JoinAsync(token, "db1", new Dictionary<string, string> { ["role"] = "db" })).Key.Dispose();
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static StartRolloutRequest Start(string window = "", bool dryRun = false) => new()
    {
        Plan = PlanTestData.Load("valid-minimal.yaml").Plan, DryRun = dryRun,
        Strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = "2", MaxFailures = "1", Window = window },
    };

    [Theory]
    [InlineData("Night", "Sat 02:00-06:00", "Europe/Berlin", "", "window name 'Night' must be a lowercase DNS-1123 label")]
    [InlineData("night", "Sat 02:00-06:00", "Europe/Atlantis", "", "window night: unknown time zone 'Europe/Atlantis'")]
    [InlineData("night", "Sat 02:00-25:00", "UTC", "", "window night: schedule 'Sat 02:00-25:00': '25:00' is not a time of day")]
    [InlineData("night", "Sat 02:00-06:00", "UTC", "role in (a", "window night: selector: ")]
    public async Task A_bad_window_is_refused_naming_what_is_wrong_and_nothing_is_stored(string name, string schedule, string zone, string selector, string expected)
    {
        var e = await Edge.ThrowsAsync(() => _windows.SetAsync(name, selector, schedule, zone));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith(expected, e.Status.Detail);
        Assert.Empty(_rig.Store.Windows.List());
    }

    [Fact]
    public async Task A_window_is_set_listed_with_when_it_opens_replaced_and_deleted()
    {
        var set = await _windows.SetAsync("night", "role=worker", " Sat,Sun 02:00-06:00 ", "Europe/Berlin");
        Assert.Equal(("Sat,Sun 02:00-06:00", "Europe/Berlin", false), (set.Record.Schedule, set.Record.TimeZone, set.Open));
        Assert.Equal("opens Sat 02:00 CET, in 3d13h", set.Status);
        _rig.Time.Now = new DateTimeOffset(2030, 1, 5, 1, 30, 0, TimeSpan.Zero);
        Assert.Equal("open until Sat 06:00 CET", Assert.Single(_windows.List()).Status);

        await _windows.SetAsync("night", "", "daily 22:00-04:00", "America/New_York");
        var replaced = _rig.Store.Windows.Get("night")!;
        Assert.Equal(("", "daily 22:00-04:00", "America/New_York"), (replaced.Selector, replaced.Schedule, replaced.TimeZone));
        var events = _rig.Store.Events.Newest(new NodeFleet.Coordinator.Store.EventQuery(100)).Select(e => e.Reason).ToList();
        Assert.Contains("WindowCreated", events);
        Assert.Contains("WindowUpdated", events);

        await _windows.DeleteAsync("night");
        Assert.Empty(_windows.List());
        var e = await Edge.ThrowsAsync(() => _windows.DeleteAsync("night"));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task A_rollout_takes_the_windows_covering_each_node_at_its_start_and_a_dry_run_says_when_they_open()
    {
        await _windows.SetAsync("night", "role=worker", "Sat,Sun 02:00-06:00", "Europe/Berlin");
        var dry = await _rollouts.StartAsync(Start(dryRun: true));
        var w1 = dry.Nodes.Single(n => n.Name == "w1");
        Assert.Equal(["night"], w1.Windows);
        Assert.Equal("window night opens Sat 02:00 CET, in 3d13h", w1.WindowNote);
        var db1 = dry.Nodes.Single(n => n.Name == "db1");
        Assert.Empty(db1.Windows);
        Assert.Equal("", db1.WindowNote);

        var started = await _rollouts.StartAsync(Start());
        var record = _rig.Store.Rollouts.Get(started.Id)!;
        Assert.Equal(["night"], record.Node("w1")!.Windows);
        Assert.Empty(record.Node("db1")!.Windows);
    }

    [Fact]
    public async Task A_rollouts_own_window_must_exist_and_cannot_be_deleted_while_the_rollout_is_active()
    {
        var missing = await Edge.ThrowsAsync(() => _rollouts.StartAsync(Start(window: "night")));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal("window night not found (`nodefleet window list` shows the windows)", missing.Status.Detail);
        Assert.Empty(_rig.Store.Rollouts.ListAll());

        await _windows.SetAsync("night", "role=worker", "Sat 02:00-06:00", "Europe/Berlin");
        var r = await _rollouts.StartAsync(Start(window: "night"));
        Assert.Equal("night", r.Strategy.Window);
        Assert.All(r.Nodes, n => Assert.Equal(["night"], n.Windows));
        var refused = await Edge.ThrowsAsync(() => _windows.DeleteAsync("night"));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal($"window night is the own window of active rollout(s) {r.Id}; abort them first, or let them finish", refused.Status.Detail);
        await _rollouts.AbortAsync(r.Id, "");
        await _windows.DeleteAsync("night");
    }
}
