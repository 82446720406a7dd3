using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Messaging;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Operator actions on rollouts over a real LiteDB store: what is refused, and that a refusal stores nothing.</summary>
public sealed class RolloutServiceTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private RolloutService _service = null!;
    private RolloutController _controller = null!;
    private PlanService _plans = null!;
    private Presence _presence = null!;

    public async Task InitializeAsync()
    {
        _presence = new Presence(_rig.Time);
        var messages = new NodeMessages(_rig.Store);
        _plans = new PlanService(_rig.Store, _rig.Registry, _presence, _rig.Events, _rig.Time, messages);
        _controller = new RolloutController(_rig.Store, _presence, _rig.Events, new RolloutMetrics(Prometheus.Metrics.NewCustomRegistry()),
            _rig.Time, NullLogger<RolloutController>.Instance, messages);
        _service = new RolloutService(_rig.Store, _plans, _rig.Registry, _controller, _rig.Events, _rig.Time);
        var token = await _rig.CreateTokenAsync();
        foreach (var name in new[] { "w1", "w2", "w3" }) (await _rig.JoinAsync(token, name, new Dictionary<string, string> { ["role"] = "worker" })).Key.Dispose();
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    /// <summary>The oldest message sent to <paramref name="node"/> through the outbox, taken out of it; null when none.</summary>
    private async Task<CoordinatorMessage?> SentAsync(string node)
    {
        var m = (await _rig.Store.Outbox.PendingAsync(node, 1)).FirstOrDefault();
        if (m is null) return null;
        await _rig.Store.Outbox.RemoveAsync(node, m.Id);
        return CoordinatorMessage.Parser.ParseFrom(m.Payload);
    }

    private static StartRolloutRequest Start(string selector, bool dryRun = false) => new()
    {
        Plan = PlanTestData.Load("valid-minimal.yaml").Plan, Selector = selector, DryRun = dryRun,
        Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "1", MaxFailures = "1" },
    };

    private async Task<string> RolloutInAsync(RolloutState state)
    {
        var r = await _service.StartAsync(Start("role=worker"));
        await _rig.Store.WriteAsync(s =>
        {
            var record = s.Rollouts.Get(r.Id)!;
            record.State = state;
            s.Rollouts.Update(record);
        });
        return r.Id;
    }

    // Resume used to move a PREPARING rollout to ROLLING, skipping the rest of the preparation, and answer OK.
    [Theory]
    [InlineData(RolloutState.Pending, "PENDING")]
    [InlineData(RolloutState.Preparing, "PREPARING")]
    [InlineData(RolloutState.Rolling, "ROLLING")]
    [InlineData(RolloutState.Succeeded, "SUCCEEDED")]
    [InlineData(RolloutState.Aborted, "ABORTED")]
    public async Task Resume_applies_only_to_a_paused_rollout(RolloutState state, string name)
    {
        var id = await RolloutInAsync(state);
        var e = await Edge.ThrowsAsync(() => _service.ResumeAsync(id, ""));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"rollout {id} is {name}, not paused", e.Status.Detail);
        Assert.Equal(state, _rig.Store.Rollouts.Get(id)!.State);
    }

    [Theory]
    [InlineData(RolloutState.Preparing, RolloutState.Preparing)]
    [InlineData(RolloutState.Rolling, RolloutState.Rolling)]
    public async Task Resume_of_a_paused_rollout_goes_back_to_what_the_pause_interrupted(RolloutState interrupted, RolloutState expected)
    {
        var id = await RolloutInAsync(interrupted);
        await _service.PauseAsync(id, "");
        await _service.ResumeAsync(id, "");
        Assert.Equal(expected, _rig.Store.Rollouts.Get(id)!.State);
    }

    [Fact]
    public async Task Refusals_name_states_as_the_cli_shows_them()
    {
        var id = await RolloutInAsync(RolloutState.Aborted);
        var pause = await Edge.ThrowsAsync(() => _service.PauseAsync(id, ""));
        Assert.Equal($"rollout {id} is ABORTED; it cannot become PAUSED", pause.Status.Detail);
        var abort = await Edge.ThrowsAsync(() => _service.AbortAsync(id, ""));
        Assert.Equal($"rollout {id} is already ABORTED", abort.Status.Detail);
        var rolling = await RolloutInAsync(RolloutState.Rolling);
        var rollback = await Edge.ThrowsAsync(() => _service.RollbackAsync(rolling, ""));
        Assert.Equal($"rollout {rolling} is ROLLING; it cannot become ROLLING_BACK; pause or abort it first", rollback.Status.Detail);
    }

    // A selector that matched nothing used to be stored as a rollout "SUCCEEDED: no nodes selected".
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_selector_that_matches_no_node_is_refused_and_nothing_is_stored(bool dryRun)
    {
        var e = await Edge.ThrowsAsync(() => _service.StartAsync(Start("nomatch=x", dryRun)));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("selector nomatch=x matches no node", e.Status.Detail);
        Assert.Empty(_rig.Store.Rollouts.ListAll());
        Assert.Empty(_rig.Store.Plans.List());
    }

    [Fact]
    public async Task A_selector_that_matches_nodes_starts_a_rollout()
    {
        var r = await _service.StartAsync(Start("role=worker"));
        Assert.Equal(["w1", "w2", "w3"], r.Nodes.Select(n => n.Name));
        Assert.Single(_rig.Store.Rollouts.ListAll());
        Assert.False(r.DryRun);
        Assert.NotEmpty(r.Id);
    }

    private async Task Edit(string id, Action<RolloutRecord> edit) => await _rig.Store.WriteAsync(s =>
    {
        var record = s.Rollouts.Get(id)!;
        edit(record);
        s.Rollouts.Update(record);
    });

    private RolloutRecord Stored(string id) => _rig.Store.Rollouts.Get(id)!;

    /// <summary>A rollout whose canary w1 failed ("kubelet rejected --max-pods=abc"), paused by the controller as it would be.</summary>
    private async Task<string> PausedByTheCanaryAsync()
    {
        var r = await _service.StartAsync(Start("role=worker"));
        await Edit(r.Id, x =>
        {
            x.State = RolloutState.Rolling;
            x.CurrentWave = 0;
            var canary = x.Node("w1")!;
            canary.State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Failed;
            canary.Message = "kubelet-config/write-dropin: kubelet rejected --max-pods=abc\nsecond line";
            x.Failures = 1;
        });
        await _controller.RunOnceAsync(CancellationToken.None);
        Assert.Equal(RolloutState.Paused, Stored(r.Id).State);
        return r.Id;
    }

    // Resume used to flip PAUSED to ROLLING, the controller paused it again at once for the same failure, and the
    // budget shown went from 1/1 to 1/2.
    [Fact]
    public async Task Resume_of_a_rollout_held_by_its_failed_canary_is_refused_saying_why_and_what_to_do()
    {
        var id = await PausedByTheCanaryAsync();
        var events = _rig.Store.Events.Newest(new EventQuery(1000)).Count;
        var e = await Edge.ThrowsAsync(() => _service.ResumeAsync(id, ""));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"rollout {id} is held by its failures: its canary failed (1 failure(s) counted, max 1): " +
            "w1 (wave 0): kubelet-config/write-dropin: kubelet rejected --max-pods=abc. Resumed as it is, it would pause again at once. " +
            $"Fix the cause, then `nodefleet rollout resume {id} --accept-failures` goes on past the failed node(s) (they stay failed and are " +
            $"not retried; only new failures count against the budget), or `nodefleet rollout rollback {id}` undoes it, or `abort` stops it",
            e.Status.Detail);
        var r = Stored(id);
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Equal((1, 1, 0), (r.Failures, r.MaxFailures, r.AcceptedFailures));
        Assert.Equal(events, _rig.Store.Events.Newest(new EventQuery(1000)).Count);
    }

    [Fact]
    public async Task Resume_of_a_rollout_whose_error_budget_is_spent_is_refused_too()
    {
        var r = await _service.StartAsync(Start("role=worker"));
        await Edit(r.Id, x =>
        {
            x.State = RolloutState.Paused;
            x.ResumeTo = RolloutState.Rolling;
            x.CurrentWave = 1;
            x.Nodes[0].State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Succeeded;
            x.Nodes[1].State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Failed;
            x.Nodes[1].Message = "boom";
            x.Failures = 1;
        });
        var e = await Edge.ThrowsAsync(() => _service.ResumeAsync(r.Id, ""));
        Assert.StartsWith($"rollout {r.Id} is held by its failures: its error budget is spent (1 failure(s) counted, max 1): w2 (wave 1): boom.", e.Status.Detail);
        Assert.Equal(RolloutState.Paused, Stored(r.Id).State);
    }

    [Fact]
    public async Task Resume_with_accept_failures_goes_on_past_the_failed_canary_and_counts_each_failure_once()
    {
        var id = await PausedByTheCanaryAsync();
        var resumed = await _service.ResumeAsync(id, "", acceptFailures: true);
        Assert.Equal(NodeFleet.Protocol.V1.RolloutState.Rolling, resumed.State);
        Assert.Equal((1, 1, 1), (resumed.Failures, resumed.MaxFailures, resumed.AcceptedFailures));
        Assert.True(resumed.Nodes.Single(n => n.Name == "w1").FailureAccepted);
        var accepted = Assert.Single(_rig.Store.Events.Newest(new EventQuery(1000)), x => x.Reason == "FailuresAccepted");
        Assert.Equal("the operator accepted 1 failure(s), which stay failed: w1; error budget 0/1 used", accepted.Message);

        // The controller does not pause it again: wave 0 is over, the rollout moves on.
        await _controller.RunOnceAsync(CancellationToken.None);
        await _controller.RunOnceAsync(CancellationToken.None);
        var r = Stored(id);
        Assert.Equal(RolloutState.Rolling, r.State);
        Assert.Equal(1, r.CurrentWave);
        Assert.Equal(NodeFleet.Coordinator.Rollouts.RolloutNodeState.Failed, r.Node("w1")!.State);
        Assert.Equal((1, 1, 1), (r.Failures, r.MaxFailures, r.AcceptedFailures));

        // Pausing and resuming again needs no flag (nothing new failed), and accepts nothing twice.
        await _service.PauseAsync(id, "");
        await _service.ResumeAsync(id, "", acceptFailures: true);
        Assert.Equal((1, 1), (Stored(id).Failures, Stored(id).AcceptedFailures));
        Assert.Single(_rig.Store.Events.Newest(new EventQuery(1000)), x => x.Reason == "FailuresAccepted");
    }

    [Fact]
    public async Task The_controller_starts_the_canary_in_its_first_pass_and_sees_a_change_another_coordinator_stored()
    {
        foreach (var n in new[] { "w1", "w2", "w3" }) _presence.Open(n);
        var request = Start("role=worker");
        request.Strategy.NoPrepareAhead = true;
        var r = await _service.StartAsync(request);
        // One pass: pending → rolling, and the canary sent its request, not a pass later.
        await _controller.RunOnceAsync(CancellationToken.None);
        Assert.Equal((RolloutState.Rolling, NodeFleet.Coordinator.Rollouts.RolloutNodeState.Running), (Stored(r.Id).State, Stored(r.Id).Node("w1")!.State));
        Assert.NotNull((await SentAsync("w1"))?.ApplyPlan);

        // The canary's success, applied to the rollout the controller holds in memory: wave 1 starts in the same pass.
        _controller.OnReport("w1", new StepReport { RolloutId = r.Id, Stage = RolloutEngine.StageApply, RunId = "run-1", RunState = RunState.Succeeded });
        await _controller.RunOnceAsync(CancellationToken.None);
        Assert.Equal((1, NodeFleet.Coordinator.Rollouts.RolloutNodeState.Running), (Stored(r.Id).CurrentWave, Stored(r.Id).Node("w2")!.State));
        Assert.NotNull(await SentAsync("w2"));

        // Another coordinator pauses it (a write to the store this controller did not make): read again, nothing more starts.
        await Edit(r.Id, x => { x.State = RolloutState.Paused; x.ResumeTo = RolloutState.Rolling; });
        _controller.OnReport("w2", new StepReport { RolloutId = r.Id, Stage = RolloutEngine.StageApply, RunId = "run-2", RunState = RunState.Succeeded });
        await _controller.RunOnceAsync(CancellationToken.None);
        var paused = Stored(r.Id);
        Assert.Equal((RolloutState.Paused, NodeFleet.Coordinator.Rollouts.RolloutNodeState.Succeeded), (paused.State, paused.Node("w2")!.State));
        Assert.Equal(NodeFleet.Coordinator.Rollouts.RolloutNodeState.Pending, paused.Node("w3")!.State);
        Assert.Null(await SentAsync("w3"));
    }

    // A dry run used to list the waves (exit 0) where the real start was refused.
    [Fact]
    public async Task A_dry_run_is_refused_like_a_real_start_when_a_node_is_in_an_active_rollout()
    {
        var first = await _service.StartAsync(Start("role=worker"));
        var plans = _rig.Store.Plans.List().Count;
        foreach (var dryRun in new[] { true, false })
        {
            var e = await Edge.ThrowsAsync(() => _service.StartAsync(Start("role=worker", dryRun)));
            Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
            Assert.Equal($"node(s) already in an active rollout: w1 ({first.Id}), w2 ({first.Id}), w3 ({first.Id})", e.Status.Detail);
        }
        Assert.Single(_rig.Store.Rollouts.ListAll());
        Assert.Equal(plans, _rig.Store.Plans.List().Count);
    }

    [Fact]
    public async Task A_dry_run_stores_nothing_and_invents_no_id_or_generation()
    {
        var r = await _service.StartAsync(Start("role=worker", dryRun: true));
        Assert.True(r.DryRun);
        Assert.Equal("", r.Id);
        Assert.Equal(0, r.Generation);
        Assert.Null(r.CreatedAt);
        Assert.Equal(["w1", "w2", "w3"], r.Nodes.Select(n => n.Name));
        Assert.Empty(_rig.Store.Rollouts.ListAll());
        Assert.Empty(_rig.Store.Plans.List());
    }

    private static ApplyPlanRequest Apply(string node, bool force = false) =>
        new() { Plan = PlanTestData.Load("valid-minimal.yaml").Plan, Node = node, Force = force };

    // Paused while still preparing, a rollout whose canary failed its preparation was refused as "would pause again at
    // once", though the canary only holds wave 0: preparing goes on.
    [Fact]
    public void A_failed_canary_does_not_hold_a_rollout_that_is_still_preparing()
    {
        var r = new RolloutRecord { Id = "r1", MaxFailures = 3, Canary = 1, CurrentWave = -1, State = RolloutState.Paused, ResumeTo = RolloutState.Preparing };
        r.Nodes.Add(new RolloutNodeRecord { Name = "w1", Wave = 0, State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Failed, Message = "boom" });
        r.Nodes.Add(new RolloutNodeRecord { Name = "w2", Wave = 1, State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Pending });
        r.Failures = 1;
        Assert.Null(RolloutService.HeldByFailures(r));
        r.CurrentWave = 0;
        Assert.StartsWith("rollout r1 is held by its failures: its canary failed", RolloutService.HeldByFailures(r));
    }

    // `plan apply --node N` to a node busy with another plan used to wait silently behind it and run after the CLI gave up.
    [Fact]
    public async Task A_plan_applied_to_a_node_still_running_another_is_refused_unless_forced()
    {
        var session = _presence.Open("w1");
        var joinedAt = _rig.Store.Nodes.Get("w1")!;
        joinedAt.JoinedAt = new DateTime(2026, 11, 26, 2, 0, 0, DateTimeKind.Utc);
        await _rig.Store.WriteAsync(s => s.Nodes.Update(joinedAt));
        await _rig.Store.WriteAsync(s => s.Runs.Insert(new RunHistoryRecord
        {
            Id = "run-1", Node = "w1", PlanName = "upgrade", Generation = 3, State = (int)RunState.Running,
            StartedAt = new DateTime(2026, 11, 26, 3, 0, 0, DateTimeKind.Utc),
            Steps = [new StepHistoryRecord { Phase = "stage-artifacts", Step = "download-kubelet", State = (int)StepState.Running }],
        }));
        var e = await Edge.ThrowsAsync(() => _plans.ApplyAsync(Apply("w1")));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("node w1 is still running plan upgrade generation 3 (run run-1, in stage-artifacts, started 2026-11-26 03:00:00 UTC); " +
            "the agent runs one plan at a time, so this one would wait behind it: wait for it to end (`nodefleet node describe w1`), " +
            "or pass --force to queue it", e.Status.Detail);
        Assert.Null(await SentAsync("w1"));

        await _plans.ApplyAsync(Apply("w1", force: true));
        Assert.NotNull(await SentAsync("w1"));

        // A newer finished run, or a run from before the node joined (again), holds nothing back.
        var node = _rig.Store.Nodes.Get("w1")!;
        var joined = node.JoinedAt;
        node.JoinedAt = new DateTime(2026, 11, 26, 4, 0, 0, DateTimeKind.Utc);
        await _rig.Store.WriteAsync(s => s.Nodes.Update(node));
        await _plans.ApplyAsync(Apply("w1"));
        Assert.NotNull(await SentAsync("w1"));
        node.JoinedAt = joined;
        await _rig.Store.WriteAsync(s => s.Nodes.Update(node));
        Assert.Equal(StatusCode.FailedPrecondition, (await Edge.ThrowsAsync(() => _plans.ApplyAsync(Apply("w1")))).StatusCode);
        await _rig.Store.WriteAsync(s => s.Runs.Insert(new RunHistoryRecord
        {
            Id = "w1:run-2", RunId = "run-2", Node = "w1", PlanName = "upgrade", Generation = 4, State = (int)RunState.Succeeded,
            StartedAt = new DateTime(2026, 11, 26, 3, 30, 0, DateTimeKind.Utc),
        }));
        await _plans.ApplyAsync(Apply("w1"));
        Assert.NotNull(await SentAsync("w1"));
        await _rig.Store.WriteAsync(s => s.Runs.Delete("w1:run-2"));

        var run = _rig.Store.Runs.Get("run-1")!;
        run.State = (int)RunState.Failed;
        await _rig.Store.WriteAsync(s => s.Runs.Update(run));
        await _plans.ApplyAsync(Apply("w1"));
        Assert.NotNull(await SentAsync("w1"));
    }

    // `plan apply --node N` used to send the plan to a node of an active rollout, bypassing its waves and budgets.
    [Fact]
    public async Task A_plan_applied_directly_to_a_node_of_an_active_rollout_is_refused_unless_forced()
    {
        var session = _presence.Open("w2");
        var r = await _service.StartAsync(Start("role=worker"));
        await Edit(r.Id, x => x.State = RolloutState.Paused);
        var e = await Edge.ThrowsAsync(() => _plans.ApplyAsync(Apply("w2")));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"node w2 is in rollout {r.Id} (PAUSED); a plan applied to it directly would bypass the rollout's waves and budgets: " +
            "pause or abort the rollout, or wait for it to end, or pass --force to apply it anyway", e.Status.Detail);
        Assert.Null(await SentAsync("w2"));

        await _plans.ApplyAsync(Apply("w2", force: true));
        var sent = await SentAsync("w2");
        Assert.NotNull(sent?.ApplyPlan);
        var warning = Assert.Single(_rig.Store.Events.Newest(new EventQuery(1000)), x => x.Reason == "PlanAppliedOutsideRollout");
        Assert.Equal(("Warning", "w2", r.Id), (warning.Type, warning.Node, warning.Rollout));

        // Once the rollout is over, the node takes plans directly again.
        await _service.AbortAsync(r.Id, "");
        await _plans.ApplyAsync(Apply("w2"));
        Assert.NotNull(await SentAsync("w2"));
    }
}
