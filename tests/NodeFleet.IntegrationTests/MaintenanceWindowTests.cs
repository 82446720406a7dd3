using System.Globalization;
using System.Text;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Maintenance windows on a real coordinator and real agents. The coordinator runs with the hidden test-only rollout
/// clock (`run --test-only-rollout-clock FAKE_START,REAL_ANCHOR,SPEED`): its rollouts live on a daylight-saving night,
/// 30 times as fast as real time, so a window opens and closes within seconds. Event times are that clock's. Each
/// window is set once the agents have joined, a few minutes of that clock ahead, however long the joins took.
/// </summary>
public sealed class MaintenanceWindowTests : IAsyncLifetime
{
    private const double Speed = 30;
    private static readonly string[] Ignore = ["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"];

    private TestCluster _cluster = null!;
    private AdminClients _admin = null!;
    private DateTime _fakeStart;
    private DateTime _anchor;

    private async Task StartAsync(DateTime fakeStart)
    {
        (_fakeStart, _anchor) = (fakeStart, DateTime.UtcNow);
        var clock = string.Join(',', fakeStart.ToString("O", CultureInfo.InvariantCulture),
            _anchor.ToString("O", CultureInfo.InvariantCulture), Speed.ToString(CultureInfo.InvariantCulture));
        _cluster = await TestCluster.StartAsync("1s", "--test-only-rollout-clock", clock);
        _admin = new AdminClients(_cluster);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls the latter on a test class, and the coordinator and agents
    // of each test would outlive the run.
    public async Task DisposeAsync()
    {
        _admin?.Dispose();
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    private async Task<Rollout> StartRolloutAsync(string yaml, RolloutStrategy strategy)
    {
        var request = new StartRolloutRequest { Plan = AdminClients.Plan(yaml), Selector = "role=worker", Strategy = strategy };
        request.IgnorePreflightErrors.AddRange(Ignore);
        return await _admin.Rollouts.StartAsync(request);
    }

    private static DateTime Utc(int y, int mo, int d, int h, int mi) => new(y, mo, d, h, mi, 0, DateTimeKind.Utc);

    /// <summary>The whole minute of the coordinator's rollout clock <paramref name="minutes"/> after its time now.</summary>
    private DateTime FakeMinutesAhead(int minutes)
    {
        var now = _fakeStart + (DateTime.UtcNow - _anchor) * Speed;
        return new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerMinute, DateTimeKind.Utc).AddMinutes(minutes + 1);
    }

    /// <summary>An instant as the coordinator says it in <paramref name="zone"/>: "Sun 03:05 CEST".</summary>
    private static string Local(DateTime utc, TimeZoneInfo zone, string format = "ddd HH:mm") =>
        TimeZoneInfo.ConvertTimeFromUtc(utc, zone).ToString(format, CultureInfo.InvariantCulture) + " " +
        (zone.IsDaylightSavingTime(utc) ? zone.DaylightName : zone.StandardName);

    /// <summary>A one-part schedule from <paramref name="open"/> to <paramref name="close"/> in <paramref name="zone"/>'s wall clock.</summary>
    private static string Schedule(DateTime open, DateTime close, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTimeFromUtc(open, zone).ToString("ddd HH:mm", CultureInfo.InvariantCulture) + "-" +
        TimeZoneInfo.ConvertTimeFromUtc(close, zone).ToString("HH:mm", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Nothing_disruptive_starts_outside_a_window_and_a_node_in_flight_at_the_close_finishes()
    {
        // 2027-03-28 in Europe/Berlin, the night clocks spring forward (at 01:00 UTC, 02:00 CET becomes 03:00 CEST).
        // The window opens ten minutes of the rollout clock ahead (20 real seconds) and stays open five (10 real seconds).
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        await StartAsync(Utc(2027, 3, 28, 0, 50));
        await using var http = await HttpFiles.StartAsync();
        for (var i = 1; i <= 2; i++) await _cluster.JoinedOnlineAgentAsync($"n{i}", "--labels", "role=worker");
        var opens = FakeMinutesAhead(10);
        var closes = opens.AddMinutes(5);
        var schedule = Schedule(opens, closes, berlin);
        var set = await _cluster.CliOkAsync("window", "set", "night", "--selector", "role=worker", "--schedule", schedule, "--timezone", "Europe/Berlin");
        Assert.StartsWith($"window night set: {schedule} (Europe/Berlin) on nodes role=worker; opens {Local(opens, berlin)}, in ", set.Trim());

        // The run downloads for 12 real seconds: longer than the window is open.
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(12));
        var r = await StartRolloutAsync(AgentApplyTests.PlanWithArtifact("tool", url, sha),
            new RolloutStrategy { Canary = 0, MaxUnavailable = "1", MaxFailures = "1", NoPrepareAhead = true });
        var waiting = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Assert.True(waiting.Nodes.All(n => n.State == RolloutNodeState.Pending), "a node started before its window opened");
        await Proc.WaitUntilAsync(async () => (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).WindowWait.Length > 0,
            TimeSpan.FromSeconds(20), "the rollout to wait for its window");
        var status = await _cluster.CliOkAsync("rollout", "status", r.Id);
        Assert.Contains($"waiting for window night (opens {Local(opens, berlin)}, in ", status);

        // n1 starts inside the window and is still downloading when it closes; it finishes, n2 waits for next Sunday.
        await _admin.WaitForNodesAsync(r.Id, n => n.State == RolloutNodeState.Succeeded, 1, TimeSpan.FromSeconds(90));
        // The pass after n1's success moves to wave 1 and finds n2 outside its window.
        Rollout after = null!;
        await Proc.WaitUntilAsync(async () => (after = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).WindowWait.Length > 0,
            TimeSpan.FromSeconds(20), "the rollout to wait for the window's next opening");
        Assert.Equal(RolloutState.Rolling, after.State);
        Assert.Equal(RolloutNodeState.Pending, after.Nodes.Single(n => n.Name == "n2").State);
        Assert.StartsWith($"waiting for window night (opens {Local(opens.AddDays(7), berlin, "ddd yyyy-MM-dd HH:mm")}, in 6d", after.WindowWait);
        var events = await _admin.RolloutEventsAsync(r.Id);
        var started = events.Where(e => e.Reason == "NodeStarted").ToList();
        var n1 = Assert.Single(started);
        Assert.Equal("n1", n1.Node);
        Assert.InRange(n1.Time.ToDateTime(), opens, closes);
        var done = events.Single(e => e.Reason == "NodeSucceeded");
        Assert.True(done.Time.ToDateTime() > closes, $"n1 finished at {done.Time} inside its window; the test proves nothing");
        Assert.Contains(events, e => e.Reason == "WaitingForWindow" && e.Message == $"wave 0: 1 node(s) wait for window night (opens {Local(opens, berlin)})");
        Assert.Contains(events, e => e.Reason == "WaitingForWindow" &&
            e.Message == $"wave 1: 1 node(s) wait for window night (opens {Local(opens.AddDays(7), berlin, "ddd yyyy-MM-dd HH:mm")})");

        // The window edited to be open now applies to the running rollout at once.
        var reopened = DateTime.UtcNow;
        await _cluster.CliOkAsync("window", "set", "night", "--selector", "role=worker", "--schedule", "daily 00:00-24:00", "--timezone", "Europe/Berlin");
        var finished = await _admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        Assert.All(finished.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
        var windowEvents = await _admin.RolloutEventsAsync(r.Id);
        Assert.Contains(windowEvents, e => e.Reason == "WindowOpened" && e.Message == "window night is open: wave 1 goes on");
    }

    [Fact]
    public async Task A_coordinator_killed_while_waiting_for_a_window_resumes_and_starts_the_nodes_when_it_opens()
    {
        // 2027-11-07 in America/New_York, the night clocks fall back (at 06:00 UTC, 02:00 EDT becomes 01:00 EST): the
        // window opens at a wall-clock time that happens twice, and must open at its first (EDT), fifteen minutes of the
        // rollout clock ahead (30 real seconds), long enough for the coordinator to be killed and restarted before.
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        await StartAsync(Utc(2027, 11, 7, 4, 50));
        for (var i = 1; i <= 2; i++) await _cluster.JoinedOnlineAgentAsync($"n{i}", "--labels", "role=worker");
        var opens = FakeMinutesAhead(15);
        Assert.True(opens < Utc(2027, 11, 7, 6, 0), $"the joins took so long that the window opens at {opens:O}, past the first pass of the repeated hour");
        Assert.True(newYork.IsAmbiguousTime(TimeZoneInfo.ConvertTimeFromUtc(opens, newYork)));
        await _cluster.CliOkAsync("window", "set", "nyc", "--schedule", Schedule(opens, opens.AddMinutes(30), newYork), "--timezone", "America/New_York");
        var list = await _cluster.CliOkAsync("window", "list");
        Assert.Contains("nyc", list);
        Assert.Contains($"opens {Local(opens, newYork)}, in ", list);

        var planFile = Path.Combine(_cluster.Scratch, "plan.yaml");
        await File.WriteAllTextAsync(planFile, AgentApplyTests.Plan);
        var dry = await _cluster.CliOkAsync(["rollout", "start", planFile, "-l", "role=worker", "--canary", "1", "--window", "nyc", "--dry-run",
            "--ignore-preflight-errors", string.Join(',', Ignore)]);
        Assert.Contains($"wave 0 (canary): n1\n  window nyc opens {Local(opens, newYork)}, in ", dry);
        Assert.Contains($"wave 1: n2\n  window nyc opens {Local(opens, newYork)}, in ", dry);

        var r = await StartRolloutAsync(AgentApplyTests.Plan, new RolloutStrategy { Canary = 1, MaxUnavailable = "1", MaxFailures = "1", Window = "nyc" });
        // Preparation runs outside the window; then the rollout waits, and says so.
        await Proc.WaitUntilAsync(async () => (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).WaitingForWindow == "nyc",
            TimeSpan.FromSeconds(30), "the rollout to wait for window nyc");
        var waiting = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Assert.All(waiting.Nodes, n => Assert.Equal(RolloutNodeState.Prepared, n.State));
        Assert.Equal(opens, waiting.WindowOpensAt.ToDateTime());
        Assert.StartsWith($"waiting for window nyc (opens {Local(opens, newYork)}, in ", waiting.WindowWait);
        var deleted = await _cluster.CliAsync("window", "delete", "nyc");
        Assert.NotEqual(0, deleted.ExitCode);
        Assert.Contains($"window nyc is the own window of active rollout(s) {r.Id}", deleted.StdErr);

        await _cluster.KillCoordinatorAsync();
        await _cluster.StartCoordinatorAsync();
        using var admin = new AdminClients(_cluster);
        var done = await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(120));
        Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
        var events = await admin.RolloutEventsAsync(r.Id);
        Assert.All(events.Where(e => e.Reason == "NodeStarted"), e => Assert.True(e.Time.ToDateTime() >= opens, $"{e.Node} started at {e.Time}, before the window opened"));
        Assert.Equal(2, events.Count(e => e.Reason == "NodeStarted"));
        // The wait was resumed from the store, not begun again (nor ended while the agents were reconnecting).
        var waits = events.Where(e => e.Reason is "WaitingForWindow" or "WindowOpened").Select(e => $"{e.Reason}: {e.Message}").ToList();
        Assert.Equal([$"WaitingForWindow: wave 0: 1 node(s) wait for window nyc (opens {Local(opens, newYork)})", "WindowOpened: window nyc is open: wave 0 goes on"], waits);
    }
}
