using Google.Protobuf.WellKnownTypes;
using LiteDB;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Plans;

/// <summary>Records agents' step reports exactly once (by sequence) and keeps each node's current phase.</summary>
public sealed class PlanRecorder(CoordinatorStore store, TimeProvider time, ILogger<PlanRecorder> log)
{
    /// <summary>Persists the report unless it is a duplicate; either way it may then be acknowledged.</summary>
    public Task<bool> RecordAsync(string node, StepReport report) => store.WriteAsync(s =>
    {
        var n = s.Nodes.FindById(node);
        if (n is null || (long)report.Sequence <= n.LastReportSequence) return false;
        n.LastReportSequence = (long)report.Sequence;

        var run = s.Runs.FindById(report.RunId) ?? new RunHistoryRecord
        {
            Id = report.RunId, Node = node, PlanName = report.PlanName, Generation = report.Generation,
            StartedAt = report.StartedAt?.ToDateTime() ?? report.Time?.ToDateTime() ?? time.GetUtcNow().UtcDateTime,
        };
        run.State = (int)report.RunState;
        if (report.Phase.Length == 0)
        {
            // A run transition.
            run.Error = report.Message;
            if (report.RunState is Protocol.V1.RunState.Succeeded or Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
                run.FinishedAt = report.Time?.ToDateTime();
            n.Phase = report.RunState switch
            {
                Protocol.V1.RunState.Succeeded => "",
                Protocol.V1.RunState.Failed => $"{LastPhase(run)} (failed)",
                Protocol.V1.RunState.UndoRunning => $"{LastPhase(run)} (undoing)",
                Protocol.V1.RunState.Undone => "",
                _ => n.Phase,
            };
            AddEvent(s, node, report);
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
            if (report.State == Protocol.V1.StepState.Running) n.Phase = report.Phase;
            if (report.State == Protocol.V1.StepState.Failed)
            {
                n.Phase = $"{report.Phase} (failed)";
                s.Events.Insert(new EventRecord
                {
                    Id = ObjectId.NewObjectId(), Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "StepFailed",
                    Node = node, Message = report.Message,
                });
            }
        }
        s.Runs.Upsert(run);
        s.Nodes.Update(n);
        return true;
    });

    private static string LastPhase(RunHistoryRecord run) =>
        run.Steps.LastOrDefault(x => x.State == (int)Protocol.V1.StepState.Failed)?.Phase
        ?? run.Steps.LastOrDefault()?.Phase ?? "plan";

    private void AddEvent(CoordinatorStore s, string node, StepReport report)
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
        s.Events.Insert(new EventRecord { Id = ObjectId.NewObjectId(), Time = time.GetUtcNow().UtcDateTime, Type = type, Reason = reason, Node = node, Message = message });
        log.LogInformation("Node {Node}: {Reason} {Message}", node, reason, message);
    }

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
