using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>Something the controller must do after the decision is persisted.</summary>
public abstract record RolloutAction(string Node)
{
    public sealed record Apply(string Node, string Stage) : RolloutAction(Node);
    public sealed record Undo(string Node, string RunId) : RolloutAction(Node);
}

/// <summary>An event to record with the decision (reason, node or "", message).</summary>
public sealed record RolloutNote(string Type, string Reason, string Node, string Message);

/// <summary>
/// The rollout aggregate's behaviour, free of I/O: guarded transitions, wave planning, and the decision of what to
/// start next given which nodes are online. The controller persists the record and the notes, then acts.
/// </summary>
public static class RolloutEngine
{
    public const string StagePrepare = "prepare";
    public const string StageApply = "apply";

    /// <summary>Splits the nodes into waves: the canary first, then waves of at most maxUnavailable nodes.</summary>
    public static void PlanWaves(RolloutRecord r, IEnumerable<string> nodes)
    {
        var ordered = nodes.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var canary = Math.Min(Math.Max(r.Canary, 0), ordered.Count);
        r.Nodes = [];
        var wave = 0;
        for (var i = 0; i < ordered.Count; i++)
        {
            if (canary > 0 && i < canary) wave = 0;
            else wave = (canary > 0 ? 1 : 0) + (i - canary) / Math.Max(1, r.MaxUnavailable);
            r.Nodes.Add(new RolloutNodeRecord { Name = ordered[i], Wave = wave, State = RolloutNodeState.Pending });
        }
        r.WaveCount = r.Nodes.Count == 0 ? 0 : r.Nodes.Max(n => n.Wave) + 1;
    }

    /// <summary>Moves the rollout to <paramref name="to"/>, or refuses with the reason an operator can read.</summary>
    public static RolloutNote Transition(RolloutRecord r, RolloutState to, string reason, DateTime now)
    {
        if (!RolloutTransitions.IsAllowed(r.State, to))
            throw new InvalidOperationException(RolloutTransitions.Refusal(r.Id, r.State, to));
        var from = r.State;
        if (to == RolloutState.Paused) r.ResumeTo = from;
        r.State = to;
        r.StateReason = reason;
        r.UpdatedAt = now;
        var type = to is RolloutState.Paused or RolloutState.Failed or RolloutState.Aborted or RolloutState.RollingBack ? "Warning" : "Normal";
        return new RolloutNote(type, $"Rollout{to}", "", $"{RolloutTransitions.Name(from)} → {RolloutTransitions.Name(to)}" + (reason.Length > 0 ? $": {reason}" : ""));
    }

    /// <summary>Decides what to start now; mutates <paramref name="r"/> and returns the actions and events.</summary>
    public static (List<RolloutAction> Actions, List<RolloutNote> Notes) Decide(RolloutRecord r, Func<string, bool> isOnline, DateTime now)
    {
        var actions = new List<RolloutAction>();
        var notes = new List<RolloutNote>();
        FailOverdueOfflineNodes(r, isOnline, now, notes);
        switch (r.State)
        {
            case RolloutState.Pending:
                if (r.Nodes.Count == 0)
                {
                    notes.Add(Transition(r, RolloutState.Rolling, "", now));
                    notes.Add(Transition(r, RolloutState.Succeeded, "no nodes selected", now));
                }
                else if (r.PrepareAhead) notes.Add(Transition(r, RolloutState.Preparing, "running the non-disruptive phases on every node", now));
                else StartRolling(r, now, notes);
                break;
            case RolloutState.Preparing:
                DecidePreparing(r, isOnline, now, actions, notes);
                break;
            case RolloutState.Rolling:
                DecideRolling(r, isOnline, now, actions, notes);
                break;
            case RolloutState.RollingBack:
                DecideRollingBack(r, isOnline, now, actions, notes);
                break;
        }
        return (actions, notes);
    }

    private static void StartRolling(RolloutRecord r, DateTime now, List<RolloutNote> notes)
    {
        r.CurrentWave = 0;
        notes.Add(Transition(r, RolloutState.Rolling, "wave 0 (canary)", now));
    }

    private static bool BudgetSpent(RolloutRecord r) => r.Failures >= Math.Max(1, r.MaxFailures);

    private static void DecidePreparing(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes)
    {
        if (BudgetSpent(r))
        {
            notes.Add(Transition(r, RolloutState.Paused, $"error budget spent: {r.Failures} failure(s), max {r.MaxFailures}", now));
            return;
        }
        var inflight = r.Nodes.Count(n => n.State == RolloutNodeState.Preparing);
        foreach (var n in r.Nodes.Where(n => n.State == RolloutNodeState.Pending))
        {
            if (inflight >= Math.Max(1, r.PrepareConcurrency)) break;
            if (!isOnline(n.Name)) continue;
            n.State = RolloutNodeState.Preparing;
            n.DispatchedAt = now;
            inflight++;
            actions.Add(new RolloutAction.Apply(n.Name, StagePrepare));
        }
        if (r.Nodes.All(n => n.State is RolloutNodeState.Prepared or RolloutNodeState.Failed or RolloutNodeState.Skipped))
            StartRolling(r, now, notes);
    }

    private static void DecideRolling(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes)
    {
        var wave = r.Nodes.Where(n => n.Wave == r.CurrentWave).ToList();
        if (r.Canary > 0 && r.CurrentWave == 0 && wave.FirstOrDefault(n => n.State == RolloutNodeState.Failed) is { } canary)
        {
            notes.Add(Transition(r, RolloutState.Paused, $"canary node {canary.Name} failed: {canary.Message}", now));
            return;
        }
        if (BudgetSpent(r))
        {
            notes.Add(Transition(r, RolloutState.Paused, $"error budget spent: {r.Failures} failure(s), max {r.MaxFailures}", now));
            return;
        }
        // Unavailable: nodes in a disruptive run, and selected nodes that are offline.
        var unavailable = r.Nodes.Count(n => n.State == RolloutNodeState.Running || !isOnline(n.Name));
        foreach (var n in wave.Where(n => n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared))
        {
            if (unavailable >= Math.Max(1, r.MaxUnavailable)) break;
            if (!isOnline(n.Name)) continue;
            n.State = RolloutNodeState.Running;
            n.DispatchedAt = now;
            n.StartedAt = now;
            unavailable++;
            actions.Add(new RolloutAction.Apply(n.Name, StageApply));
            notes.Add(new RolloutNote("Normal", "NodeStarted", n.Name, $"wave {n.Wave}: applying plan {r.PlanName} generation {r.Generation}"));
        }
        if (!wave.All(n => n.State is RolloutNodeState.Succeeded or RolloutNodeState.Failed or RolloutNodeState.Skipped)) return;
        if (r.CurrentWave >= r.WaveCount - 1)
        {
            notes.Add(r.Failures > 0
                ? Transition(r, RolloutState.Failed, $"{r.Failures} node(s) failed", now)
                : Transition(r, RolloutState.Succeeded, $"{r.Nodes.Count} node(s) updated", now));
            return;
        }
        if (r.PauseBetweenWavesMs > 0)
        {
            if (r.WaveFinishedAt is null)
            {
                r.WaveFinishedAt = now;
                r.UpdatedAt = now;
            }
            if (now - r.WaveFinishedAt.Value < TimeSpan.FromMilliseconds(r.PauseBetweenWavesMs)) return;
        }
        r.WaveFinishedAt = null;
        r.CurrentWave++;
        r.UpdatedAt = now;
        notes.Add(new RolloutNote("Normal", "WaveStarted", "", $"wave {r.CurrentWave} of {r.WaveCount - 1}"));
    }

    private static void DecideRollingBack(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes)
    {
        var pending = r.Nodes.Where(n => n.State is RolloutNodeState.Succeeded or RolloutNodeState.RollingBack).ToList();
        if (pending.Count == 0)
        {
            notes.Add(Transition(r, RolloutState.RolledBack, "the plan is undone on every node that applied it", now));
            return;
        }
        // Reverse wave order: the last wave is undone first.
        var wave = pending.Max(n => n.Wave);
        var inflight = r.Nodes.Count(n => n.State == RolloutNodeState.RollingBack);
        foreach (var n in pending.Where(n => n.Wave == wave && n.State == RolloutNodeState.Succeeded))
        {
            if (inflight >= Math.Max(1, r.MaxUnavailable)) break;
            if (!isOnline(n.Name) || n.RunId.Length == 0) continue;
            n.State = RolloutNodeState.RollingBack;
            n.DispatchedAt = now;
            inflight++;
            actions.Add(new RolloutAction.Undo(n.Name, n.RunId));
            notes.Add(new RolloutNote("Normal", "NodeRollingBack", n.Name, $"undoing run {n.RunId}"));
        }
    }

    private static void FailOverdueOfflineNodes(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutNote> notes)
    {
        foreach (var n in r.Nodes.Where(n => n.State is RolloutNodeState.Running or RolloutNodeState.Preparing))
        {
            if (isOnline(n.Name) || n.DispatchedAt is not { } at || now - at < r.NodeDeadline) continue;
            n.State = RolloutNodeState.Failed;
            n.FinishedAt = now;
            n.Message = $"offline past its deadline of {r.NodeDeadline.TotalMinutes:0.#} min";
            r.Failures++;
            notes.Add(new RolloutNote("Warning", "NodeFailed", n.Name, n.Message));
        }
    }

    /// <summary>Applies an agent's report of a run of this rollout; returns the events it causes.</summary>
    public static List<RolloutNote> OnReport(RolloutRecord r, string node, StepReport report, DateTime now)
    {
        var notes = new List<RolloutNote>();
        var n = r.Node(node);
        if (n is null) return notes;
        r.UpdatedAt = now;
        if (report.Phase.Length > 0)
        {
            if (report.State == Protocol.V1.StepState.Running) n.Phase = report.Phase;
            if (report.State == Protocol.V1.StepState.Failed) n.Message = report.Message;
            return notes;
        }
        var state = report.RunState;
        if (report.Stage == StagePrepare && n.State == RolloutNodeState.Preparing)
        {
            if (state == Protocol.V1.RunState.Succeeded) n.State = RolloutNodeState.Prepared;
            else if (state is Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone) Fail(r, n, report.Message, now, notes, "prepare");
        }
        else if (report.Stage == StageApply)
        {
            if (n.State == RolloutNodeState.Running)
            {
                n.RunId = report.RunId;
                if (state == Protocol.V1.RunState.Succeeded)
                {
                    n.State = RolloutNodeState.Succeeded;
                    n.FinishedAt = now;
                    n.Phase = "";
                    notes.Add(new RolloutNote("Normal", "NodeSucceeded", n.Name, $"wave {n.Wave}: plan applied (run {report.RunId})"));
                }
                else if (state is Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
                {
                    Fail(r, n, report.Message, now, notes, "apply");
                }
            }
            else if (n.State == RolloutNodeState.RollingBack && report.RunId == n.RunId && state == Protocol.V1.RunState.Undone)
            {
                n.State = RolloutNodeState.RolledBack;
                n.FinishedAt = now;
                notes.Add(new RolloutNote("Normal", "NodeRolledBack", n.Name, $"run {report.RunId} undone"));
            }
        }
        return notes;
    }

    private static void Fail(RolloutRecord r, RolloutNodeRecord n, string message, DateTime now, List<RolloutNote> notes, string stage)
    {
        n.State = RolloutNodeState.Failed;
        n.FinishedAt = now;
        n.Message = message;
        r.Failures++;
        notes.Add(new RolloutNote("Warning", "NodeFailed", n.Name, $"wave {n.Wave} ({stage}): {message}"));
    }
}
