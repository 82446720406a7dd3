using Google.Protobuf.WellKnownTypes;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Plans;

/// <summary>Records agents' step reports exactly once (by sequence) and keeps each node's current phase.</summary>
public sealed partial class PlanRecorder(CoordinatorStore store, EventBus events, CoordinatorMetrics metrics, TimeProvider time,
    ILogger<PlanRecorder> log)
{
    /// <summary>
    /// Runs still in progress, as last written, so that each report of a run does not read it back and map it again.
    /// Only the store's writer touches it (inside <see cref="Record"/>); the recorder is the only writer of runs.
    /// </summary>
    private readonly Dictionary<string, RunHistoryRecord> _openRuns = new(StringComparer.Ordinal);
    private const int MaxOpenRuns = 50_000;

    /// <summary>What one recorded report changed, for the logs and metrics that follow the commit.</summary>
    private sealed record Recorded(string? Reason, string Message, TimeSpan? StepDuration);

    /// <summary>Persists the report unless it is a duplicate (false); either way it may then be acknowledged.</summary>
    public async Task<bool> RecordAsync(string node, StepReport report)
    {
        var recorded = await store.WriteAsync(s => Record(s, node, report));
        if (recorded is null) return false;
        using var scope = log.BeginScope(Scope(node, report));
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

    private Recorded? Record(CoordinatorStore s, string node, StepReport report)
    {
        try
        {
            return RecordOnce(s, node, report);
        }
        catch
        {
            // The cached run may hold changes that were not written; read it from the database next time.
            _openRuns.Remove(report.RunId);
            throw;
        }
    }

    private Recorded? RecordOnce(CoordinatorStore s, string node, StepReport report)
    {
        // The node as a document: only its report sequence and phase change here, and mapping the whole record (labels,
        // facts) both ways for every report would cost more than the write itself.
        var n = s.NodeDocuments.FindById(node);
        if (n is null) return null;
        var lastSequence = n.TryGetValue(nameof(NodeRecord.LastReportSequence), out var seq) && seq.IsNumber ? seq.AsInt64 : 0;
        if ((long)report.Sequence <= lastSequence) return null;
        n[nameof(NodeRecord.LastReportSequence)] = (long)report.Sequence;
        var phase = n.TryGetValue(nameof(NodeRecord.Phase), out var p) && p.IsString ? p.AsString : "";

        if (!_openRuns.TryGetValue(report.RunId, out var run))
            run = s.Runs.FindById(report.RunId);
        run ??= new RunHistoryRecord
        {
            Id = report.RunId, Node = node, PlanName = report.PlanName, Generation = report.Generation,
            StartedAt = report.StartedAt?.ToDateTime() ?? report.Time?.ToDateTime() ?? time.GetUtcNow().UtcDateTime,
        };
        run.State = (int)report.RunState;
        Recorded recorded;
        if (report.Phase.Length == 0)
        {
            // A run transition.
            run.Error = report.Message;
            if (report.RunState is Protocol.V1.RunState.Succeeded or Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
                run.FinishedAt = report.Time?.ToDateTime();
            phase = report.RunState switch
            {
                Protocol.V1.RunState.Succeeded => "",
                Protocol.V1.RunState.Failed => $"{LastPhase(run)} (failed)",
                Protocol.V1.RunState.UndoRunning => $"{LastPhase(run)} (undoing)",
                Protocol.V1.RunState.Undone => "",
                _ => phase,
            };
            recorded = AddRunEvent(s, node, report);
        }
        else
        {
            var step = run.Steps.FirstOrDefault(x => x.Phase == report.Phase && x.Step == report.Step);
            if (step is null) run.Steps.Add(step = new StepHistoryRecord { Phase = report.Phase, Step = report.Step });
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
                s.AddEvent(events, new EventRecord
                {
                    Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "StepFailed",
                    Node = node, Rollout = report.RolloutId, Message = report.Message,
                });
            }
            // Both times come from the agent's clock, so the duration does not depend on delivery delays.
            TimeSpan? duration = step is { StartedAt: { } started, FinishedAt: { } finished } ? finished - started : null;
            recorded = new Recorded(null, report.Message, duration);
        }
        s.Runs.Upsert(run);
        n[nameof(NodeRecord.Phase)] = phase;
        s.NodeDocuments.Update(n);
        if (run.State is (int)Protocol.V1.RunState.Succeeded or (int)Protocol.V1.RunState.Failed or (int)Protocol.V1.RunState.Undone)
            _openRuns.Remove(run.Id);
        else
        {
            if (_openRuns.Count >= MaxOpenRuns && !_openRuns.ContainsKey(run.Id)) _openRuns.Clear();
            _openRuns[run.Id] = run;
        }
        return recorded;
    }

    private static string LastPhase(RunHistoryRecord run) =>
        run.Steps.LastOrDefault(x => x.State == (int)Protocol.V1.StepState.Failed)?.Phase
        ?? run.Steps.LastOrDefault()?.Phase ?? "plan";

    private Recorded AddRunEvent(CoordinatorStore s, string node, StepReport report)
    {
        var (type, reason) = report.RunState switch
        {
            Protocol.V1.RunState.Running => ("Normal", "PlanStarted"),
            Protocol.V1.RunState.Succeeded => ("Normal", "PlanApplied"),
            Protocol.V1.RunState.Failed => ("Warning", "PlanFailed"),
            Protocol.V1.RunState.UndoRunning => ("Warning", "PlanUndoing"),
            _ => ("Normal", "PlanUndone"),
        };
        var message = $"plan {report.PlanName} generation {report.Generation} (run {report.RunId})" + (report.Message.Length > 0 ? $": {report.Message}" : "");
        s.AddEvent(events, new EventRecord
        {
            Time = time.GetUtcNow().UtcDateTime, Type = type, Reason = reason, Node = node, Rollout = report.RolloutId, Message = message,
        });
        return new Recorded(reason, message, null);
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
        store.Runs.Find(r => r.Node == node).OrderByDescending(r => r.StartedAt).Take(max).Select(ToMessage).ToList();

    private static RunHistory ToMessage(RunHistoryRecord r)
    {
        var m = new RunHistory
        {
            RunId = r.Id, PlanName = r.PlanName, Generation = r.Generation, State = (Protocol.V1.RunState)r.State,
            StartedAt = Ts(r.StartedAt), Error = r.Error,
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
