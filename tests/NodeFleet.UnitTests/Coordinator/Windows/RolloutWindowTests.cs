using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Rollouts.Windows;
using NodeFleet.Labels;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator.Windows;

/// <summary>The rollout engine with maintenance windows, as a pure value with a clock that the test moves.</summary>
public class RolloutWindowTests
{
    // Friday 2030-01-04 23:00 UTC = Saturday 00:00 CET.
    private static readonly DateTime Friday = new(2030, 1, 4, 23, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime Opens = new(2030, 1, 5, 1, 0, 0, DateTimeKind.Utc);   // Sat 02:00 CET
    private static readonly DateTime Closes = new(2030, 1, 5, 5, 0, 0, DateTimeKind.Utc);  // Sat 06:00 CET

    private static WindowBook Book(params (string Name, string Selector, string Schedule)[] windows) =>
        new(windows.Select(w => new MaintenanceWindow(w.Name, LabelSelector.Parse(w.Selector), WindowSchedule.Parse(w.Schedule, "Europe/Berlin"))));

    private static readonly WindowBook Weekend = Book(("weekend", "role=worker", "Sat,Sun 02:00-06:00"));

    private static RolloutRecord Rolling(int nodes, int maxUnavailable, params string[] windowed)
    {
        var r = new RolloutRecord
        {
            Id = "r1", PlanName = "p", Canary = 0, MaxUnavailable = maxUnavailable, MaxFailures = 1, PrepareAhead = false,
            State = RolloutState.Rolling, CurrentWave = 0, CreatedAt = Friday, UpdatedAt = Friday,
        };
        RolloutEngine.PlanWaves(r, Enumerable.Range(1, nodes).Select(i => $"n{i}"));
        foreach (var n in r.Nodes.Where(n => windowed.Contains(n.Name))) n.Windows = ["weekend"];
        return r;
    }

    private static List<string> Started(List<RolloutAction> actions) => actions.Select(a => a.Node).ToList();

    [Fact]
    public void Nothing_disruptive_starts_outside_the_window_and_the_rollout_says_what_it_waits_for()
    {
        var r = Rolling(2, maxUnavailable: 2, "n1", "n2");
        var (actions, notes) = RolloutEngine.Decide(r, _ => true, Friday, Weekend);
        Assert.Equal(RolloutState.Rolling, r.State);
        Assert.Empty(actions);
        Assert.Equal(("weekend", (DateTime?)Opens, "Sat 02:00 CET"), (r.WaitingForWindow, r.WindowOpensAt, r.WindowOpensLocal));
        Assert.Contains(notes, n => n.Reason == "WaitingForWindow" && n.Message == "wave 0: 2 node(s) wait for window weekend (opens Sat 02:00 CET)");
        Assert.Equal("waiting for window weekend (opens Sat 02:00 CET, in 2h)", RolloutEngine.WindowWait(r, Friday));
        Assert.Equal("waiting for window weekend (opens Sat 02:00 CET, in 1h12m)", RolloutEngine.WindowWait(r, Friday.AddMinutes(48)));

        // Still closed: no new event, no change.
        var before = r.UpdatedAt;
        var again = RolloutEngine.Decide(r, _ => true, Friday.AddMinutes(30), Weekend);
        Assert.Empty(again.Actions);
        Assert.Empty(again.Notes);
        Assert.Equal(before, r.UpdatedAt);

        var open = RolloutEngine.Decide(r, _ => true, Opens, Weekend);
        Assert.Equal(["n1", "n2"], Started(open.Actions));
        Assert.Equal("", r.WaitingForWindow);
        Assert.Contains(open.Notes, n => n.Reason == "WindowOpened" && n.Message == "window weekend is open: wave 0 goes on");
    }

    [Fact]
    public void A_wait_is_kept_while_its_nodes_are_offline_after_a_coordinator_restart()
    {
        var r = Rolling(2, maxUnavailable: 2, "n1", "n2");
        RolloutEngine.Decide(r, _ => true, Friday, Weekend);
        // Restarted: the agents have not reconnected yet. The wait is neither ended nor begun again.
        var (actions, notes) = RolloutEngine.Decide(r, _ => false, Friday.AddMinutes(1), Weekend);
        Assert.Empty(actions);
        Assert.Empty(notes);
        Assert.Equal(("weekend", (DateTime?)Opens), (r.WaitingForWindow, r.WindowOpensAt));
    }

    [Fact]
    public void A_node_no_window_covers_is_not_restricted()
    {
        var r = Rolling(2, maxUnavailable: 2, "n1");
        var (actions, _) = RolloutEngine.Decide(r, _ => true, Friday, Weekend);
        Assert.Equal(["n2"], Started(actions));
        Assert.Equal("weekend", r.WaitingForWindow);
    }

    [Fact]
    public void A_node_in_flight_when_the_window_closes_finishes_and_no_other_starts()
    {
        var r = Rolling(3, maxUnavailable: 1, "n1", "n2", "n3");
        Assert.Equal(["n1"], Started(RolloutEngine.Decide(r, _ => true, Opens, Weekend).Actions));
        // The window closes while n1 runs: it goes on, and succeeds.
        Assert.Empty(RolloutEngine.Decide(r, _ => true, Closes.AddMinutes(1), Weekend).Actions);
        Assert.Equal(RolloutNodeState.Running, r.Node("n1")!.State);
        RolloutEngine.OnReport(r, "n1", new NodeFleet.Protocol.V1.StepReport
        {
            RolloutId = "r1", Stage = RolloutEngine.StageApply, RunState = NodeFleet.Protocol.V1.RunState.Succeeded, RunId = "run1",
        }, Closes.AddMinutes(2));
        Assert.Equal(RolloutNodeState.Succeeded, r.Node("n1")!.State);
        // Nothing new until Sunday's window.
        for (var t = Closes.AddMinutes(3); t < Opens.AddDays(1); t = t.AddHours(1))
        {
            Assert.Empty(RolloutEngine.Decide(r, _ => true, t, Weekend).Actions);
        }
        Assert.Equal(Opens.AddDays(1), r.WindowOpensAt);
        Assert.Equal("Sun 02:00 CET", r.WindowOpensLocal);
        Assert.Equal(["n2"], Started(RolloutEngine.Decide(r, _ => true, Opens.AddDays(1), Weekend).Actions));
    }

    [Fact]
    public void A_node_in_flight_after_the_close_still_fails_by_its_deadline()
    {
        var r = Rolling(2, maxUnavailable: 1, "n1", "n2");
        r.PhaseDeadlinesMs["kubelet-config"] = 10 * 60_000;
        RolloutEngine.Decide(r, _ => true, Closes.AddMinutes(-5), Weekend);
        RolloutEngine.OnReport(r, "n1", new NodeFleet.Protocol.V1.StepReport
        {
            RolloutId = "r1", Stage = RolloutEngine.StageApply, Phase = "kubelet-config", State = NodeFleet.Protocol.V1.StepState.Running,
        }, Closes.AddMinutes(-5));
        RolloutEngine.Decide(r, _ => true, Closes.AddMinutes(6), Weekend);
        Assert.Equal(RolloutNodeState.Failed, r.Node("n1")!.State);
        Assert.StartsWith("phase kubelet-config exceeded its deadline of 10m", r.Node("n1")!.Message);
    }

    [Fact]
    public void The_rollouts_own_window_applies_to_every_node_and_replaces_the_fleet_windows()
    {
        var book = Book(("weekend", "role=worker", "Sat,Sun 02:00-06:00"), ("now", "", "Sat 00:00-01:00"));
        var r = Rolling(2, maxUnavailable: 2, "n1");
        r.Window = "weekend";
        // n2 is covered by no fleet window, and "now" is open, but the rollout's own window is closed.
        Assert.Empty(RolloutEngine.Decide(r, _ => true, Friday.AddMinutes(30), book).Actions);
        Assert.Equal("weekend", r.WaitingForWindow);
        r.Window = "now";
        Assert.Equal(["n1", "n2"], Started(RolloutEngine.Decide(r, _ => true, Friday.AddMinutes(30), book).Actions));
    }

    [Fact]
    public void A_node_starts_in_any_of_its_windows_and_waits_for_the_earliest()
    {
        var book = Book(("weekend", "", "Sat,Sun 02:00-06:00"), ("late", "", "Sat 04:00-05:00"));
        var r = Rolling(1, maxUnavailable: 1);
        r.Nodes[0].Windows = ["late", "weekend"];
        RolloutEngine.Decide(r, _ => true, Friday, book);
        Assert.Equal(("weekend", (DateTime?)Opens), (r.WaitingForWindow, r.WindowOpensAt));
        Assert.Equal("window weekend opens Sat 02:00 CET, in 2h", RolloutEngine.WindowNote(r, r.Nodes[0], book, Friday));
        Assert.Equal("window weekend open until Sat 06:00 CET", RolloutEngine.WindowNote(r, r.Nodes[0], book, Opens));
    }

    [Fact]
    public void A_deleted_fleet_window_no_longer_restricts_and_a_missing_own_window_holds()
    {
        var r = Rolling(1, maxUnavailable: 1, "n1");
        Assert.Equal(["n1"], Started(RolloutEngine.Decide(r, _ => true, Friday, WindowBook.Empty).Actions));
        var own = Rolling(1, maxUnavailable: 1);
        own.Window = "gone";
        Assert.Empty(RolloutEngine.Decide(own, _ => true, Friday, WindowBook.Empty).Actions);
        Assert.Equal("waiting for window gone, which does not exist", RolloutEngine.WindowWait(own, Friday));
    }

    [Fact]
    public void Preparation_runs_outside_any_window()
    {
        var r = Rolling(2, maxUnavailable: 2, "n1", "n2");
        r.PrepareAhead = true;
        r.PrepareConcurrency = 10;
        r.State = RolloutState.Pending;
        r.CurrentWave = -1;
        RolloutEngine.Decide(r, _ => true, Friday, Weekend);
        var (actions, _) = RolloutEngine.Decide(r, _ => true, Friday, Weekend);
        Assert.Equal(RolloutState.Preparing, r.State);
        Assert.All(actions, a => Assert.Equal(RolloutEngine.StagePrepare, ((RolloutAction.Apply)a).Stage));
        Assert.Equal(2, actions.Count);
    }

    [Theory]
    [InlineData(0.2, "1m")]
    [InlineData(59, "59m")]
    [InlineData(192, "3h12m")]
    [InlineData(180, "3h")]
    [InlineData(3000, "2d2h")]
    public void Waits_read_in_whole_minutes(double minutes, string expected) =>
        Assert.Equal(expected, RolloutEngine.In(TimeSpan.FromMinutes(minutes)));
}
