using System.Collections.Concurrent;
using Google.Protobuf;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// Drives active rollouts: applies agents' reports to them, decides what starts next, persists every change with
/// its events before acting, then sends the plans. One loop, so decisions never race. After a coordinator restart it
/// picks up from LiteDB; nodes in flight get their request again (the agents' journals make that idempotent).
/// </summary>
public sealed class RolloutController(CoordinatorStore store, Presence presence, EventBus events,
    NodeFleet.Coordinator.Observability.RolloutMetrics metrics, TimeProvider time, ILogger<RolloutController> log) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private readonly ConcurrentQueue<(string Node, StepReport Report)> _reports = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    // Requests sent by this process; anything in flight but not here is sent again (after a restart).
    private readonly HashSet<(string Rollout, string Node, string Stage)> _dispatched = [];

    public void OnReport(string node, StepReport report)
    {
        if (report.RolloutId.Length == 0) return;
        _reports.Enqueue((node, report));
        Wake();
    }

    public void Wake()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Tick, stoppingToken);
                await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                log.LogError(e, "Rollout controller pass failed");
            }
        }
    }

    internal async Task RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var batch = new List<(string Node, StepReport Report)>();
        while (_reports.TryDequeue(out var r)) batch.Add(r);
        foreach (var group in batch.GroupBy(b => b.Report.RolloutId))
        {
            await store.WriteAsync(s =>
            {
                var rollout = s.Rollouts.FindById(group.Key);
                if (rollout is null) return;
                foreach (var (node, report) in group)
                    foreach (var note in RolloutEngine.OnReport(rollout, node, report, now)) Record(s, rollout, note, now);
                s.Rollouts.Update(rollout);
            });
        }

        foreach (var id in store.Rollouts.Find(r => r.State != RolloutState.Succeeded && r.State != RolloutState.Failed
                     && r.State != RolloutState.Aborted && r.State != RolloutState.RolledBack).Select(r => r.Id).ToList())
        {
            var decision = await store.WriteAsync(s =>
            {
                var rollout = s.Rollouts.FindById(id);
                var before = rollout.UpdatedAt;
                var (actions, notes) = RolloutEngine.Decide(rollout, IsOnline, now);
                foreach (var note in notes) Record(s, rollout, note, now);
                // Every change the engine makes moves UpdatedAt; an unchanged rollout is not rewritten each tick.
                if (actions.Count > 0 || notes.Count > 0 || rollout.UpdatedAt != before) s.Rollouts.Update(rollout);
                return (rollout, actions);
            });
            metrics.Set(decision.rollout.Id, decision.rollout.Nodes.GroupBy(n => n.State.ToString())
                .ToDictionary(g => g.Key.ToLowerInvariant(), g => g.Count()));
            // Persisted first; now act.
            foreach (var action in decision.actions) await SendAsync(decision.rollout, action, ct);
            await RedispatchAsync(decision.rollout, ct);
        }
    }

    private bool IsOnline(string node) => presence.Get(node) is { Connected: true, Silent: false };

    /// <summary>Sends again what a previous coordinator process had sent to nodes still in flight.</summary>
    private async Task RedispatchAsync(RolloutRecord r, CancellationToken ct)
    {
        foreach (var n in r.Nodes)
        {
            RolloutAction? action = n.State switch
            {
                RolloutNodeState.Preparing => new RolloutAction.Apply(n.Name, RolloutEngine.StagePrepare),
                RolloutNodeState.Running => new RolloutAction.Apply(n.Name, RolloutEngine.StageApply),
                RolloutNodeState.RollingBack => new RolloutAction.Undo(n.Name, n.RunId),
                _ => null,
            };
            if (action is null || !IsOnline(n.Name) || _dispatched.Contains((r.Id, n.Name, StageOf(action)))) continue;
            log.LogInformation("Rollout {Rollout}: sending node {Node} its {Stage} request again", r.Id, n.Name, StageOf(action));
            await SendAsync(r, action, ct);
        }
    }

    private static string StageOf(RolloutAction a) => a switch
    {
        RolloutAction.Apply apply => apply.Stage,
        _ => "undo",
    };

    private async Task SendAsync(RolloutRecord r, RolloutAction action, CancellationToken ct)
    {
        var session = presence.Get(action.Node);
        if (session is not { Connected: true }) return;
        CoordinatorMessage message;
        if (action is RolloutAction.Apply apply)
        {
            var plan = NodePlan.Parser.ParseFrom(r.Plan);
            if (apply.Stage == RolloutEngine.StagePrepare)
            {
                // Only the non-disruptive phases; the rest run wave by wave.
                foreach (var phase in PlanPhases.All.Where(p => !PlanPhases.Prepare.Contains(p) && !plan.Spec.SkipPhases.Contains(p)))
                    plan.Spec.SkipPhases.Add(phase);
                plan.Metadata.Digest = PlanCanonical.Digest(plan);
            }
            var m = new ApplyPlan { Plan = plan, RolloutId = r.Id, Stage = apply.Stage };
            m.IgnorePreflightErrors.AddRange(r.IgnorePreflightErrors);
            message = new CoordinatorMessage { ApplyPlan = m };
        }
        else
        {
            message = new CoordinatorMessage { UndoRun = new UndoRun { RunId = ((RolloutAction.Undo)action).RunId, RolloutId = r.Id } };
        }
        await session.Outgoing.Writer.WriteAsync(message, ct);
        _dispatched.Add((r.Id, action.Node, StageOf(action)));
    }

    private void Record(CoordinatorStore s, RolloutRecord r, RolloutNote note, DateTime now)
    {
        s.AddEvent(events, new EventRecord
        {
            Time = now, Type = note.Type, Reason = note.Reason, Node = note.Node, Rollout = r.Id, Message = note.Message,
        });
        log.LogInformation("Rollout {Rollout}{NodePart}: {Reason} {Message}", r.Id, note.Node.Length > 0 ? $" node {note.Node}" : "", note.Reason, note.Message);
    }
}
