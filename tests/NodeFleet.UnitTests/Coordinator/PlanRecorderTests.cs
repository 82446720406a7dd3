using Google.Protobuf.WellKnownTypes;
using LiteDB;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;
using Prometheus;
using RunState = NodeFleet.Protocol.V1.RunState;
using StepState = NodeFleet.Protocol.V1.StepState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// Agents' reports as the coordinator records them: runs with their stage, the events they cause, and what an undo
/// reverted. The reports are the ones a real agent sends (OutboxObserver), in its order.
/// </summary>
public sealed class PlanRecorderTests : IAsyncLifetime
{
    private const string Node = "w1";
    private const string RunId = "upgrade-1.31-20300101120000-a1b2c3";
    private const string FailedMessage =
        "error execution phase restart-services/restart-kubelet: systemctl restart kubelet exited 1: Job for kubelet.service failed.";

    private readonly CoordinatorRig _rig = new();
    private PlanRecorder _recorder = null!;
    private ulong _sequence;

    public async Task InitializeAsync()
    {
        await _rig.Store.WriteAsync(s => s.Nodes.Insert(new NodeRecord { Name = Node, Phase = "" }));
        _recorder = NewRecorder();
    }

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private PlanRecorder NewRecorder() => new(_rig.Store, _rig.Events, new CoordinatorMetrics(Metrics.NewCustomRegistry()), _rig.Time,
        NullLogger<PlanRecorder>.Instance);

    private StepReport Report(RunState runState, string stage, string rolloutId, string message = "") => new()
    {
        Sequence = ++_sequence, RunId = RunId, PlanName = "upgrade-1.31", Generation = 4, RunState = runState, Message = message,
        Time = Timestamp.FromDateTimeOffset(_rig.Time.Now), StartedAt = Timestamp.FromDateTimeOffset(_rig.Time.Now),
        Stage = stage, RolloutId = rolloutId,
    };

    private Task RunAsync(RunState state, string stage = "", string rolloutId = "", string message = "") =>
        _recorder.RecordAsync(Node, Report(state, stage, rolloutId, message));

    /// <summary>A step that runs and then ends in <paramref name="state"/>, reported as the agent does: two reports.</summary>
    private async Task StepAsync(string phase, string step, StepState state, bool changed = false, string stage = "", string rolloutId = "",
        RunState runState = RunState.Running, string message = "applied")
    {
        var running = Report(RunState.Running, stage, rolloutId);
        running.Phase = phase;
        running.Step = step;
        running.State = StepState.Running;
        await _recorder.RecordAsync(Node, running);
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        var ended = Report(runState, stage, rolloutId, message);
        ended.Phase = phase;
        ended.Step = step;
        ended.State = state;
        ended.Changed = changed;
        await _recorder.RecordAsync(Node, ended);
    }

    private List<EventRecord> Events() => _rig.Store.Events.Newest(new EventQuery(1000, Node: Node)).ToList();

    private RunHistory Run() => Assert.Single(_recorder.History(Node, 5));

    private Dictionary<string, StepState> Steps() => Run().Steps.ToDictionary(s => $"{s.Phase}/{s.Step}", s => s.State);

    private string NodePhase() => _rig.Store.Nodes.Get(Node)!.Phase;

    /// <summary>A plan that changed the runtime's config and the kubelet's drop-in, then failed restarting the kubelet.</summary>
    private async Task FailedAtRestartKubeletAsync(string stage = "", string rolloutId = "")
    {
        await RunAsync(RunState.Running, stage, rolloutId);
        await StepAsync("preflight", "checks", StepState.Succeeded, stage: stage, rolloutId: rolloutId, message: "all checks passed");
        await StepAsync("stage-artifacts", "download-kubelet", StepState.Succeeded, changed: true, stage: stage, rolloutId: rolloutId);
        await StepAsync("containerd-config", "config-toml", StepState.Succeeded, changed: true, stage: stage, rolloutId: rolloutId);
        await StepAsync("kubelet-config", "drop-in", StepState.Succeeded, changed: true, stage: stage, rolloutId: rolloutId);
        await StepAsync("kubelet-config", "daemon-reload", StepState.Succeeded, changed: false, stage: stage, rolloutId: rolloutId,
            message: "satisfied");
        await StepAsync("restart-services", "restart-containerd", StepState.Succeeded, changed: true, stage: stage, rolloutId: rolloutId);
        // The failed step is reported with the run already undoing; the undo itself reports no step.
        await StepAsync("restart-services", "restart-kubelet", StepState.Failed, stage: stage, rolloutId: rolloutId,
            runState: RunState.UndoRunning, message: FailedMessage);
    }

    [Fact]
    public async Task A_prepare_run_that_succeeded_is_prepared_not_applied_and_says_what_ran()
    {
        await RunAsync(RunState.Running, "prepare", "r1");
        await StepAsync("preflight", "checks", StepState.Succeeded, stage: "prepare", rolloutId: "r1");
        await StepAsync("stage-artifacts", "download-kubelet", StepState.Succeeded, changed: true, stage: "prepare", rolloutId: "r1");
        await RunAsync(RunState.Succeeded, "prepare", "r1");

        var events = Events();
        Assert.Equal(["PlanStarted", "PlanPrepared"], events.Select(e => e.Reason));
        Assert.All(events, e => Assert.Equal("Normal", e.Type));
        Assert.All(events, e => Assert.Equal("r1", e.Rollout));
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId}, prepare): the non-disruptive phases only; " +
            "the rest of the plan runs in the node's wave of rollout r1", events[0].Message);
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId}, prepare) prepared, not applied: ran preflight, stage-artifacts; " +
            "the rest of the plan runs in the node's wave of rollout r1", events[1].Message);

        var run = Run();
        Assert.Equal("prepare", run.Stage);
        Assert.Equal("r1", run.RolloutId);
        Assert.Equal(RunState.Succeeded, run.State);
        // Nothing on the node says the plan is there: the phase is idle, as before the run.
        Assert.Equal("", NodePhase());
    }

    [Fact]
    public async Task A_plan_applied_outside_a_rollout_is_the_apply_stage()
    {
        await RunAsync(RunState.Running);
        await StepAsync("kubelet-config", "drop-in", StepState.Succeeded, changed: true);
        await RunAsync(RunState.Succeeded);

        Assert.Equal(["PlanStarted", "PlanApplied"], Events().Select(e => e.Reason));
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId})", Events()[1].Message);
        var run = Run();
        Assert.Equal("apply", run.Stage);
        Assert.Equal("", run.RolloutId);
        Assert.Equal(StepState.Succeeded, run.Steps.Single().State);
    }

    [Fact]
    public async Task A_failed_run_the_agent_undid_is_undone_with_its_reverted_steps_and_why_it_failed()
    {
        await FailedAtRestartKubeletAsync("apply", "r1");
        Assert.Equal(RunState.UndoRunning, Run().State);
        Assert.Equal("restart-services (failed)", NodePhase());

        // The agent's last word on the run: FAILED with the run's error, once its backups are restored.
        await RunAsync(RunState.Failed, "apply", "r1", FailedMessage);

        var run = Run();
        Assert.Equal(RunState.Undone, run.State);
        Assert.Equal(FailedMessage, run.Error);
        Assert.NotNull(run.FinishedAt);
        Assert.Equal(new Dictionary<string, StepState>
        {
            ["preflight/checks"] = StepState.Succeeded,
            // Downloaded into the cache: kept by the undo.
            ["stage-artifacts/download-kubelet"] = StepState.Succeeded,
            ["containerd-config/config-toml"] = StepState.Undone,
            ["kubelet-config/drop-in"] = StepState.Undone,
            // Nothing to revert: it changed nothing.
            ["kubelet-config/daemon-reload"] = StepState.Succeeded,
            ["restart-services/restart-containerd"] = StepState.Undone,
            ["restart-services/restart-kubelet"] = StepState.Failed,
        }, Steps());

        var events = Events();
        Assert.Equal(["PlanStarted", "StepFailed", "PlanUndone"], events.Select(e => e.Reason));
        var undone = events[^1];
        Assert.Equal("Warning", undone.Type);
        Assert.Equal("r1", undone.Rollout);
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId}) failed and was undone (reverted containerd-config/config-toml, " +
            $"kubelet-config/drop-in, restart-services/restart-containerd): {FailedMessage}", undone.Message);
        // The node is back as it was, but the plan did not apply: on-call still sees where it failed.
        Assert.Equal("restart-services (failed)", NodePhase());
    }

    [Fact]
    public async Task The_same_undone_run_reported_again_stays_undone()
    {
        await FailedAtRestartKubeletAsync("apply", "r1");
        await RunAsync(RunState.Failed, "apply", "r1", FailedMessage);
        // Asked again after a coordinator restart, the agent reports the finished run again, as it is in its journal.
        await RunAsync(RunState.Failed, "apply", "r1", FailedMessage);

        Assert.Equal(RunState.Undone, Run().State);
        Assert.Equal(3, Steps().Values.Count(s => s == StepState.Undone));
        Assert.Equal(["PlanUndone", "PlanUndone"], Events().Select(e => e.Reason).Where(r => r.StartsWith("Plan", StringComparison.Ordinal) && r != "PlanStarted"));

        // Also once the recorder is new (a coordinator restart), reading the run back from the database.
        _recorder = NewRecorder();
        await RunAsync(RunState.Failed, "apply", "r1", FailedMessage);
        Assert.Equal(RunState.Undone, Run().State);
    }

    [Fact]
    public async Task An_incomplete_undo_stays_failed_and_says_what_it_reverted()
    {
        await FailedAtRestartKubeletAsync();
        var error = $"{FailedMessage}; undo incomplete: systemctl daemon-reload exited 1: Failed to connect to bus";
        await RunAsync(RunState.Failed, message: error);

        var run = Run();
        Assert.Equal(RunState.Failed, run.State);
        Assert.Equal(error, run.Error);
        // The files were restored before the service manager failed.
        Assert.Equal(StepState.Undone, Steps()["kubelet-config/drop-in"]);
        var failed = Events()[^1];
        Assert.Equal(("Warning", "PlanFailed"), (failed.Type, failed.Reason));
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId}), partly undone (reverted containerd-config/config-toml, " +
            $"kubelet-config/drop-in, restart-services/restart-containerd): {error}", failed.Message);
        Assert.Equal("restart-services (failed)", NodePhase());
    }

    [Fact]
    public async Task A_run_that_failed_before_changing_anything_stays_failed()
    {
        const string preflight = "error execution phase preflight/checks: preflight found errors: [ERROR Swap]: swap is on";
        await RunAsync(RunState.Running, "prepare", "r1");
        await StepAsync("preflight", "checks", StepState.Failed, stage: "prepare", rolloutId: "r1", runState: RunState.UndoRunning,
            message: preflight);
        await RunAsync(RunState.Failed, "prepare", "r1", preflight);

        var run = Run();
        Assert.Equal(RunState.Failed, run.State);
        Assert.Equal("prepare", run.Stage);
        var events = Events();
        Assert.Equal(["PlanStarted", "StepFailed", "PlanFailed"], events.Select(e => e.Reason));
        Assert.Equal($"plan upgrade-1.31 generation 4 (run {RunId}, prepare): {preflight}", events[^1].Message);
        Assert.Equal("preflight (failed)", NodePhase());
    }

    [Fact]
    public async Task A_rollback_of_a_run_that_succeeded_marks_its_changes_undone_in_a_normal_event()
    {
        await RunAsync(RunState.Running, "apply", "r1");
        await StepAsync("containerd-config", "config-toml", StepState.Succeeded, changed: true, stage: "apply", rolloutId: "r1");
        await StepAsync("kubelet-config", "drop-in", StepState.Succeeded, changed: false, stage: "apply", rolloutId: "r1", message: "satisfied");
        await RunAsync(RunState.Succeeded, "apply", "r1");
        await RunAsync(RunState.UndoRunning, "apply", "r1");
        Assert.Equal("kubelet-config (undoing)", NodePhase());
        await RunAsync(RunState.Undone, "apply", "r1");

        var run = Run();
        Assert.Equal(RunState.Undone, run.State);
        Assert.Equal("", run.Error);
        Assert.Equal(StepState.Undone, Steps()["containerd-config/config-toml"]);
        Assert.Equal(StepState.Succeeded, Steps()["kubelet-config/drop-in"]);
        var events = Events();
        Assert.Equal(["PlanStarted", "PlanApplied", "PlanUndoing", "PlanUndone"], events.Select(e => e.Reason));
        Assert.Equal(("Normal", $"plan upgrade-1.31 generation 4 (run {RunId}) undone (reverted containerd-config/config-toml)"),
            (events[^1].Type, events[^1].Message));
        Assert.Equal("", NodePhase());
    }

    [Fact]
    public async Task A_run_stored_before_stages_were_kept_reads_back_with_no_stage_and_takes_new_reports()
    {
        // As an older coordinator wrote it: no Stage, no RolloutId.
        await _rig.Store.DisposeAsync();
        using (var db = new LiteDatabase(new ConnectionString { Filename = _rig.DatabasePath, Connection = ConnectionType.Direct }))
            db.GetCollection("runs").Insert(new BsonDocument
        {
            ["_id"] = RunId, ["Node"] = Node, ["PlanName"] = "upgrade-1.31", ["Generation"] = 4L,
            ["State"] = (int)RunState.Succeeded, ["StartedAt"] = new DateTime(2029, 12, 31, 0, 0, 0, DateTimeKind.Utc),
            ["FinishedAt"] = new DateTime(2029, 12, 31, 0, 1, 0, DateTimeKind.Utc), ["Error"] = "",
            ["Steps"] = new BsonArray
            {
                new BsonDocument
                {
                    ["Phase"] = "kubelet-config", ["Step"] = "drop-in", ["State"] = (int)StepState.Succeeded, ["Message"] = "applied",
                    ["OutputTail"] = "", ["Changed"] = true,
                },
            },
        });
        await _rig.ReopenAsync();
        _recorder = NewRecorder();

        var run = Run();
        Assert.Equal("", run.Stage);
        Assert.Equal("", run.RolloutId);
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(StepState.Succeeded, run.Steps.Single().State);

        // A rollback of it, recorded by this coordinator.
        await RunAsync(RunState.UndoRunning, "apply", "r1");
        await RunAsync(RunState.Undone, "apply", "r1");
        run = Run();
        Assert.Equal(("apply", RunState.Undone, StepState.Undone), (run.Stage, run.State, run.Steps.Single().State));
    }

    // Run ids are made by each agent: two nodes starting the same plan in the same second may make the same one.
    [Fact]
    public async Task Two_nodes_with_the_same_run_id_keep_their_own_runs()
    {
        await _rig.Store.WriteAsync(s => s.Nodes.Insert(new NodeRecord { Name = "w2", Phase = "" }));
        await RunAsync(RunState.Running);
        var other = Report(RunState.Running, "", "");
        other.Sequence = 1;
        await _recorder.RecordAsync("w2", other);
        var failed = Report(RunState.Failed, "", "", "w2's own failure");
        failed.Sequence = 2;
        await _recorder.RecordAsync("w2", failed);

        Assert.Equal((RunId, RunState.Running), (Run().RunId, Run().State));
        var theirs = Assert.Single(_recorder.History("w2", 5));
        Assert.Equal((RunId, RunState.Failed, "w2's own failure"), (theirs.RunId, theirs.State, theirs.Error));
        Assert.Equal(2, _rig.Store.Runs.ListByNode(Node, 10).Count + _rig.Store.Runs.ListByNode("w2", 10).Count);
    }

    [Fact]
    public async Task A_run_recorded_under_its_bare_id_is_found_and_another_nodes_is_not_touched()
    {
        await _rig.Store.WriteAsync(s =>
        {
            s.Runs.Insert(new RunHistoryRecord { Id = RunId, Node = Node, PlanName = "upgrade-1.31", Generation = 4, State = (int)RunState.Running });
            s.Runs.Insert(new RunHistoryRecord { Id = "shared-id", Node = "w9", PlanName = "x", State = (int)RunState.Running });
        });
        await RunAsync(RunState.Succeeded);
        Assert.Equal((RunId, RunState.Succeeded), (Run().RunId, Run().State));
        Assert.Equal(2, _rig.Store.Runs.ListByNode(Node, 10).Count + _rig.Store.Runs.ListByNode("w9", 10).Count);

        var report = Report(RunState.Failed, "", "", "not w9's");
        report.RunId = "shared-id";
        await _recorder.RecordAsync(Node, report);
        Assert.Equal((int)RunState.Running, _rig.Store.Runs.Get("shared-id")!.State);
    }

    private StepReport Numbered(ulong sequence, string epoch, RunState state, string runId)
    {
        var r = Report(state, "", "");
        r.Sequence = sequence;
        r.JournalEpoch = epoch;
        r.RunId = runId;
        return r;
    }

    [Fact]
    public async Task Within_one_journal_epoch_a_report_at_or_below_the_last_sequence_is_a_duplicate()
    {
        Assert.True(await _recorder.RecordAsync(Node, Numbered(1, "aaaa", RunState.Running, RunId)));
        Assert.True(await _recorder.RecordAsync(Node, Numbered(2, "aaaa", RunState.Succeeded, RunId)));
        Assert.False(await _recorder.RecordAsync(Node, Numbered(2, "aaaa", RunState.Failed, RunId)));
        Assert.Equal(RunState.Succeeded, Run().State);
    }

    [Fact]
    public async Task A_new_journal_epoch_is_recorded_from_sequence_one_and_then_counts_on_its_own()
    {
        await _recorder.RecordAsync(Node, Numbered(40, "aaaa", RunState.Running, RunId));
        await _recorder.RecordAsync(Node, Numbered(41, "aaaa", RunState.Succeeded, RunId));

        // The journal was moved aside: the new one numbers from 1.
        Assert.True(await _recorder.RecordAsync(Node, Numbered(1, "bbbb", RunState.Running, "second-run")));
        Assert.True(await _recorder.RecordAsync(Node, Numbered(2, "bbbb", RunState.Succeeded, "second-run")));
        Assert.False(await _recorder.RecordAsync(Node, Numbered(1, "bbbb", RunState.Running, "second-run")));
        var node = _rig.Store.Nodes.Get(Node)!;
        Assert.Equal((2L, "bbbb"), (node.LastReportSequence, node.ReportEpoch));
        Assert.Equal(RunState.Succeeded, _recorder.History(Node, 5).Single(r => r.RunId == "second-run").State);
    }

    [Fact]
    public async Task An_agent_that_starts_sending_its_epoch_continues_its_numbering()
    {
        await _recorder.RecordAsync(Node, Numbered(7, "", RunState.Running, RunId));
        // The same journal, now with an epoch (the agent was upgraded): sequence 7 was recorded, so it is a duplicate.
        Assert.False(await _recorder.RecordAsync(Node, Numbered(7, "cccc", RunState.Running, RunId)));
        Assert.True(await _recorder.RecordAsync(Node, Numbered(8, "cccc", RunState.Succeeded, RunId)));
        Assert.Equal("cccc", _rig.Store.Nodes.Get(Node)!.ReportEpoch);
        // An older agent without epochs keeps the numbering too.
        Assert.False(await _recorder.RecordAsync(Node, Numbered(8, "", RunState.Failed, RunId)));
    }
}
