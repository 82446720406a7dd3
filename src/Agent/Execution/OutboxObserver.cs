using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>Turns every journaled transition into a report in the outbox, delivered to the coordinator in order.</summary>
public sealed class OutboxObserver(Journal journal) : IRunObserver
{
    /// <summary>Raised after a report is enqueued, so the link can send it without waiting.</summary>
    public event Action? Enqueued;

    public void StepChanged(RunRecord run, StepRecord step) => Enqueue(new StepReport
    {
        RunId = run.Id,
        PlanName = run.PlanName,
        Generation = run.Generation,
        Phase = step.Phase,
        Step = step.Step,
        State = (Protocol.V1.StepState)((int)step.State + 1),
        RunState = Map(run.State),
        Message = step.Message,
        OutputTail = step.OutputTail,
        Time = Timestamp.FromDateTime(DateTime.UtcNow),
        StartedAt = step.StartedAt is { } s ? Timestamp.FromDateTime(DateTime.SpecifyKind(s, DateTimeKind.Utc)) : null,
        Changed = step.Changed,
        RolloutId = run.RolloutId,
        Stage = run.Stage,
    });

    public void RunChanged(RunRecord run) => Enqueue(new StepReport
    {
        RunId = run.Id,
        PlanName = run.PlanName,
        Generation = run.Generation,
        RunState = Map(run.State),
        Message = run.Error,
        Time = Timestamp.FromDateTime(DateTime.UtcNow),
        StartedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(run.StartedAt, DateTimeKind.Utc)),
        RolloutId = run.RolloutId,
        Stage = run.Stage,
    });

    private void Enqueue(StepReport report)
    {
        // The coordinator keeps no more than this (NodeLimits); cutting here keeps the journal and the link small too.
        NodeFleet.Net.NodeLimits.Clamp(report);
        journal.Enqueue(report.ToByteArray());
        // Inside the transition's own transaction (see RunDriver), the link can read the report only once it commits.
        journal.AfterCommit(() => Enqueued?.Invoke());
    }

    public static Protocol.V1.RunState Map(RunState s) => s switch
    {
        RunState.Running => Protocol.V1.RunState.Running,
        RunState.Succeeded => Protocol.V1.RunState.Succeeded,
        RunState.Failed => Protocol.V1.RunState.Failed,
        RunState.UndoRunning => Protocol.V1.RunState.UndoRunning,
        _ => Protocol.V1.RunState.Undone,
    };

    /// <summary>Reports not yet acknowledged, oldest first, with their sequence numbers set.</summary>
    public IReadOnlyList<StepReport> Pending(long after)
    {
        var epoch = journal.Epoch;
        return journal.Outbox.Find(o => o.Sequence > after).OrderBy(o => o.Sequence).Select(o =>
        {
            var r = StepReport.Parser.ParseFrom(o.Report);
            r.Sequence = (ulong)o.Sequence;
            r.JournalEpoch = epoch;
            return r;
        }).ToList();
    }

    public void Acknowledge(long sequence) => journal.Write(j => j.Outbox.DeleteMany(o => o.Sequence <= sequence));
}
