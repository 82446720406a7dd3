using NodeFleet.Config;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>Something the controller must do after the decision is persisted.</summary>
public abstract record RolloutAction(string Node)
{
    public sealed record Apply(string Node, string Stage) : RolloutAction(Node);
    public sealed record Undo(string Node, string RunId) : RolloutAction(Node);
    /// <summary>Cordon the node in its cluster (the controller runs it in the background and reports back).</summary>
    public sealed record Cordon(string Node) : RolloutAction(Node);
    /// <summary>Drain the node per spec.drain, resuming the drain's persisted progress.</summary>
    public sealed record Drain(string Node) : RolloutAction(Node);
    /// <summary>Wait for the Node to be Ready: at the plan's version, or at any (a failed node recovering).</summary>
    public sealed record WaitReady(string Node, bool AnyVersion) : RolloutAction(Node);
    /// <summary>Uncordon the node if NodeFleet cordoned it.</summary>
    public sealed record Uncordon(string Node) : RolloutAction(Node);
}

/// <summary>An event to record with the decision (reason, node or "", message).</summary>
public sealed record RolloutNote(string Type, string Reason, string Node, string Message);

/// <summary>
/// The rollout aggregate's behaviour, free of I/O: guarded transitions, wave planning, and the decision of what to
/// start next given which nodes are online. The controller persists the record and the notes, then acts.
/// </summary>
public static partial class RolloutEngine
{
    public const string StagePrepare = NodeFleet.Plans.RolloutStages.Prepare;
    public const string StageApply = NodeFleet.Plans.RolloutStages.Apply;

    /// <summary>The reason of the note a wave's start makes.</summary>
    public const string WaveStarted = "WaveStarted";

    /// <summary>
    /// Whether <paramref name="note"/> says a decision moved the rollout on (it started preparing or rolling, a wave
    /// started), after which deciding again at once may start more: the next wave's nodes.
    /// </summary>
    public static bool MovedOn(RolloutNote note) =>
        note.Reason == WaveStarted || note.Reason == TransitionReason(RolloutState.Preparing) || note.Reason == TransitionReason(RolloutState.Rolling);

    /// <summary>The reason of the note a move to <paramref name="to"/> makes (<see cref="Transition"/>).</summary>
    private static string TransitionReason(RolloutState to) => $"Rollout{to}";

    /// <summary>
    /// Splits the nodes into waves: the canary first, then waves of at most maxUnavailable nodes. Control-plane nodes
    /// (<paramref name="clusters"/>) go before all others, each in a wave of its own whatever maxUnavailable says; the
    /// first of them is then the canary (wave 0), and the other nodes follow in waves of maxUnavailable.
    /// </summary>
    public static void PlanWaves(RolloutRecord r, IEnumerable<string> nodes, IReadOnlyDictionary<string, NodeInCluster>? clusters = null)
    {
        var ordered = nodes.OrderBy(n => n, StringComparer.Ordinal).ToList();
        NodeInCluster? Of(string name) => clusters is not null && clusters.TryGetValue(name, out var c) ? c : null;
        var controlPlane = ordered.Where(n => Of(n)?.ControlPlane == true).ToList();
        var others = ordered.Where(n => Of(n)?.ControlPlane != true).ToList();
        var canary = controlPlane.Count > 0 ? 0 : Math.Min(Math.Max(r.Canary, 0), others.Count);
        r.Nodes = [];
        foreach (var name in controlPlane) Add(name, r.Nodes.Count);
        var first = controlPlane.Count;
        for (var i = 0; i < others.Count; i++)
            Add(others[i], canary > 0 && i < canary ? 0 : first + (canary > 0 ? 1 : 0) + (i - canary) / Math.Max(1, r.MaxUnavailable));
        r.WaveCount = r.Nodes.Count == 0 ? 0 : r.Nodes.Max(n => n.Wave) + 1;

        void Add(string name, int wave)
        {
            var c = Of(name);
            r.Nodes.Add(new RolloutNodeRecord
            {
                Name = name, Wave = wave, State = RolloutNodeState.Pending,
                Cluster = c?.Cluster ?? "", KubeNodeName = c?.KubeNodeName ?? "", ControlPlane = c?.ControlPlane ?? false,
                ControlPlaneReached = c?.ControlPlaneReached ?? false,
            });
        }
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
        return new RolloutNote(type, TransitionReason(to), "", $"{RolloutTransitions.Name(from)} → {RolloutTransitions.Name(to)}" + (reason.Length > 0 ? $": {reason}" : ""));
    }

    /// <summary>Decides what to start now under maintenance windows, with no gate observations.</summary>
    public static (List<RolloutAction> Actions, List<RolloutNote> Notes) Decide(RolloutRecord r, Func<string, bool> isOnline, DateTime now,
        Windows.WindowBook? windows) => Decide(r, isOnline, now, null, windows);

    /// <summary>Decides what to start now; mutates <paramref name="r"/> and returns the actions and events.</summary>
    /// <param name="gates">What the gates observe (Prometheus, the cluster); null: nothing to observe.</param>
    /// <param name="windows">The maintenance windows (RolloutEngine.Windows.cs); null: none restricts any node.</param>
    public static (List<RolloutAction> Actions, List<RolloutNote> Notes) Decide(RolloutRecord r, Func<string, bool> isOnline, DateTime now,
        Gates.IGateObservations? gates = null, Windows.WindowBook? windows = null)
    {
        gates ??= Gates.NoGateObservations.Instance;
        var actions = new List<RolloutAction>();
        var notes = new List<RolloutNote>();
        FailOverdueNodes(r, isOnline, now, notes);
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
                DecideRolling(r, isOnline, now, actions, notes, gates, windows);
                break;
            case RolloutState.Paused:
                Gates.GateEngine.DecidePaused(r, gates, now, notes);
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

    /// <summary>Failures that count against the error budget: all of them but those the operator accepted.</summary>
    public static int CountedFailures(RolloutRecord r) => Math.Max(0, r.Failures - r.AcceptedFailures);

    public static bool BudgetSpent(RolloutRecord r) => CountedFailures(r) >= Math.Max(1, r.MaxFailures);

    /// <summary>"error budget spent: 2 failure(s), max 2" (and how many accepted ones it leaves out).</summary>
    public static string BudgetSpentReason(RolloutRecord r) =>
        $"error budget spent: {CountedFailures(r)} failure(s), max {r.MaxFailures}" +
        (r.AcceptedFailures > 0 ? $" (not counting {r.AcceptedFailures} accepted)" : "");

    /// <summary>A failed canary node the operator has not accepted: it keeps the rollout from going past wave 0.</summary>
    public static RolloutNodeRecord? FailedCanary(RolloutRecord r) => r.Canary > 0
        ? r.Nodes.FirstOrDefault(n => n.Wave == 0 && n.State == RolloutNodeState.Failed && !n.FailureAccepted)
        : null;

    /// <summary>Marks <paramref name="n"/> sent its request now: in flight, in no phase yet, online.</summary>
    private static void Dispatched(RolloutNodeRecord n, RolloutNodeState state, DateTime now)
    {
        n.State = state;
        n.DispatchedAt = now;
        n.Phase = "";
        n.PhaseStartedAt = now;
        n.OfflineSince = null;
    }

    private static void DecidePreparing(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes)
    {
        if (BudgetSpent(r))
        {
            notes.Add(Transition(r, RolloutState.Paused, BudgetSpentReason(r), now));
            return;
        }
        var inflight = r.Nodes.Count(n => n.State == RolloutNodeState.Preparing);
        foreach (var n in r.Nodes.Where(n => n.State == RolloutNodeState.Pending))
        {
            if (inflight >= Math.Max(1, r.PrepareConcurrency)) break;
            if (!isOnline(n.Name)) continue;
            Dispatched(n, RolloutNodeState.Preparing, now);
            inflight++;
            actions.Add(new RolloutAction.Apply(n.Name, StagePrepare));
        }
        if (r.Nodes.All(n => n.State is RolloutNodeState.Prepared or RolloutNodeState.Failed or RolloutNodeState.Skipped))
            StartRolling(r, now, notes);
    }

    private static void DecideRolling(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes,
        Gates.IGateObservations gates, Windows.WindowBook? windows)
    {
        var wave = r.Nodes.Where(n => n.Wave == r.CurrentWave).ToList();
        if (r.CurrentWave == 0 && FailedCanary(r) is { } canary)
        {
            notes.Add(Transition(r, RolloutState.Paused, $"canary node {canary.Name} failed: {canary.Message}", now));
            return;
        }
        if (BudgetSpent(r))
        {
            notes.Add(Transition(r, RolloutState.Paused, BudgetSpentReason(r), now));
            return;
        }
        // Unavailable: nodes in a disruptive run (also one failed by its deadline whose run has not ended), and
        // selected nodes that are offline.
        var unavailable = r.Nodes.Count(n => n.State == RolloutNodeState.Running || n.HoldsSlot || !isOnline(n.Name));
        var gate = new WindowGate(r, windows, now);
        foreach (var n in wave.Where(n => n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared))
        {
            if (unavailable >= Math.Max(1, r.MaxUnavailable)) break;
            if (!gate.Allows(n)) continue;
            if (!isOnline(n.Name)) continue;
            if (Gates.GateEngine.HoldBack(r, n, gates, now, notes)) continue;
            Dispatched(n, RolloutNodeState.Running, now);
            n.StartedAt = now;
            unavailable++;
            if (n.Cluster.Length > 0)
            {
                // In a cluster, the agent gets its request once the node is cordoned and drained.
                StartKube(n, now);
                actions.Add(new RolloutAction.Cordon(n.Name));
                notes.Add(new RolloutNote("Normal", "NodeStarted", n.Name, $"wave {n.Wave}: cordoning and draining {n.KubeNodeName} in cluster {n.Cluster}, then applying plan {r.PlanName} generation {r.Generation}"));
                continue;
            }
            actions.Add(new RolloutAction.Apply(n.Name, StageApply));
            notes.Add(new RolloutNote("Normal", "NodeStarted", n.Name, $"wave {n.Wave}: applying plan {r.PlanName} generation {r.Generation}"));
        }
        gate.Record(r.CurrentWave, notes);
        // A failed node of a cluster still being undone or uncordoned keeps its wave open (and its place).
        if (!wave.All(n => n.State is RolloutNodeState.Succeeded or RolloutNodeState.Failed or RolloutNodeState.Skipped
            && !(n.Cluster.Length > 0 && KubeSteps.Unfinished(n.KubeStep) && n.HoldsSlot))) return;
        if (r.CurrentWave >= r.WaveCount - 1)
        {
            notes.Add(r.Failures > 0
                ? Transition(r, RolloutState.Failed, $"{r.Failures} node(s) failed" + (r.AcceptedFailures > 0 ? $" ({r.AcceptedFailures} accepted by the operator)" : ""), now)
                : Transition(r, RolloutState.Succeeded, $"{r.Nodes.Count} node(s) updated", now));
            return;
        }
        if (!Gates.GateEngine.Pass(r, gates, now, notes)) return;
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
        notes.Add(new RolloutNote("Normal", WaveStarted, "", $"wave {r.CurrentWave} of {r.WaveCount - 1}"));
    }

    private static void DecideRollingBack(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutAction> actions, List<RolloutNote> notes)
    {
        var pending = r.Nodes.Where(n => n.State is RolloutNodeState.Succeeded or RolloutNodeState.RollingBack).ToList();
        // A node of a cluster whose undo failed is still being put back into service (Ready, uncordoned).
        if (pending.Count == 0 && r.Nodes.Any(n => n.Cluster.Length > 0 && n.HoldsSlot && KubeSteps.Unfinished(n.KubeStep))) return;
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
            Dispatched(n, RolloutNodeState.RollingBack, now);
            inflight++;
            if (n.Cluster.Length > 0)
            {
                // Like its upgrade: cordoned and drained before the agent undoes the run, then Ready and uncordoned.
                StartKubeRollback(n, now);
                actions.Add(new RolloutAction.Cordon(n.Name));
                notes.Add(new RolloutNote("Normal", "NodeRollingBack", n.Name, $"cordoning and draining {n.KubeNodeName} in cluster {n.Cluster}, then undoing run {n.RunId}"));
                continue;
            }
            actions.Add(new RolloutAction.Undo(n.Name, n.RunId));
            notes.Add(new RolloutNote("Normal", "NodeRollingBack", n.Name, $"undoing run {n.RunId}"));
        }
    }

    /// <summary>
    /// Fails the nodes in flight (preparing or running) that are past a deadline. Online: in one phase longer than
    /// that phase's --phase-deadline, counted from when the node entered it. Offline: offline longer than the deadline
    /// of the phase it is in, counted from when it went offline or entered the phase, whichever is later; the sum of
    /// the deadlines (30 minutes when none is set) when the phase has none or is not known yet. Such a failure counts
    /// against the error budget like any other.
    /// </summary>
    private static void FailOverdueNodes(RolloutRecord r, Func<string, bool> isOnline, DateTime now, List<RolloutNote> notes)
    {
        foreach (var n in r.Nodes)
        {
            if (n.State is not (RolloutNodeState.Running or RolloutNodeState.Preparing)) continue;
            var since = n.PhaseStartedAt ?? n.DispatchedAt;
            if (isOnline(n.Name))
            {
                if (n.OfflineSince is not null)
                {
                    n.OfflineSince = null;
                    r.UpdatedAt = now;
                }
                // Records stored before PhaseStartedAt was kept have no start for their phase: it is timed from the next one.
                if (n.PhaseStartedAt is not { } entered || r.PhaseDeadline(n.Phase) is not { } deadline || now - entered <= deadline) continue;
                TimeOut(r, n, $"phase {n.Phase} exceeded its deadline of {Durations.Format(deadline)} (running {Elapsed(now - entered)})", now, notes,
                    runGoing: n.Phase.Length > 0);
                continue;
            }
            if (n.OfflineSince is null)
            {
                n.OfflineSince = now;
                r.UpdatedAt = now;
            }
            var from = since is { } s && s > n.OfflineSince.Value ? s : n.OfflineSince.Value;
            var own = r.PhaseDeadline(n.Phase);
            var limit = own ?? r.NodeDeadline;
            if (now - from <= limit) continue;
            var where = n.Phase.Length > 0 ? $"in phase {n.Phase}" : "before reporting a phase";
            var offline = Elapsed(now - n.OfflineSince.Value);
            TimeOut(r, n, own is not null
                ? $"offline for {offline} {where}, past its deadline of {Durations.Format(limit)}"
                : $"offline for {offline} {where}, past the node deadline of {Durations.Format(limit)} ({(r.PhaseDeadlinesMs.Count > 0 ? "the sum of the phase deadlines" : "the default")})",
                now, notes);
        }
    }

    /// <summary>A time past a deadline in whole seconds, rounded up: "47s" for 46.2 s, so it never reads as the deadline itself.</summary>
    private static string Elapsed(TimeSpan t) =>
        t < TimeSpan.FromSeconds(1) ? Durations.Format(t) : Durations.Format(TimeSpan.FromSeconds(Math.Ceiling(t.TotalSeconds)));

    /// <param name="runGoing">
    /// The node is online and reporting the run (it has a phase): failed while applying, it keeps its max-unavailable
    /// place until the run ends. A node failed offline holds none: it is counted unavailable while offline anyway, and
    /// back online it may never report the run (it never got the request, or lost its journal) — a place held for a
    /// run that does not exist would stall the rollout for good.
    /// </param>
    private static void TimeOut(RolloutRecord r, RolloutNodeRecord n, string message, DateTime now, List<RolloutNote> notes, bool runGoing = false)
    {
        var stage = n.State == RolloutNodeState.Preparing ? StagePrepare : StageApply;
        n.TimedOut = true;
        n.HoldsSlot = stage == StageApply && runGoing;
        Fail(r, n, message, now, notes, stage);
        // In a cluster, a node failed before or after its run recovers (Ready, uncordoned); one failed during its run
        // does so once the run's late result arrives.
        if (n.Cluster.Length > 0 && KubeSteps.Unfinished(n.KubeStep) && !(n.KubeStep == KubeSteps.Apply && runGoing)) Recover(n, now);
    }

    /// <summary>
    /// Applies an agent's report of a run of this rollout; returns the events it causes. A node's phase is taken
    /// only from reports of the request it is in flight for. A node the rollout failed by a deadline stays failed
    /// whatever its run reports later: the run's outcome is added to its message and recorded as an event, once.
    /// </summary>
    public static List<RolloutNote> OnReport(RolloutRecord r, string node, StepReport report, DateTime now)
    {
        var notes = new List<RolloutNote>();
        var n = r.Node(node);
        if (n is null) return notes;
        r.UpdatedAt = now;
        var current = n.State switch
        {
            RolloutNodeState.Preparing => report.Stage == StagePrepare,
            RolloutNodeState.Running or RolloutNodeState.RollingBack => report.Stage == StageApply,
            _ => false,
        };
        if (report.Phase.Length > 0)
        {
            if (!current) return notes;
            if (report.State == Protocol.V1.StepState.Running && n.Phase != report.Phase)
            {
                n.Phase = report.Phase;
                n.PhaseStartedAt = now;
            }
            if (report.State == Protocol.V1.StepState.Failed) n.Message = report.Message;
            return notes;
        }
        if (OnKubeRunEnd(r, n, report, now, notes)) return notes;
        var state = report.RunState;
        if (report.Stage == StagePrepare && n.State == RolloutNodeState.Preparing)
        {
            if (state == Protocol.V1.RunState.Succeeded) n.State = RolloutNodeState.Prepared;
            else if (state is Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone) Fail(r, n, report.Message, now, notes, "prepare");
        }
        else if (report.Stage == StageApply && n.State == RolloutNodeState.Running)
        {
            n.RunId = report.RunId;
            if (state == Protocol.V1.RunState.Succeeded)
            {
                n.State = RolloutNodeState.Succeeded;
                n.FinishedAt = now;
                n.Phase = "";
                n.PhaseStartedAt = null;
                notes.Add(new RolloutNote("Normal", NodeFleet.Plans.EventReasons.NodeSucceeded, n.Name, $"wave {n.Wave}: plan applied (run {report.RunId})"));
            }
            else if (state is Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
            {
                Fail(r, n, report.Message, now, notes, "apply");
            }
        }
        else if (report.Stage == StageApply && n.State == RolloutNodeState.RollingBack && report.RunId == n.RunId && state == Protocol.V1.RunState.Undone)
        {
            n.State = RolloutNodeState.RolledBack;
            n.FinishedAt = now;
            n.Phase = "";
            n.PhaseStartedAt = null;
            notes.Add(new RolloutNote("Normal", "NodeRolledBack", n.Name, $"run {report.RunId} undone"));
        }
        else if (n is { State: RolloutNodeState.Failed, TimedOut: true, LateResult.Length: 0 } && report.Stage.Length > 0
            && state is Protocol.V1.RunState.Succeeded or Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
        {
            LateResult(n, report, notes, now);
        }
        return notes;
    }

    /// <summary>The outcome of the run of a node the rollout had already failed by its deadline: noted, never acted on.</summary>
    private static void LateResult(RolloutNodeRecord n, StepReport report, List<RolloutNote> notes, DateTime now)
    {
        var stage = report.Stage == StagePrepare ? "preparation" : "run";
        var succeeded = report.RunState == Protocol.V1.RunState.Succeeded;
        var outcome = succeeded
            ? report.Stage == StagePrepare ? "succeeded" : $"succeeded: the plan is applied on the node (run {report.RunId})"
            : report.RunState == Protocol.V1.RunState.Undone ? $"failed and was undone" : "failed";
        if (!succeeded && report.Message.Length > 0) outcome += $": {report.Message}";
        n.LateResult = outcome;
        n.HoldsSlot = false;
        if (n.Cluster.Length > 0 && n.KubeStep == KubeSteps.Apply) Recover(n, now);
        if (succeeded && report.Stage == StageApply && n.RunId.Length == 0) n.RunId = report.RunId;
        n.Message += $"; its {stage} later {outcome}";
        notes.Add(new RolloutNote(succeeded ? "Warning" : "Normal", "NodeLateResult", n.Name,
            $"wave {n.Wave}: the {stage} of a node already failed by its deadline {outcome}; it stays failed in this rollout"));
    }

    private static void Fail(RolloutRecord r, RolloutNodeRecord n, string message, DateTime now, List<RolloutNote> notes, string stage)
    {
        n.State = RolloutNodeState.Failed;
        n.FinishedAt = now;
        n.Message = message;
        r.Failures++;
        notes.Add(new RolloutNote("Warning", NodeFleet.Plans.EventReasons.NodeFailed, n.Name, $"wave {n.Wave} ({stage}): {message}"));
    }
}
