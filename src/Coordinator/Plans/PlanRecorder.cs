using Google.Protobuf.WellKnownTypes;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Store;
using NodeFleet.Net;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Plans;

/// <summary>Records agents' step reports exactly once (by sequence) and keeps each node's current phase.</summary>
public sealed partial class PlanRecorder(ICoordinatorStore store, EventBus events, CoordinatorMetrics metrics, TimeProvider time,
    ILogger<PlanRecorder> log)
{
    /// <summary>
    /// Runs still in progress, as last written, so that each report of a run does not read it back and map it again; and
    /// each node's progress as last committed, so that a report does not read it first (its write is a compare-and-swap
    /// of it). Touched by the store's writers (several at once on PostgreSQL, each with other nodes) under
    /// <see cref="_cached"/>. A run or progress that another write changed meanwhile makes the write conflict: both are
    /// forgotten, and the write is made again from what is stored.
    /// </summary>
    private readonly Dictionary<string, RunHistoryRecord> _openRuns = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProgress> _progress = new(StringComparer.Ordinal);
    private readonly Lock _cached = new();
    private const int MaxOpenRuns = 50_000;

    /// <summary>What one recorded report changed, for the logs and metrics that follow the commit.</summary>
    private sealed record Recorded(string? Reason, string Message, TimeSpan? StepDuration)
    {
        /// <summary>Set when the report started a new journal epoch of the node: the epoch it replaced.</summary>
        public string? EpochReplaced { get; init; }
    }

    /// <summary>A report not recorded because one at or above its sequence was, in the same journal epoch.</summary>
    private sealed record Duplicate(long LastRecorded, string Epoch);

    /// <summary>Persists the report unless it is a duplicate (false); either way it may then be acknowledged.</summary>
    /// <param name="alsoWhenRecorded">More to write in the same transaction when the report is recorded (forwarding it).</param>
    public async Task<bool> RecordAsync(string node, StepReport report, Action<IStoreWriter>? alsoWhenRecorded = null) =>
        (await RecordBatchAsync(node, [report], [alsoWhenRecorded])).Recorded[0];

    /// <summary>What <see cref="RecordBatchAsync"/> came to.</summary>
    /// <param name="Recorded">Per report of the batch handled, in order: recorded (true) or a duplicate (false).</param>
    /// <param name="Error">Why the report after the handled ones could not be recorded; null when all were handled.</param>
    public sealed record BatchOutcome(IReadOnlyList<bool> Recorded, Exception? Error);

    /// <summary>
    /// Records the reports of one batch, in order, in one store write (one transaction, one commit), each exactly once as
    /// <see cref="RecordAsync"/> does. A report that fails ends the batch there: the ones before it are recorded and
    /// may be acknowledged, the rest are not (the agent sends them again). A failure of the first fails the write.
    /// </summary>
    /// <param name="alsoWhenRecorded">Per report (same index), more to write in the transaction when it is recorded.</param>
    public async Task<BatchOutcome> RecordBatchAsync(string node, IReadOnlyList<StepReport> reports,
        IReadOnlyList<Action<IStoreWriter>?> alsoWhenRecorded)
    {
        if (alsoWhenRecorded.Count != reports.Count)
            throw new ArgumentException($"{alsoWhenRecorded.Count} forwards for {reports.Count} reports", nameof(alsoWhenRecorded));
        // Cut to what is kept (NodeLimits) before anything stores, logs or forwards them.
        foreach (var report in reports) NodeLimits.Clamp(report);
        var results = new List<(Recorded? Recorded, Duplicate? Duplicate)>(reports.Count);
        Exception? error = null;
        var touched = new List<string>();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await store.WriteAsync(s =>
                {
                    results.Clear();
                    error = null;
                    var writes = new BatchWrites();
                    for (var i = 0; i < reports.Count; i++)
                    {
                        try
                        {
                            var r = Record(s, node, reports[i], out var duplicate, writes);
                            if (r is not null) alsoWhenRecorded[i]?.Invoke(s);
                            results.Add((r, duplicate));
                        }
                        catch (Exception e) when (i > 0)
                        {
                            error = e;
                            break;
                        }
                    }
                    touched.AddRange(writes.Runs.Keys);
                    Flush(s, node, writes);
                });
                break;
            }
            catch (Exception e)
            {
                // Nothing of the write committed: what it left in memory is forgotten, and a conflict (another write
                // moved the node's progress or run on since they were kept here) is tried once more from the store.
                Forget(node, touched);
                touched.Clear();
                if (attempt > 1 || e is not Errors.ConflictException) throw;
            }
        }
        var recorded = new bool[results.Count];
        for (var i = 0; i < results.Count; i++) recorded[i] = Logged(node, reports[i], results[i].Recorded, results[i].Duplicate);
        return new BatchOutcome(recorded, error);
    }

    /// <summary>Logs what recording <paramref name="report"/> did; true when it was recorded.</summary>
    private bool Logged(string node, StepReport report, Recorded? recorded, Duplicate? duplicate)
    {
        // The report's properties only for lines that are written: a step's progress is logged at Debug, the rest at
        // Information or Warning (so a log at Warning or below writes them).
        var level = recorded is { EpochReplaced: null } && report.Phase.Length > 0 && report.State != StepState.Failed
            ? LogLevel.Debug : LogLevel.Warning;
        using var scope = log.IsEnabled(level) ? log.BeginScope(Scope(node, report)) : null;
        if (recorded is null)
        {
            // Never dropped unseen: a resent report after a lost acknowledgement is normal, anything else is a finding.
            if (duplicate is { } d) LogDuplicate(log, node, (long)report.Sequence, d.LastRecorded, d.Epoch.Length > 0 ? d.Epoch : "none");
            else LogUnknownNode(log, node, (long)report.Sequence);
            return false;
        }
        if (recorded.EpochReplaced is { } replaced)
            LogNewEpoch(log, node, report.JournalEpoch, replaced.Length > 0 ? replaced : "none", (long)report.Sequence);
        if (report.Phase.Length == 0)
        {
            LogRun(log, node, recorded.Reason ?? "", recorded.Message);
        }
        else if (report.State is StepState.Succeeded or StepState.Failed)
        {
            var result = report.State == StepState.Succeeded ? "succeeded" : "failed";
            if (recorded.StepDuration is { } d) metrics.ObserveStep(report.Phase, report.Step, result, d);
            var seconds = recorded.StepDuration?.TotalSeconds ?? 0;
            if (report.State == StepState.Failed) LogStepFailed(log, node, report.PlanName, report.Phase, report.Step, seconds, report.Message);
            else LogStepSucceeded(log, node, report.PlanName, report.Phase, report.Step, seconds);
        }
        else
        {
            LogStep(log, node, report.PlanName, report.Phase, report.Step, report.State);
        }
        return true;
    }

    /// <summary>
    /// What the reports of one batch (a single report is a batch of one) change, written once at its end: each run they
    /// touch once (not once per report), the node's progress once, then their events.
    /// </summary>
    private sealed class BatchWrites
    {
        /// <summary>The node's progress before the batch: what its write replaces.</summary>
        public NodeProgress? Before;
        /// <summary>Whether <see cref="Before"/> is what this recorder kept, not what it read.</summary>
        public bool BeforeKept;
        /// <summary>The progress is read from the store, not taken from what was kept.</summary>
        public bool KeptRefused;
        public NodeProgress? Progress;
        // By the run's key of this node (RunHistoryRecord.Key), as the reports look them up.
        public readonly Dictionary<string, RunHistoryRecord> Runs = new(StringComparer.Ordinal);
        public readonly List<EventRecord> Events = [];
    }

    // A failure here fails the write: RecordBatchAsync then forgets what it kept of the node and its runs.
    private void Flush(IStoreWriter s, string node, BatchWrites writes)
    {
        // The progress first: a store that finds a conflict at once (LiteDB) then has written nothing of the batch.
        if (writes.Progress is { } progress && writes.Before is { } before) s.Nodes.SetProgressIf(node, before, progress);
        foreach (var run in writes.Runs.Values) WriteRun(s, run);
        foreach (var e in writes.Events) s.AddEvent(events, e);
        if ((writes.Progress ?? writes.Before) is { } now) s.OnCommitted(() => KeepProgress(node, now));
    }

    /// <summary>The node's progress: as this recorder last committed it, else read.</summary>
    private NodeProgress? ProgressBefore(IStoreWriter s, string node, BatchWrites batch)
    {
        NodeProgress? kept = null;
        if (!batch.KeptRefused) lock (_cached) kept = _progress.TryGetValue(node, out var p) ? p : null;
        batch.BeforeKept = kept is not null;
        return batch.Before = kept ?? s.Nodes.GetProgress(node);
    }

    private void KeepProgress(string node, NodeProgress progress)
    {
        lock (_cached)
        {
            if (_progress.Count >= MaxOpenRuns && !_progress.ContainsKey(node)) _progress.Clear();
            _progress[node] = progress;
        }
    }

    /// <summary>Forgets the node's progress and the runs given, as kept in memory: the next write reads them.</summary>
    private void Forget(string node, IEnumerable<string> runs)
    {
        lock (_cached)
        {
            _progress.Remove(node);
            foreach (var key in runs) _openRuns.Remove(key);
        }
    }

    private static void WriteRun(IStoreWriter s, RunHistoryRecord run)
    {
        // A run read from the store (or kept since it was written) has a revision; a new one has none yet.
        if (run.Revision == 0 && s.Runs.Get(run.Id) is null) s.Runs.Insert(run);
        else s.Runs.Update(run);
    }

    private Recorded? Record(IStoreWriter s, string node, StepReport report, out Duplicate? duplicate, BatchWrites batch)
    {
        duplicate = null;
        try
        {
            return RecordOnce(s, node, report, ref duplicate, batch);
        }
        catch
        {
            // The cached run may hold changes that were not written; read it from the database next time.
            Forget(node, [RunHistoryRecord.Key(node, report.RunId)]);
            throw;
        }
    }

    private Recorded? RecordOnce(IStoreWriter s, string node, StepReport report, ref Duplicate? duplicate, BatchWrites batch)
    {
        // Only the node's report sequence and phase change here: read and written without the rest of its record.
        if ((batch.Progress ?? batch.Before ?? ProgressBefore(s, node, batch)) is not { } progress) return null;
        // Sequences count within one agent journal. A journal started anew (moved aside, the node re-imaged) numbers
        // from 1 under a new epoch: its reports are new whatever their sequence. An agent that predates epochs sends
        // none, and the first epoch a node's journal sends continues that journal's numbering.
        var epoch = report.JournalEpoch.Length > 0 ? report.JournalEpoch : progress.ReportEpoch;
        var newEpoch = epoch != progress.ReportEpoch && progress.ReportEpoch.Length > 0;
        if (!newEpoch && (long)report.Sequence <= progress.LastReportSequence && batch is { Progress: null, BeforeKept: true })
        {
            // Never acknowledged unrecorded on the strength of memory alone: a duplicate by what was kept is checked
            // against the store.
            batch.KeptRefused = true;
            batch.Before = null;
            return RecordOnce(s, node, report, ref duplicate, batch);
        }
        if (!newEpoch && (long)report.Sequence <= progress.LastReportSequence)
        {
            duplicate = new Duplicate(progress.LastReportSequence, progress.ReportEpoch);
            return null;
        }
        var phase = progress.Phase;

        // Runs are kept per node: run ids are made by each agent (plan, second, 24 random bits), so two nodes of a large
        // rollout may well make the same one, and no node's reports may touch another node's run. A run recorded
        // before runs were keyed by node is found under its bare id, if it is this node's.
        var key = RunHistoryRecord.Key(node, report.RunId);
        if (!batch.Runs.TryGetValue(key, out var run))
        {
            lock (_cached) _openRuns.TryGetValue(key, out run);
            run ??= s.Runs.Get(key) ?? (s.Runs.Get(report.RunId) is { } old && old.Node == node ? old : null);
        }
        run ??= new RunHistoryRecord
        {
            Id = key, RunId = report.RunId, Node = node, PlanName = report.PlanName, Generation = report.Generation,
            StartedAt = report.StartedAt?.ToDateTime() ?? report.Time?.ToDateTime() ?? time.GetUtcNow().UtcDateTime,
        };
        // Set from every report: an agent asked again for a run it has already finished reports it on behalf of the
        // new requester (another rollout, or the apply stage of a plan whose prepare run already did everything).
        run.Stage = report.Stage.Length > 0 ? report.Stage : RolloutEngine.StageApply;
        run.RolloutId = report.RolloutId;
        var prior = (Protocol.V1.RunState)run.State;
        run.State = (int)report.RunState;
        Recorded recorded;
        if (report.Phase.Length == 0)
        {
            // A run transition.
            run.Error = report.Message;
            if (report.RunState is Protocol.V1.RunState.Succeeded or Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
                run.FinishedAt = report.Time?.ToDateTime();
            var reverted = UndoEnded(run, prior, report);
            var state = (Protocol.V1.RunState)run.State;
            phase = state switch
            {
                Protocol.V1.RunState.Succeeded => "",
                Protocol.V1.RunState.Failed => $"{LastPhase(run)} (failed)",
                Protocol.V1.RunState.UndoRunning => $"{LastPhase(run)} (undoing)",
                // Undone after a failure: the node is back where it was, but its plan did not apply.
                Protocol.V1.RunState.Undone => run.Error.Length > 0 ? $"{LastPhase(run)} (failed)" : "",
                _ => phase,
            };
            recorded = AddRunEvent(batch, node, report, run, reverted);
        }
        else
        {
            var step = run.Steps.FirstOrDefault(x => x.Phase == report.Phase && x.Step == report.Step);
            if (step is null)
            {
                // A run has a few hundred steps at most; a node sending more does not grow its run record further.
                if (run.Steps.Count >= NodeLimits.MaxStepsPerRun)
                {
                    batch.Progress = new NodeProgress((long)report.Sequence, phase, epoch);
                    return new Recorded(null, $"step {report.Phase}/{report.Step} not recorded: run {report.RunId} already has {NodeLimits.MaxStepsPerRun} steps", null);
                }
                run.Steps.Add(step = new StepHistoryRecord { Phase = report.Phase, Step = report.Step });
            }
            step.State = (int)report.State;
            step.StartedAt = report.StartedAt?.ToDateTime() ?? step.StartedAt;
            if (report.State is Protocol.V1.StepState.Succeeded or Protocol.V1.StepState.Failed)
                step.FinishedAt = report.Time?.ToDateTime();
            step.Message = report.Message;
            step.OutputTail = report.OutputTail;
            step.Changed = report.Changed;
            if (report.State == Protocol.V1.StepState.Running) phase = report.Phase;
            if (report.State == Protocol.V1.StepState.Failed)
            {
                phase = $"{report.Phase} (failed)";
                batch.Events.Add(new EventRecord
                {
                    Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "StepFailed",
                    Node = node, Rollout = report.RolloutId, Message = report.Message,
                });
            }
            // Both times come from the agent's clock, so the duration does not depend on delivery delays.
            TimeSpan? duration = step is { StartedAt: { } started, FinishedAt: { } finished } ? finished - started : null;
            recorded = new Recorded(null, report.Message, duration);
        }
        batch.Runs[key] = run;
        batch.Progress = new NodeProgress((long)report.Sequence, phase, epoch);
        if (newEpoch) recorded = recorded with { EpochReplaced = progress.ReportEpoch };
        lock (_cached)
        {
            if (run.State is (int)Protocol.V1.RunState.Succeeded or (int)Protocol.V1.RunState.Failed or (int)Protocol.V1.RunState.Undone)
                _openRuns.Remove(run.Id);
            else
            {
                if (_openRuns.Count >= MaxOpenRuns && !_openRuns.ContainsKey(run.Id)) _openRuns.Clear();
                _openRuns[run.Id] = run;
            }
        }
        return recorded;
    }

    /// <summary>
    /// The agent's undo reports no step: it restores the run's backups, then reports the run UNDONE (a rollback of a
    /// run that had succeeded) or FAILED with the run's error (a failed run, always undone; "undo incomplete: …"
    /// added when reloading or restarting services failed). So the end of an undo is seen here, when a run that was
    /// undoing (or already undone: the same run reported again) is reported FAILED or UNDONE. Its steps whose changes
    /// the undo reverted become UNDONE, and a failed run whose undo reverted something and completed is UNDONE, its
    /// error saying why it failed. Returns the steps now undone, in run order.
    /// </summary>
    private static List<StepHistoryRecord> UndoEnded(RunHistoryRecord run, Protocol.V1.RunState prior, StepReport report)
    {
        if (report.RunState is not (Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
            || prior is not (Protocol.V1.RunState.UndoRunning or Protocol.V1.RunState.Undone))
            return [];
        foreach (var step in run.Steps.Where(IsReverted)) step.State = (int)Protocol.V1.StepState.Undone;
        var undone = run.Steps.Where(x => x.State == (int)Protocol.V1.StepState.Undone).ToList();
        if (report.RunState == Protocol.V1.RunState.Failed && undone.Count > 0
            && !report.Message.Contains(UndoIncomplete, StringComparison.Ordinal))
            run.State = (int)Protocol.V1.RunState.Undone;
        return undone;
    }

    /// <summary>What the agent adds to a run's error when its undo could not reload systemd or restart a service.</summary>
    public const string UndoIncomplete = "undo incomplete: ";

    /// <summary>
    /// A step the agent's undo reverts: one that changed the node in a disruptive phase (files written or installed,
    /// with a backup; systemd reloaded; services restarted). What the preparation did (artifacts downloaded into the
    /// cache, images pulled) is kept.
    /// </summary>
    private static bool IsReverted(StepHistoryRecord step) =>
        step.State == (int)Protocol.V1.StepState.Succeeded && step.Changed && PlanPhases.Disruptive.Contains(step.Phase)
        && !IsKept(step);

    /// <summary>A kubeadm step that ran: kubeadm's changes are its own, not files the agent can put back.</summary>
    private static bool IsKept(StepHistoryRecord step) =>
        step.Phase == PlanPhases.Kubeadm && step.State == (int)Protocol.V1.StepState.Succeeded && step.Changed;

    private static string LastPhase(RunHistoryRecord run) =>
        run.Steps.LastOrDefault(x => x.State == (int)Protocol.V1.StepState.Failed)?.Phase
        ?? run.Steps.LastOrDefault()?.Phase ?? "plan";

    private Recorded AddRunEvent(BatchWrites batch, string node, StepReport report, RunHistoryRecord run, List<StepHistoryRecord> undone)
    {
        var prepare = run.Stage == RolloutEngine.StagePrepare;
        var head = $"plan {report.PlanName} generation {report.Generation} (run {report.RunId}{(prepare ? ", prepare" : "")})";
        var error = report.Message.Length > 0 ? $": {report.Message}" : "";
        var wave = run.RolloutId.Length > 0 ? $"the node's wave of rollout {run.RolloutId}" : "the node's wave";
        var (type, reason, message) = (Protocol.V1.RunState)run.State switch
        {
            Protocol.V1.RunState.Running when prepare => ("Normal", "PlanStarted",
                $"{head}: the non-disruptive phases only; the rest of the plan runs in {wave}"),
            Protocol.V1.RunState.Running => ("Normal", "PlanStarted", head + error),
            Protocol.V1.RunState.Succeeded when prepare => ("Normal", "PlanPrepared",
                $"{head} prepared, not applied: {PhasesRun(run)}; the rest of the plan runs in {wave}"),
            Protocol.V1.RunState.Succeeded => ("Normal", EventReasons.PlanApplied, head + error),
            // The undo restored the files but could not reload systemd or restart a service: the error says what.
            Protocol.V1.RunState.Failed when undone.Count > 0 => ("Warning", EventReasons.PlanFailed,
                $"{head}, partly undone ({RevertedText(undone)}){error}"),
            Protocol.V1.RunState.Failed => ("Warning", EventReasons.PlanFailed, head + error),
            Protocol.V1.RunState.UndoRunning => ("Warning", "PlanUndoing", head + error),
            // A failed run the agent undid: a warning, and why it failed.
            _ when report.Message.Length > 0 => ("Warning", EventReasons.PlanUndone,
                $"{head} failed and was undone ({RevertedText(undone)}{KeptText(run)}){error}"),
            // A rollback of a run that had succeeded.
            _ => ("Normal", EventReasons.PlanUndone, $"{head} undone ({RevertedText(undone)}{KeptText(run)})"),
        };
        batch.Events.Add(new EventRecord
        {
            Time = time.GetUtcNow().UtcDateTime, Type = type, Reason = reason, Node = node, Rollout = report.RolloutId, Message = message,
        });
        return new Recorded(reason, message, null);
    }

    /// <summary>Steps named in an event: more than this many end with "and N more".</summary>
    private const int MaxNamedSteps = 10;

    /// <summary>"reverted kubelet-config/drop-in, restart-services/restart-kubelet" or "nothing to revert".</summary>
    private static string RevertedText(List<StepHistoryRecord> undone)
    {
        if (undone.Count == 0) return "nothing to revert";
        var names = undone.Take(MaxNamedSteps).Select(x => $"{x.Phase}/{x.Step}").ToList();
        if (undone.Count > MaxNamedSteps) names.Add($"and {undone.Count - MaxNamedSteps} more");
        return "reverted " + string.Join(", ", names);
    }

    /// <summary>"; not undone: kubeadm/upgrade-node (…)" when the run's kubeadm step ran, else "".</summary>
    private static string KeptText(RunHistoryRecord run) =>
        run.Steps.FirstOrDefault(IsKept) is { } k
            ? $"; not undone: {k.Phase}/{k.Step} (NodeFleet cannot undo what kubeadm changed)"
            : "";

    /// <summary>"ran preflight, stage-artifacts": the phases of the run's steps, in run order.</summary>
    private static string PhasesRun(RunHistoryRecord run)
    {
        var phases = run.Steps.Select(x => x.Phase).Distinct(StringComparer.Ordinal).ToList();
        return phases.Count == 0 ? "no step ran" : "ran " + string.Join(", ", phases);
    }

    /// <summary>Node, plan, run, phase and step as properties of every log line about this report.</summary>
    private static Dictionary<string, object> Scope(string node, StepReport report)
    {
        var scope = new Dictionary<string, object>
        {
            ["Node"] = node, ["Plan"] = report.PlanName, ["Generation"] = report.Generation, ["RunId"] = report.RunId,
        };
        if (report.Phase.Length > 0) scope["Phase"] = report.Phase;
        if (report.Step.Length > 0) scope["Step"] = report.Step;
        if (report.RolloutId.Length > 0) scope["Rollout"] = report.RolloutId;
        return scope;
    }

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information,
        Message = "Node {Node}: report {Sequence} not recorded again: reports up to {LastRecorded} of journal epoch {Epoch} are")]
    private static partial void LogDuplicate(ILogger logger, string node, long sequence, long lastRecorded, string epoch);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning,
        Message = "Node {Node}: the agent's journal is new (epoch {Epoch}, was {Previous}): report sequence starts again at {Sequence}")]
    private static partial void LogNewEpoch(ILogger logger, string node, string epoch, string previous, long sequence);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "Node {Node}: report {Sequence} not recorded: the node is not known")]
    private static partial void LogUnknownNode(ILogger logger, string node, long sequence);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Node {Node}: {Reason} {Message}")]
    private static partial void LogRun(ILogger log, string node, string reason, string message);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "Node {Node}: plan {Plan} step {Phase}/{Step} is {State}")]
    private static partial void LogStep(ILogger log, string node, string plan, string phase, string step, StepState state);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Debug,
        Message = "Node {Node}: plan {Plan} step {Phase}/{Step} succeeded in {DurationSeconds:0.###}s")]
    private static partial void LogStepSucceeded(ILogger log, string node, string plan, string phase, string step, double durationSeconds);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning,
        Message = "Node {Node}: plan {Plan} step {Phase}/{Step} failed after {DurationSeconds:0.###}s: {Error}")]
    private static partial void LogStepFailed(ILogger log, string node, string plan, string phase, string step, double durationSeconds, string error);

    public IReadOnlyList<RunHistory> History(string node, int max) =>
        store.Runs.ListByNode(node, max).Select(ToMessage).ToList();

    private static RunHistory ToMessage(RunHistoryRecord r)
    {
        var m = new RunHistory
        {
            RunId = r.AgentRunId, PlanName = r.PlanName, Generation = r.Generation, State = (Protocol.V1.RunState)r.State,
            StartedAt = Ts(r.StartedAt), Error = r.Error, Stage = r.Stage, RolloutId = r.RolloutId,
        };
        if (r.FinishedAt is { } f) m.FinishedAt = Ts(f);
        foreach (var s in r.Steps)
        {
            var h = new StepHistory
            {
                Phase = s.Phase, Step = s.Step, State = (Protocol.V1.StepState)s.State, Message = s.Message, OutputTail = s.OutputTail,
                Changed = s.Changed,
            };
            if (s.StartedAt is { } st) h.StartedAt = Ts(st);
            if (s.FinishedAt is { } fi) h.FinishedAt = Ts(fi);
            m.Steps.Add(h);
        }
        return m;
    }

    private static Timestamp Ts(DateTime t) => Timestamp.FromDateTime(DateTime.SpecifyKind(t, DateTimeKind.Utc));
}
