using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>The rollout aggregate as a pure value: waves, guarded transitions, decisions under the budgets.</summary>
public class RolloutEngineTests
{
    private static readonly DateTime T0 = new(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static RolloutRecord Rollout(int nodes, int canary = 1, int maxUnavailable = 1, int maxFailures = 1, bool prepare = false)
    {
        var r = new RolloutRecord
        {
            Id = "r1", PlanName = "p", Canary = canary, MaxUnavailable = maxUnavailable, MaxFailures = maxFailures,
            PrepareAhead = prepare, PrepareConcurrency = 50, State = RolloutState.Pending, CreatedAt = T0, UpdatedAt = T0,
        };
        RolloutEngine.PlanWaves(r, Enumerable.Range(1, nodes).Select(i => $"n{i:00}"));
        return r;
    }

    private static StepReport RunReport(string stage, NodeFleet.Protocol.V1.RunState state, string runId = "run", string message = "") =>
        new() { RolloutId = "r1", Stage = stage, RunState = state, RunId = runId, Message = message };

    private static List<RolloutAction> Decide(RolloutRecord r, Func<string, bool>? online = null) =>
        RolloutEngine.Decide(r, online ?? (_ => true), T0).Actions;

    [Fact]
    public void Waves_are_the_canary_then_batches_of_max_unavailable_in_name_order()
    {
        var r = Rollout(7, canary: 1, maxUnavailable: 3);
        Assert.Equal(3, r.WaveCount);
        Assert.Equal([0, 1, 1, 1, 2, 2, 2], r.Nodes.Select(n => n.Wave));
        Assert.Equal("n01", r.Nodes[0].Name);
        var noCanary = Rollout(4, canary: 0, maxUnavailable: 2);
        Assert.Equal([0, 0, 1, 1], noCanary.Nodes.Select(n => n.Wave));
    }

    [Theory]
    [InlineData(RolloutState.Pending, RolloutState.Succeeded)]
    [InlineData(RolloutState.Succeeded, RolloutState.Rolling)]
    [InlineData(RolloutState.RolledBack, RolloutState.RollingBack)]
    [InlineData(RolloutState.Aborted, RolloutState.Rolling)]
    [InlineData(RolloutState.Rolling, RolloutState.RolledBack)]
    public void Illegal_transitions_are_refused(RolloutState from, RolloutState to)
    {
        var r = Rollout(1);
        r.State = from;
        var e = Assert.Throws<InvalidOperationException>(() => RolloutEngine.Transition(r, to, "", T0));
        Assert.Equal($"rollout r1 is {RolloutTransitions.Name(from)}; it cannot become {RolloutTransitions.Name(to)}", e.Message);
        Assert.Equal(from, r.State);
    }

    // Messages used to mix the enum's names ("is Aborted; it cannot become Rolling") with the ABORTED shown elsewhere.
    [Theory]
    [InlineData(RolloutState.Pending, "PENDING")]
    [InlineData(RolloutState.Preparing, "PREPARING")]
    [InlineData(RolloutState.Rolling, "ROLLING")]
    [InlineData(RolloutState.Paused, "PAUSED")]
    [InlineData(RolloutState.Succeeded, "SUCCEEDED")]
    [InlineData(RolloutState.Failed, "FAILED")]
    [InlineData(RolloutState.Aborted, "ABORTED")]
    [InlineData(RolloutState.RollingBack, "ROLLING_BACK")]
    [InlineData(RolloutState.RolledBack, "ROLLED_BACK")]
    public void States_are_named_as_the_cli_and_api_name_them(RolloutState state, string name)
    {
        Assert.Equal(name, RolloutTransitions.Name(state));
        // The API's enum (ROLLOUT_STATE_…) is the same name with a prefix.
        var api = Enum.Parse<NodeFleet.Protocol.V1.RolloutState>(state.ToString());
        var original = typeof(NodeFleet.Protocol.V1.RolloutState).GetField(api.ToString())!
            .GetCustomAttributes(typeof(Google.Protobuf.Reflection.OriginalNameAttribute), false).Cast<Google.Protobuf.Reflection.OriginalNameAttribute>().Single();
        Assert.Equal($"ROLLOUT_STATE_{name}", original.Name);
    }

    [Fact]
    public void Refusals_and_transition_events_use_the_upper_case_names()
    {
        Assert.Equal("rollout r1 is ABORTED; it cannot become ROLLING", RolloutTransitions.Refusal("r1", RolloutState.Aborted, RolloutState.Rolling));
        Assert.Equal("rollout r1 is already PAUSED", RolloutTransitions.Refusal("r1", RolloutState.Paused, RolloutState.Paused));
        var r = Rollout(1);
        r.State = RolloutState.Paused;
        var note = RolloutEngine.Transition(r, RolloutState.RollingBack, "operator", T0);
        Assert.Equal("PAUSED → ROLLING_BACK: operator", note.Message);
        Assert.Equal("RolloutRollingBack", note.Reason);
    }

    [Fact]
    public void Pause_remembers_what_it_interrupted()
    {
        var r = Rollout(1);
        r.State = RolloutState.Preparing;
        RolloutEngine.Transition(r, RolloutState.Paused, "operator", T0);
        Assert.Equal(RolloutState.Preparing, r.ResumeTo);
    }

    [Fact]
    public void The_canary_runs_alone_and_its_success_opens_the_next_wave()
    {
        var r = Rollout(3, canary: 1, maxUnavailable: 2);
        Decide(r); // Pending -> Rolling (no prepare ahead)
        var first = Decide(r);
        Assert.Equal(["n01"], first.Select(a => a.Node));
        Assert.Empty(Decide(r));
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        Decide(r); // wave 0 complete -> wave 1
        Assert.Equal(1, r.CurrentWave);
        Assert.Equal(["n02", "n03"], Decide(r).Select(a => a.Node));
    }

    [Fact]
    public void A_failed_canary_pauses_and_nothing_else_starts()
    {
        var r = Rollout(3, canary: 1, maxUnavailable: 3, maxFailures: 5);
        Decide(r);
        Decide(r);
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed, message: "boom"), T0);
        Assert.Empty(Decide(r));
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Contains("canary node n01 failed: boom", r.StateReason);
        Assert.All(r.Nodes.Skip(1), n => Assert.Equal(RolloutNodeState.Pending, n.State));
    }

    [Fact]
    public void Max_unavailable_counts_running_and_offline_nodes()
    {
        var r = Rollout(4, canary: 0, maxUnavailable: 2);
        Decide(r);
        // n02 is offline: it counts as unavailable, so only one other node may start.
        var started = Decide(r, n => n != "n02");
        Assert.Equal(["n01"], started.Select(a => a.Node));
        Assert.Empty(Decide(r, n => n != "n02"));
    }

    [Fact]
    public void Spending_the_error_budget_pauses_with_the_reason_and_in_flight_nodes_finish()
    {
        var r = Rollout(6, canary: 0, maxUnavailable: 3, maxFailures: 2);
        Decide(r);
        Assert.Equal(3, Decide(r).Count);
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed), T0);
        RolloutEngine.OnReport(r, "n02", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed), T0);
        Assert.Empty(Decide(r));
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Contains("error budget spent: 2 failure(s), max 2", r.StateReason);
        // n03 is still running; its report is still taken.
        RolloutEngine.OnReport(r, "n03", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        Assert.Equal(RolloutNodeState.Succeeded, r.Node("n03")!.State);
    }

    [Fact]
    public void An_offline_node_fails_once_its_deadline_passes()
    {
        var r = Rollout(1, canary: 0, maxUnavailable: 1, maxFailures: 1);
        r.PhaseDeadlinesMs["stage-artifacts"] = 5000;
        Decide(r);
        Decide(r);
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
        RolloutEngine.Decide(r, _ => false, T0.AddSeconds(4));
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
        RolloutEngine.Decide(r, _ => false, T0.AddSeconds(6));
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.Contains("offline past its deadline", r.Nodes[0].Message);
    }

    [Fact]
    public void Prepare_runs_everywhere_first_then_the_waves()
    {
        var r = Rollout(3, canary: 1, maxUnavailable: 1, prepare: true);
        Decide(r);
        Assert.Equal(RolloutState.Preparing, r.State);
        var prepare = RolloutEngine.Decide(r, _ => true, T0).Actions;
        Assert.All(prepare, a => Assert.Equal(RolloutEngine.StagePrepare, ((RolloutAction.Apply)a).Stage));
        Assert.Equal(3, prepare.Count);
        foreach (var n in r.Nodes) RolloutEngine.OnReport(r, n.Name, RunReport(RolloutEngine.StagePrepare, NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        Decide(r);
        Assert.Equal(RolloutState.Rolling, r.State);
        var apply = Decide(r);
        Assert.Equal([RolloutEngine.StageApply], apply.Select(a => ((RolloutAction.Apply)a).Stage));
    }

    [Fact]
    public void Rollback_undoes_applied_nodes_in_reverse_wave_order()
    {
        var r = Rollout(3, canary: 1, maxUnavailable: 1);
        r.State = RolloutState.Aborted;
        foreach (var n in r.Nodes.Take(2))
        {
            n.State = RolloutNodeState.Succeeded;
            n.RunId = "run-" + n.Name;
        }
        RolloutEngine.Transition(r, RolloutState.RollingBack, "", T0);
        var undo = Decide(r);
        Assert.Equal(["n02"], undo.Select(a => a.Node));
        Assert.Equal("run-n02", ((RolloutAction.Undo)undo[0]).RunId);
        RolloutEngine.OnReport(r, "n02", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Undone, "run-n02"), T0);
        Assert.Equal(["n01"], Decide(r).Select(a => a.Node));
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Undone, "run-n01"), T0);
        Decide(r);
        Assert.Equal(RolloutState.RolledBack, r.State);
        Assert.Equal(RolloutNodeState.Pending, r.Node("n03")!.State);
    }

    [Theory]
    [InlineData("10%", 20, 2)]
    [InlineData("10%", 5, 1)]
    [InlineData("3", 100, 3)]
    [InlineData("0", 100, 1)]
    [InlineData("100%", 7, 7)]
    public void Budgets_resolve_numbers_and_percentages(string text, int total, int expected) =>
        Assert.Equal(expected, Budget.Parse(text, "max-unavailable").Resolve(total, 1));

    [Theory]
    [InlineData("ten")]
    [InlineData("101%")]
    [InlineData("-1")]
    [InlineData("5%%")]
    public void Bad_budgets_are_refused_naming_the_option(string text)
    {
        var e = Assert.Throws<FormatException>(() => Budget.Parse(text, "max-failures"));
        Assert.Contains("max-failures", e.Message);
    }
}
