using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Cli;

/// <summary>Maintenance windows as `rollout status` and `rollout start --dry-run` show what the coordinator decided.</summary>
public class RolloutViewsWindowTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 4, 23, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Status_says_which_window_the_rollout_waits_for_as_the_coordinator_says_it()
    {
        var r = new Rollout
        {
            Id = "r1", PlanName = "p", Generation = 1, State = RolloutState.Rolling, CurrentWave = 1, WaveCount = 3,
            MaxUnavailable = 1, MaxFailures = 1, Strategy = new RolloutStrategy { MaxUnavailable = "1", MaxFailures = "1" },
            WindowWait = "waiting for window night (opens Sat 02:00 CET, in 3h12m)", WaitingForWindow = "night",
            CreatedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Now.AddMinutes(-5)),
        };
        Assert.Contains("Window:           waiting for window night (opens Sat 02:00 CET, in 3h12m)\n", RolloutViews.Status(r, Now));
        r.WindowWait = "";
        r.WaitingForWindow = "";
        r.Strategy.Window = "night";
        Assert.Contains("Window:           only in window night\n", RolloutViews.Status(r, Now));
    }

    [Fact]
    public void A_dry_run_shows_under_each_wave_the_windows_its_nodes_start_in()
    {
        var r = new Rollout { PlanName = "p", WaveCount = 2, MaxUnavailable = 2, MaxFailures = 1, DryRun = true,
            Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "2", MaxFailures = "1", NoPrepareAhead = true } };
        r.Nodes.Add(new RolloutNode { Name = "w1", Wave = 0 });
        r.Nodes.Add(new RolloutNode { Name = "w2", Wave = 1, Windows = { "night" }, WindowNote = "window night opens Sat 02:00 CET, in 3h" });
        r.Nodes.Add(new RolloutNode { Name = "w3", Wave = 1 });
        var text = RolloutViews.DryRun(r);
        Assert.Contains("wave 0 (canary): w1\nwave 1: w2, w3\n  window night opens Sat 02:00 CET, in 3h: w2\n  any time (no window covers it): w3\n", text);
    }
}
