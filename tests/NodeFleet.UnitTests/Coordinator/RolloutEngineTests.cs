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

    private static StepReport PhaseReport(string stage, string phase, NodeFleet.Protocol.V1.StepState state = NodeFleet.Protocol.V1.StepState.Running,
        string message = "") =>
        new() { RolloutId = "r1", Stage = stage, Phase = phase, Step = "step", State = state, RunState = NodeFleet.Protocol.V1.RunState.Running, Message = message };

    /// <summary>One node, no canary, prepare skipped: running its apply request, sent at <see cref="T0"/>.</summary>
    private static RolloutRecord RunningOne(int nodes = 1, int maxFailures = 1, params (string Phase, int Seconds)[] deadlines)
    {
        var r = Rollout(nodes, canary: 0, maxUnavailable: nodes, maxFailures: maxFailures);
        foreach (var (phase, seconds) in deadlines) r.PhaseDeadlinesMs[phase] = seconds * 1000L;
        Decide(r);
        Decide(r);
        Assert.All(r.Nodes, n => Assert.Equal(RolloutNodeState.Running, n.State));
        return r;
    }

    private static List<RolloutNote> At(RolloutRecord r, double seconds, Func<string, bool>? online = null) =>
        RolloutEngine.Decide(r, online ?? (_ => true), T0.AddSeconds(seconds)).Notes;

    // The deadline used to apply only to offline nodes: an online node stuck in a phase was never failed.
    [Fact]
    public void An_online_node_past_its_phase_deadline_fails_counted_from_when_it_entered_the_phase()
    {
        var r = RunningOne(deadlines: ("stage-artifacts", 45));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "preflight"), T0.AddSeconds(1));
        // Entered 100 s after dispatch: timed from then, not from the dispatch.
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "stage-artifacts"), T0.AddSeconds(100));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "stage-artifacts"), T0.AddSeconds(120)); // next step, same phase
        Assert.Empty(At(r, 145));
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);

        var notes = At(r, 146.2);
        var n = r.Nodes[0];
        Assert.Equal(RolloutNodeState.Failed, n.State);
        Assert.Equal("phase stage-artifacts exceeded its deadline of 45s (running 47s)", n.Message);
        Assert.Equal(1, r.Failures);
        var failed = Assert.Single(notes, x => x.Reason == "NodeFailed");
        Assert.Equal("Warning", failed.Type);
        Assert.Equal("wave 0 (apply): phase stage-artifacts exceeded its deadline of 45s (running 47s)", failed.Message);
        // It counts against the error budget like any failure: max failures 1 pauses the rollout.
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Equal("error budget spent: 1 failure(s), max 1", r.StateReason);
        // Counted once, however many passes follow.
        At(r, 300);
        Assert.Equal(1, r.Failures);
    }

    [Fact]
    public void An_online_node_is_not_timed_in_a_phase_without_a_deadline_nor_before_its_first_phase()
    {
        var r = RunningOne(deadlines: ("stage-artifacts", 45));
        Assert.Empty(At(r, 3600));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "prepull-images"), T0.AddSeconds(3600));
        Assert.Empty(At(r, 3 * 3600));
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
    }

    [Fact]
    public void A_preparing_node_past_its_phase_deadline_fails_too()
    {
        var r = Rollout(2, canary: 1, maxFailures: 5, prepare: true);
        r.PhaseDeadlinesMs["prepull-images"] = 20_000;
        Decide(r);
        Decide(r);
        RolloutEngine.OnReport(r, "n02", PhaseReport(RolloutEngine.StagePrepare, "prepull-images"), T0.AddSeconds(5));
        At(r, 26);
        Assert.Equal(RolloutNodeState.Failed, r.Node("n02")!.State);
        Assert.Equal("phase prepull-images exceeded its deadline of 20s (running 21s)", r.Node("n02")!.Message);
        Assert.Equal(RolloutNodeState.Preparing, r.Node("n01")!.State);
    }

    // It used to count from the dispatch: a node that went offline late in a long run failed at once.
    [Fact]
    public void An_offline_node_fails_once_offline_longer_than_its_phase_deadline_counted_from_when_it_went_offline()
    {
        var r = RunningOne(deadlines: ("stage-artifacts", 45));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "stage-artifacts"), T0.AddSeconds(10));
        At(r, 40, _ => false); // seen offline from here, 30 s into the phase
        Assert.NotNull(r.Nodes[0].OfflineSince);
        Assert.Empty(At(r, 85, _ => false));
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
        At(r, 85.5, _ => false);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.Equal("offline for 46s in phase stage-artifacts, past its deadline of 45s", r.Nodes[0].Message);
        Assert.Equal(1, r.Failures);
    }

    [Fact]
    public void Back_online_the_offline_time_starts_again_from_zero()
    {
        var r = RunningOne(deadlines: ("stage-artifacts", 45));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "stage-artifacts"), T0);
        At(r, 1, _ => false);
        At(r, 40, _ => true);
        Assert.Null(r.Nodes[0].OfflineSince);
        // Online again it is timed in its phase: 45 s from T0 pass at 45 s.
        At(r, 44, _ => false);
        At(r, 44.5, _ => true);
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
        At(r, 45.5, _ => true);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.StartsWith("phase stage-artifacts exceeded", r.Nodes[0].Message);
    }

    [Theory]
    [InlineData(false, 1800, "offline for 30m1s before reporting a phase, past the node deadline of 30m (the default)")]
    [InlineData(true, 65, "offline for 1m6s in phase preflight, past the node deadline of 1m5s (the sum of the phase deadlines)")]
    public void An_offline_node_whose_phase_has_no_deadline_gets_the_sum_of_the_deadlines_or_30_minutes(bool deadlines, int limit, string message)
    {
        var r = deadlines ? RunningOne(deadlines: [("stage-artifacts", 45), ("prepull-images", 20)]) : RunningOne();
        if (deadlines) RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "preflight"), T0);
        At(r, 0, _ => false);
        At(r, limit, _ => false);
        Assert.Equal(RolloutNodeState.Running, r.Nodes[0].State);
        At(r, limit + 0.5, _ => false);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.Equal(message, r.Nodes[0].Message);
    }

    [Fact]
    public void A_late_success_of_a_node_failed_by_its_deadline_leaves_it_failed_and_is_recorded_once()
    {
        var r = RunningOne(maxFailures: 5, deadlines: ("stage-artifacts", 45));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "stage-artifacts"), T0);
        At(r, 46);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);

        var notes = RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Succeeded, "run-7"), T0.AddSeconds(60));
        var n = r.Nodes[0];
        Assert.Equal(RolloutNodeState.Failed, n.State);
        Assert.Equal(1, r.Failures);
        var late = Assert.Single(notes);
        Assert.Equal("NodeLateResult", late.Reason);
        Assert.Equal("Warning", late.Type);
        Assert.Contains("succeeded: the plan is applied on the node (run run-7)", late.Message);
        Assert.Contains("stays failed", late.Message);
        Assert.Equal("phase stage-artifacts exceeded its deadline of 45s (running 46s); its run later succeeded: the plan is applied on the node (run run-7)", n.Message);
        Assert.Equal("run-7", n.RunId);
        // The same outcome reported again (the agent repeats itself after a reconnect): nothing more.
        Assert.Empty(RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Succeeded, "run-7"), T0.AddSeconds(61)));
        Assert.Equal(1, r.Failures);
    }

    // A node failed by its deadline while applying used to free its max-unavailable place at once, though its agent
    // may still be restarting its services: the next node could then be taken down beside it.
    [Fact]
    public void A_node_failed_by_its_deadline_while_applying_keeps_its_place_until_its_run_ends()
    {
        var r = Rollout(3, canary: 0, maxUnavailable: 1, maxFailures: 5);
        r.PhaseDeadlinesMs["restart-services"] = 30_000;
        Decide(r);
        Decide(r);
        Assert.Equal([RolloutNodeState.Running, RolloutNodeState.Pending, RolloutNodeState.Pending], r.Nodes.Select(n => n.State));
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StageApply, "restart-services"), T0);
        At(r, 31);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.True(r.Nodes[0].HoldsSlot);
        At(r, 32);
        At(r, 600);
        Assert.Equal(RolloutNodeState.Pending, r.Nodes[1].State);

        // Its run ends (here: it failed and was undone): the place is free and the next node starts.
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Undone), T0.AddSeconds(601));
        Assert.False(r.Nodes[0].HoldsSlot);
        At(r, 602);
        Assert.Equal(RolloutNodeState.Running, r.Nodes[1].State);
    }

    // A node failed offline used to hold its place too, for a run that may not exist: the rollout stalled for good.
    [Fact]
    public void A_node_failed_by_its_deadline_while_offline_holds_no_place()
    {
        var r = Rollout(3, canary: 0, maxUnavailable: 1, maxFailures: 5);
        Decide(r);
        Decide(r);
        At(r, 1, _ => false);
        At(r, 1801 + 1, _ => false);
        Assert.Equal(RolloutNodeState.Failed, r.Nodes[0].State);
        Assert.False(r.Nodes[0].HoldsSlot);
        At(r, 1900);
        Assert.Equal(RolloutNodeState.Running, r.Nodes[1].State);
    }

    [Fact]
    public void A_preparing_node_failed_by_its_deadline_holds_no_place()
    {
        var r = Rollout(2, canary: 1, maxFailures: 5, prepare: true);
        r.PhaseDeadlinesMs["prepull-images"] = 20_000;
        Decide(r);
        Decide(r);
        RolloutEngine.OnReport(r, "n02", PhaseReport(RolloutEngine.StagePrepare, "prepull-images"), T0.AddSeconds(5));
        At(r, 26);
        Assert.Equal(RolloutNodeState.Failed, r.Node("n02")!.State);
        Assert.False(r.Node("n02")!.HoldsSlot);
    }

    [Fact]
    public void A_node_failed_by_its_own_run_records_no_late_result()
    {
        var r = RunningOne(maxFailures: 5);
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed, message: "boom"), T0);
        Assert.Empty(RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed, message: "boom"), T0));
        Assert.Equal("boom", r.Nodes[0].Message);
        Assert.Equal(1, r.Failures);
    }

    // The phase of the preparation used to stay on the node into its apply run, and would have been timed from then.
    [Fact]
    public void A_request_starts_the_node_in_no_phase_and_reports_of_another_stage_do_not_move_it()
    {
        var r = Rollout(1, canary: 0, prepare: true);
        r.PhaseDeadlinesMs["prepull-images"] = 20_000;
        Decide(r);
        Decide(r);
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StagePrepare, "prepull-images"), T0);
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StagePrepare, NodeFleet.Protocol.V1.RunState.Succeeded), T0.AddSeconds(15));
        RolloutEngine.Decide(r, _ => true, T0.AddSeconds(15)); // -> rolling
        RolloutEngine.Decide(r, _ => true, T0.AddSeconds(15)); // apply sent
        var n = r.Nodes[0];
        Assert.Equal(RolloutNodeState.Running, n.State);
        Assert.Equal("", n.Phase);
        Assert.Equal(T0.AddSeconds(15), n.PhaseStartedAt);
        // A late step report of the preparation is not the apply run's phase.
        RolloutEngine.OnReport(r, "n01", PhaseReport(RolloutEngine.StagePrepare, "prepull-images"), T0.AddSeconds(16));
        Assert.Equal("", n.Phase);
        At(r, 100);
        Assert.Equal(RolloutNodeState.Running, n.State);
    }

    [Fact]
    public void Accepted_failures_no_longer_count_against_the_budget_nor_hold_the_canary_wave()
    {
        var r = Rollout(3, canary: 1, maxUnavailable: 2, maxFailures: 1);
        Decide(r);
        Decide(r);
        RolloutEngine.OnReport(r, "n01", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed, message: "boom"), T0);
        Decide(r);
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.NotNull(RolloutEngine.FailedCanary(r));
        Assert.True(RolloutEngine.BudgetSpent(r));

        r.Nodes[0].FailureAccepted = true;
        r.AcceptedFailures = 1;
        RolloutEngine.Transition(r, RolloutState.Rolling, "resumed", T0);
        Assert.Null(RolloutEngine.FailedCanary(r));
        Assert.Equal(0, RolloutEngine.CountedFailures(r));
        Decide(r); // wave 0 is over: on to wave 1
        Assert.Equal(RolloutState.Rolling, r.State);
        Assert.Equal(1, r.CurrentWave);
        Assert.Equal(["n02", "n03"], Decide(r).Select(a => a.Node));
        // A new failure counts (once): the budget of 1 is spent again.
        RolloutEngine.OnReport(r, "n02", RunReport(RolloutEngine.StageApply, NodeFleet.Protocol.V1.RunState.Failed), T0);
        Decide(r);
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Equal(2, r.Failures);
        Assert.Equal("error budget spent: 1 failure(s), max 1 (not counting 1 accepted)", r.StateReason);
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
}
