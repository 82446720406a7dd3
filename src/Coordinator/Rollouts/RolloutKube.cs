using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// The Kubernetes steps of a node in a cluster, in order: cordon → drain → apply (the agent) → wait-ready → uncordon →
/// done. A failed node goes through undo (its run, after wait-ready failed) and recover (wait until Ready at any
/// version, then uncordon what NodeFleet cordoned) to done. Ids are stable: stored, shown and in events.
/// </summary>
public static class KubeSteps
{
    public const string Cordon = "cordon";
    public const string Drain = "drain";
    public const string Apply = "apply";
    public const string WaitReady = "wait-ready";
    public const string Uncordon = "uncordon";
    public const string Undo = "undo";
    public const string Recover = "recover";
    public const string Done = "done";

    /// <summary>The key of spec.timeouts that bounds wait-ready (and the wait for a failed node to be Ready again).</summary>
    public const string WaitReadyTimeoutKey = "wait-ready";

    /// <summary>Steps the coordinator itself runs against the cluster (apply and undo are the agent's).</summary>
    public static bool IsClusterWork(string step) => step is Cordon or Drain or WaitReady or Uncordon or Recover;

    /// <summary>Every step, in order (failed nodes' undo and recover after the others).</summary>
    public static IReadOnlyList<string> All { get; } = [Cordon, Drain, Apply, WaitReady, Uncordon, Undo, Recover, Done];

    /// <summary>Steps during which the node is still out of service: it keeps its max-unavailable place.</summary>
    public static bool Unfinished(string step) => step.Length > 0 && step != Done;

    /// <summary>Every step <see cref="Unfinished"/> holds for (what the LiteDB store looks up through its index).</summary>
    public static IReadOnlyList<string> UnfinishedSteps { get; } = [.. All.Where(Unfinished)];
}

/// <summary>A node's place in its cluster, found when the rollout starts.</summary>
/// <param name="ControlPlaneReached">A control-plane Node of the cluster outside the rollout already runs the plan's version.</param>
public sealed record NodeInCluster(string Cluster, string KubeNodeName, bool ControlPlane, string KubeletVersion, bool ControlPlaneReached = false);

/// <summary>What the controller's cluster work tells the engine, like an agent's report.</summary>
public abstract record KubeReport(string Node, string Step)
{
    /// <summary>The node is cordoned; <paramref name="WasSchedulable"/> says whether the cordon is NodeFleet's.</summary>
    public sealed record Cordoned(string Node, bool WasSchedulable, DateTime At) : KubeReport(Node, KubeSteps.Cordon);

    /// <summary>The drain began (its timeout runs from <paramref name="At"/>, across restarts).</summary>
    public sealed record DrainStarted(string Node, DateTime At) : KubeReport(Node, KubeSteps.Drain);

    /// <summary>The API server accepted an eviction (or onTimeout: delete removed a pod).</summary>
    public sealed record PodRemoved(string Node, string Uid, string Pod, bool Deleted) : KubeReport(Node, KubeSteps.Drain);

    /// <summary>A PodDisruptionBudget refused an eviction (429); the drain retries.</summary>
    public sealed record DrainBlocked(string Node, string Pod, string Budget, string Message) : KubeReport(Node, KubeSteps.Drain);

    /// <summary>The drain ended: no pod to remove is left (<paramref name="Ok"/>), or it failed with the reason.</summary>
    public sealed record Drained(string Node, bool Ok, string Message) : KubeReport(Node, KubeSteps.Drain);

    /// <summary>The end of a wait for the Node to be Ready (at the target version in wait-ready, at any in recover).</summary>
    public sealed record ReadyResult(string Node, string Step, bool Ready, string Message) : KubeReport(Node, Step);

    /// <summary>The uncordon ended: done, or left cordoned with the reason.</summary>
    public sealed record Uncordoned(string Node, bool Done, string Reason) : KubeReport(Node, KubeSteps.Uncordon);

    /// <summary>A step's call failed for good (no such Node, refused): the node fails with the message.</summary>
    public sealed record StepFailed(string Node, string Step, string Message) : KubeReport(Node, Step);
}

/// <summary>The engine's decisions for nodes in a cluster; pure, like the rest of <see cref="RolloutEngine"/>.</summary>
public static partial class RolloutEngine
{
    /// <summary>The cluster call a node needs now, or null (its step is the agent's, or it has none).</summary>
    public static RolloutAction? KubeAction(RolloutNodeRecord n) => n.Cluster.Length == 0 ? null : n.KubeStep switch
    {
        KubeSteps.Cordon => new RolloutAction.Cordon(n.Name),
        KubeSteps.Drain => new RolloutAction.Drain(n.Name),
        // After a rollback's undo the node runs its old version again: Ready at any.
        KubeSteps.WaitReady => new RolloutAction.WaitReady(n.Name, AnyVersion: n.State == RolloutNodeState.RollingBack),
        KubeSteps.Recover => new RolloutAction.WaitReady(n.Name, AnyVersion: true),
        KubeSteps.Uncordon => new RolloutAction.Uncordon(n.Name),
        _ => null,
    };

    /// <summary>
    /// What the kubeadm phase of the node's apply runs: nothing without spec.kubeadm; join for mode join; for an
    /// upgrade, `upgrade apply` on the rollout's first control-plane node (it moves the cluster's control plane) and
    /// `upgrade node` on every other node (on all when a control-plane node outside the rollout was there first).
    /// </summary>
    public static string KubeadmAction(RolloutRecord r, RolloutNodeRecord n, NodePlan plan)
    {
        // Only a control-plane node can be the first: a worker's choice needs no look at the others (a 10,000-node rollout).
        var first = !n.ControlPlane ? null : r.Nodes.Where(x => x.ControlPlane && x.Cluster == n.Cluster).OrderBy(x => x.Wave).ThenBy(x => x.Name, StringComparer.Ordinal).FirstOrDefault();
        return NodeFleet.Coordinator.Clusters.KubeadmActionChoice.For(plan, firstControlPlane: n.ControlPlane && first?.Name == n.Name && !n.ControlPlaneReached);
    }

    /// <summary>The wait-ready deadline: spec.timeouts["wait-ready"], else 5 minutes.</summary>
    public static TimeSpan WaitReadyDeadline(NodePlan plan) =>
        plan.Spec?.Timeouts is { } t && t.TryGetValue(KubeSteps.WaitReadyTimeoutKey, out var d) && d is not null && d.ToTimeSpan() > TimeSpan.Zero
            ? d.ToTimeSpan() : TimeSpan.FromMinutes(5);

    /// <summary>Starts a node in a cluster: its first step is the cordon; the agent gets its request after the drain.</summary>
    private static void StartKube(RolloutNodeRecord n, DateTime now) => Step(n, KubeSteps.Cordon, now);

    /// <summary>
    /// Starts the rollback of a node in a cluster: the cordon and drain of its upgrade are over, so they start afresh
    /// (a node cordoned by someone else since is left cordoned, as on the way up).
    /// </summary>
    private static void StartKubeRollback(RolloutNodeRecord n, DateTime now)
    {
        n.CordonedAt = null;
        n.WasSchedulable = false;
        n.DrainStartedAt = null;
        n.DrainEvicted = [];
        n.DrainDeleted = [];
        n.DrainBlocked = "";
        n.CordonNote = "";
        Step(n, KubeSteps.Cordon, now);
    }

    private static void Step(RolloutNodeRecord n, string step, DateTime now)
    {
        n.KubeStep = step;
        n.KubeStepStartedAt = now;
    }

    /// <summary>A node's upgrade ended in failure while it may be cordoned: it recovers (Ready again, then uncordoned).</summary>
    private static void Recover(RolloutNodeRecord n, DateTime now)
    {
        if (n.Cluster.Length == 0) return;
        n.HoldsSlot = true;
        Step(n, KubeSteps.Recover, now);
    }

    /// <summary>Applies a report of the controller's cluster work; a report for a step the node has left is ignored.</summary>
    public static List<RolloutNote> OnKube(RolloutRecord r, KubeReport k, DateTime now)
    {
        var notes = new List<RolloutNote>();
        var n = r.Node(k.Node);
        if (n is null || n.KubeStep != k.Step) return notes;
        r.UpdatedAt = now;
        switch (k)
        {
            case KubeReport.Cordoned c:
                n.CordonedAt = c.At;
                n.WasSchedulable = c.WasSchedulable;
                n.CordonNote = c.WasSchedulable ? "" : "it was cordoned before the rollout: NodeFleet leaves it cordoned";
                Step(n, KubeSteps.Drain, now);
                notes.Add(new RolloutNote("Normal", "NodeCordoned", n.Name, c.WasSchedulable
                    ? $"wave {n.Wave}: cordoned {n.KubeNodeName} in cluster {n.Cluster}"
                    : $"wave {n.Wave}: {n.KubeNodeName} was already cordoned by someone else; it stays cordoned after the upgrade"));
                break;
            case KubeReport.DrainStarted d:
                n.DrainStartedAt ??= d.At;
                break;
            case KubeReport.PodRemoved p:
                var list = p.Deleted ? n.DrainDeleted : n.DrainEvicted;
                if (!list.Contains(p.Uid)) list.Add(p.Uid);
                if (n.DrainBlocked.StartsWith($"pod {p.Pod},", StringComparison.Ordinal)) n.DrainBlocked = "";
                notes.Add(new RolloutNote(p.Deleted ? "Warning" : "Normal", p.Deleted ? "PodDeleted" : "PodEvicted", n.Name,
                    p.Deleted ? $"drain timed out: deleted pod {p.Pod} without its budget's consent (onTimeout: delete)" : $"evicted pod {p.Pod}"));
                break;
            case KubeReport.DrainBlocked b:
                n.DrainBlocked = $"pod {b.Pod}, budget {b.Budget}: {b.Message}";
                notes.Add(new RolloutNote("Warning", "DrainBlocked", n.Name,
                    $"eviction of pod {b.Pod} refused by PodDisruptionBudget {b.Budget}: {b.Message}; retrying"));
                break;
            case KubeReport.Drained d when d.Ok && n.State == RolloutNodeState.RollingBack:
                n.DrainBlocked = "";
                Step(n, KubeSteps.Undo, now);
                Dispatched(n, RolloutNodeState.RollingBack, now);
                notes.Add(new RolloutNote("Normal", "NodeDrained", n.Name, $"{d.Message}; undoing run {n.RunId}"));
                break;
            case KubeReport.Drained d when d.Ok:
                n.DrainBlocked = "";
                Step(n, KubeSteps.Apply, now);
                Dispatched(n, RolloutNodeState.Running, now);
                notes.Add(new RolloutNote("Normal", "NodeDrained", n.Name, $"wave {n.Wave}: {d.Message}; applying plan {r.PlanName} generation {r.Generation}"));
                break;
            case KubeReport.Drained d:
                Fail(r, n, d.Message, now, notes, "drain");
                Recover(n, now);
                break;
            case KubeReport.ReadyResult { Step: KubeSteps.WaitReady } w when w.Ready:
                Step(n, KubeSteps.Uncordon, now);
                notes.Add(new RolloutNote("Normal", EventReasons.NodeReady, n.Name, $"wave {n.Wave}: {w.Message}"));
                break;
            case KubeReport.ReadyResult { Step: KubeSteps.WaitReady } w when n.State == RolloutNodeState.RollingBack:
                // Its run is undone but the Node is not Ready: left as it is, cordoned, saying why.
                Fail(r, n, $"rollback: {w.Message}", now, notes, "rollback");
                n.HoldsSlot = false;
                Step(n, KubeSteps.Done, now);
                if (n.CordonedAt is not null && n.WasSchedulable)
                {
                    n.CordonNote = $"left cordoned: its run is undone but {w.Message}; uncordon it once it is healthy";
                    notes.Add(new RolloutNote("Warning", "NodeLeftCordoned", n.Name, n.CordonNote));
                }
                break;
            case KubeReport.ReadyResult { Step: KubeSteps.WaitReady } w:
                Fail(r, n, w.Message, now, notes, "wait-ready");
                n.HoldsSlot = true;
                Step(n, KubeSteps.Undo, now);
                notes.Add(new RolloutNote("Normal", "NodeRollingBack", n.Name, $"undoing run {n.RunId}: the node did not become Ready"));
                break;
            case KubeReport.ReadyResult w when w.Ready:
                Step(n, KubeSteps.Uncordon, now);
                break;
            case KubeReport.ReadyResult w:
                n.HoldsSlot = false;
                Step(n, KubeSteps.Done, now);
                if (n.CordonedAt is not null && n.WasSchedulable)
                {
                    n.CordonNote = $"left cordoned: it is not Ready again ({w.Message}); uncordon it once it is healthy";
                    notes.Add(new RolloutNote("Warning", "NodeLeftCordoned", n.Name, n.CordonNote));
                }
                break;
            case KubeReport.Uncordoned u:
                Step(n, KubeSteps.Done, now);
                n.HoldsSlot = false;
                if (u.Done) n.CordonNote = "";
                else if (n.CordonedAt is not null && !n.WasSchedulable) n.CordonNote = "left cordoned: " + u.Reason;
                notes.Add(new RolloutNote(u.Done || n.CordonedAt is null ? "Normal" : "Warning", u.Done ? EventReasons.NodeUncordoned : "NodeLeftCordoned", n.Name,
                    u.Done ? "uncordoned" : n.CordonedAt is null ? "never cordoned: nothing to undo" : $"left cordoned: {u.Reason}"));
                if (n.State == RolloutNodeState.RollingBack)
                {
                    n.State = RolloutNodeState.RolledBack;
                    n.FinishedAt = now;
                    n.Phase = "";
                    n.PhaseStartedAt = null;
                    notes.Add(new RolloutNote("Normal", "NodeRolledBack", n.Name, $"run {n.RunId} undone, Ready, uncordoned"));
                }
                if (n.State == RolloutNodeState.Running)
                {
                    n.State = RolloutNodeState.Succeeded;
                    n.FinishedAt = now;
                    n.Phase = "";
                    n.PhaseStartedAt = null;
                    notes.Add(new RolloutNote("Normal", EventReasons.NodeSucceeded, n.Name, $"wave {n.Wave}: plan applied (run {n.RunId}), Ready, uncordoned"));
                }
                break;
            case KubeReport.StepFailed f:
                if (n.State is RolloutNodeState.Running or RolloutNodeState.RollingBack)
                {
                    Fail(r, n, $"{f.Step}: {f.Message}", now, notes, f.Step);
                    Recover(n, now);
                }
                else
                {
                    // A failed node's own recovery failed: it is left as it is, saying why.
                    n.HoldsSlot = false;
                    Step(n, KubeSteps.Done, now);
                    if (n.CordonedAt is not null && n.WasSchedulable)
                    {
                        n.CordonNote = $"left cordoned: {f.Step} failed: {f.Message}";
                        notes.Add(new RolloutNote("Warning", "NodeLeftCordoned", n.Name, n.CordonNote));
                    }
                }
                break;
        }
        return notes;
    }

    /// <summary>
    /// The agent's end of a run of a node in a cluster, whose upgrade continues on the coordinator: applied → wait-ready;
    /// failed → recover; the undo of a run that never became Ready → recover. False when the report is not about one.
    /// </summary>
    private static bool OnKubeRunEnd(RolloutRecord r, RolloutNodeRecord n, StepReport report, DateTime now, List<RolloutNote> notes)
    {
        if (n.Cluster.Length == 0 || report.Stage != StageApply) return false;
        var state = report.RunState;
        if (n.State == RolloutNodeState.Running && n.KubeStep == KubeSteps.Apply)
        {
            n.RunId = report.RunId;
            if (state == Protocol.V1.RunState.Succeeded)
            {
                Step(n, KubeSteps.WaitReady, now);
                notes.Add(new RolloutNote("Normal", EventReasons.NodeApplied, n.Name, $"wave {n.Wave}: plan applied (run {report.RunId}); waiting for the Node to be Ready"));
            }
            else if (state is Protocol.V1.RunState.Failed or Protocol.V1.RunState.Undone)
            {
                Fail(r, n, report.Message, now, notes, "apply");
                Recover(n, now);
            }
            return true;
        }
        if (n.State == RolloutNodeState.RollingBack && n.KubeStep == KubeSteps.Undo && report.RunId == n.RunId
            && state is Protocol.V1.RunState.Undone or Protocol.V1.RunState.Failed)
        {
            if (state == Protocol.V1.RunState.Undone)
            {
                Step(n, KubeSteps.WaitReady, now);
                notes.Add(new RolloutNote("Normal", "NodeUndone", n.Name, $"run {report.RunId} undone; waiting for the Node to be Ready"));
            }
            else
            {
                Fail(r, n, $"undo of run {report.RunId} failed: {report.Message}", now, notes, "rollback");
                Recover(n, now);
            }
            return true;
        }
        if (n.State == RolloutNodeState.Failed && n.KubeStep == KubeSteps.Undo && report.RunId == n.RunId
            && state is Protocol.V1.RunState.Undone or Protocol.V1.RunState.Failed)
        {
            notes.Add(new RolloutNote(state == Protocol.V1.RunState.Undone ? "Normal" : "Warning", "NodeRolledBack", n.Name,
                state == Protocol.V1.RunState.Undone ? $"run {report.RunId} undone" : $"undo of run {report.RunId} failed: {report.Message}"));
            Recover(n, now);
            return true;
        }
        return false;
    }
}
