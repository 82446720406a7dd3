using System.Collections.Concurrent;
using Google.Protobuf;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// Drives active rollouts: applies agents' reports to them, decides what starts next, persists every change with
/// its events before acting, then sends the plans. One loop, so decisions never race. After a coordinator restart it
/// picks up from the store; nodes in flight get their request again (the agents' journals make that idempotent).
/// With several coordinators it runs only on the holder of the singleton lease, and every pass's write checks that lease
/// (fencing): a coordinator that took the lease over starts afresh from the store, as after a restart.
/// </summary>
public sealed partial class RolloutController(ICoordinatorStore store, Presence presence, EventBus events,
    NodeFleet.Coordinator.Observability.RolloutMetrics metrics,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(Windows.RolloutClock.Key)] TimeProvider time, ILogger<RolloutController> log,
    NodeFleet.Coordinator.Messaging.NodeMessages messages,
    NodeFleet.Coordinator.Clusters.INodeClusters? clusters = null, NodeFleet.Coordinator.Clusters.DrainerOptions? drainerOptions = null,
    Coordinators.SingletonLease? singleton = null, Coordinators.CoordinatorIdentity? me = null) : BackgroundService
{
    // Event-driven: a report, a start or an operator's change wakes the controller at once. The tick is a safety net for
    // what time alone moves (deadlines, windows, gates, pauses between waves, nodes coming online); while another
    // coordinator shares the store it is shorter, since reports queued there for this one wake nothing here.
    private static readonly TimeSpan SafetyTick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SharedStoreTick = TimeSpan.FromMilliseconds(250);
    // While reports pour in, a pass waits twice as long as the last one took since it began, so that each batches more
    // reports and the controller takes at most about a third of a core; a cheap pass (a small rollout) hardly waits.
    private const int PassSpacing = 2;
    private static readonly TimeSpan MaxSpacing = TimeSpan.FromMilliseconds(500);
    /// <summary>Reports queued by other coordinators taken per pass (more wait for the next one).</summary>
    private const int MaxForwardedPerPass = 5000;
    private readonly ConcurrentQueue<(string Node, StepReport Report)> _reports = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    // Requests sent by this process, with the stream (session) each went out on; anything in flight that was not sent
    // (after a restart), or was sent on a stream the node has since replaced (it reconnected and may never have read
    // it), is sent again. Agents' journals make a repeated request harmless.
    private readonly Dictionary<(string Rollout, string Node, string Stage), long> _dispatched = [];
    // The fencing token of the lease this controller last acted under (0: none): memory from another tenure is dropped.
    private long _tenure;
    // The active rollouts as this controller last read or wrote them, for its tenure: a pass reads only the rollouts'
    // revisions and reads again the ones that changed, instead of every node of every rollout.
    private readonly Dictionary<string, RolloutRecord> _active = new(StringComparer.Ordinal);
    // A pass's write is under way: if its lambda runs again, or it fails, what it changed in memory was not stored.
    private bool _writing;

    // Set by what may change any rollout (a start, an operator's change, a gate's or cluster work's result, the tick):
    // the next pass decides every active rollout; a pass woken by reports alone decides only the rollouts they are of.
    private volatile bool _full = true;

    public void OnReport(string node, StepReport report)
    {
        if (report.RolloutId.Length == 0) return;
        _reports.Enqueue((node, report));
        Signal();
    }

    /// <summary>
    /// Null when this coordinator applies <paramref name="report"/> itself (it holds the singleton lease, or there is no
    /// lease, or the report is of no rollout); else what queues it in the store for the holder, to be written in the
    /// transaction that records the report, so that a report acknowledged to the agent is never lost to the rollout.
    /// </summary>
    public Action<IStoreWriter>? ForwardFor(string node, StepReport report)
    {
        if (report.RolloutId.Length == 0 || singleton is null || singleton.Current is not null) return null;
        return s => s.RolloutReports.Add(new RolloutReportRecord
        {
            Node = node, RolloutId = report.RolloutId, Report = report.ToByteArray(), QueuedAt = time.GetUtcNow().UtcDateTime,
        });
    }

    public void Wake()
    {
        _full = true;
        Signal();
    }

    private void Signal()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastPass = time.GetTimestamp();
        var spacing = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!await _wake.WaitAsync(_othersAlive ? SharedStoreTick : SafetyTick, stoppingToken)) _full = true;
                var since = time.GetElapsedTime(lastPass);
                if (since < spacing) await Task.Delay(spacing - since, time, stoppingToken);
                // Whatever woke it meanwhile is taken by this pass.
                while (_wake.Wait(0)) { }
                var full = _full;
                _full = false;
                if (!full && _reports.IsEmpty && _kubeReports.IsEmpty) continue;
                lastPass = time.GetTimestamp();
                await RunOnceAsync(full, stoppingToken);
                var took = time.GetElapsedTime(lastPass);
                spacing = took * PassSpacing < MaxSpacing ? took * PassSpacing : MaxSpacing;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _full = true;
                log.LogError(e, "Rollout controller pass failed");
            }
        }
    }

    /// <summary>
    /// The lease to act under, or null when this coordinator must not act; what was remembered in memory from another
    /// tenure (requests sent, cluster work under way, reports not yet applied) is dropped, and what matters is read from
    /// the store again.
    /// </summary>
    private bool TryBeginPass(out Lease? lease)
    {
        lease = singleton?.Current;
        if (singleton is null) return true;
        var token = lease?.Token ?? 0;
        if (token != _tenure)
        {
            if (_tenure != 0) log.LogWarning("Rollout controller: the singleton lease (fencing token {Token}) is no longer held here; stopped", _tenure);
            _dispatched.Clear();
            _active.Clear();
            _finishing.Clear();
            _finishingResumed = false;
            foreach (var (_, work) in _clusterWork)
            {
                try { work.Cancel.Cancel(); } catch (ObjectDisposedException) { }
            }
            _clusterWork.Clear();
            _tenure = token;
            if (token != 0) log.LogInformation("Rollout controller: acting under the singleton lease (fencing token {Token}), from the store", token);
        }
        if (lease is not null) return true;
        // The cluster work was cancelled: the next holder starts it again from the progress stored.
        while (_kubeReports.TryDequeue(out _)) { }
        return false;
    }

    /// <summary>
    /// Reports that reached this coordinator while it held the lease and were not applied before it lost it: queued in the
    /// store for the next holder (put back to try again when the store does not answer).
    /// </summary>
    private async Task HandOverAsync()
    {
        var left = new List<(string Node, StepReport Report)>();
        while (_reports.TryDequeue(out var r)) left.Add(r);
        if (left.Count == 0) return;
        var now = time.GetUtcNow().UtcDateTime;
        try
        {
            await store.WriteAsync(s =>
            {
                foreach (var (node, report) in left)
                    s.RolloutReports.Add(new RolloutReportRecord { Node = node, RolloutId = report.RolloutId, Report = report.ToByteArray(), QueuedAt = now });
            });
        }
        catch (Exception)
        {
            foreach (var r in left) _reports.Enqueue(r);
            throw;
        }
    }

    /// <summary>A pass whose write was not committed (the lease lost, the store unreachable) puts its reports back.</summary>
    private async Task<T> ReportsBackUnlessCommitted<T>(List<(string Node, StepReport Report)> batch, Task<T> write)
    {
        try { return await write; }
        catch (Exception e) when (e is Errors.LeaseLostException or IOException)
        {
            // For the next pass here, or handed over to the next holder.
            foreach (var r in batch) _reports.Enqueue(r);
            throw;
        }
    }

    /// <summary>One pass that decides every active rollout.</summary>
    internal Task RunOnceAsync(CancellationToken ct) => RunOnceAsync(full: true, ct);

    private async Task RunOnceAsync(bool full, CancellationToken ct)
    {
        if (!TryBeginPass(out var lease))
        {
            await HandOverAsync();
            return;
        }
        ResumeFinishing();
        var now = time.GetUtcNow().UtcDateTime;
        RefreshRemoteOnline(now);
        var batch = new List<(string Node, StepReport Report)>();
        while (_reports.TryDequeue(out var r)) batch.Add(r);
        var local = batch.GroupBy(b => b.Report.RolloutId).ToDictionary(g => g.Key, g => g.ToList());
        var kubeBatch = new List<(string Rollout, KubeReport Report)>();
        while (_kubeReports.TryDequeue(out var k)) kubeBatch.Add(k);
        var kube = kubeBatch.GroupBy(b => b.Rollout).ToDictionary(g => g.Key, g => g.Select(x => x.Report).ToList());

        // One write per pass, reading the active rollouts' revisions (and a rollout again only when it changed in the
        // store) and writing what changed at most once: its new reports, then the decision they lead to.
        var over = new List<RolloutRecord>();
        List<(RolloutRecord Rollout, List<RolloutAction> Actions)> decisions;
        try
        {
            decisions = await ReportsBackUnlessCommitted(batch, store.WriteAsync(s =>
            {
                // A write that ran before without committing (its records in memory changed, not stored): read them again.
                if (_writing) _active.Clear();
                _writing = true;
                // Fencing: the pass commits only while the lease is still this coordinator's (PostgreSQL locks its row until then).
                if (lease is not null) s.RequireLease(lease);
                over.Clear();
                // Reports that reached other coordinators, taken from the store in this write: applied exactly once.
                var reports = local.ToDictionary(kv => kv.Key, kv => kv.Value.ToList());
                if (lease is not null)
                {
                    foreach (var q in s.RolloutReports.Take(MaxForwardedPerPass))
                    {
                        StepReport parsed;
                        try { parsed = StepReport.Parser.ParseFrom(q.Report); }
                        catch (InvalidProtocolBufferException e)
                        {
                            log.LogWarning("Dropped a queued report of node {Node} that cannot be read: {Error}", q.Node, e.Message);
                            continue;
                        }
                        if (!reports.TryGetValue(q.RolloutId, out var list)) reports[q.RolloutId] = list = [];
                        list.Add((q.Node, parsed));
                    }
                }
                var result = new List<(RolloutRecord Rollout, List<RolloutAction> Actions)>();
                var (active, read) = ActiveRollouts(s);
                Windows.WindowBook? windows = null;
                foreach (var rollout in active)
                {
                    // No news for it (no report, no change in the store, nothing that wakes every rollout): nothing to decide.
                    if (!full && !read.Contains(rollout.Id) && !reports.ContainsKey(rollout.Id) && !kube.ContainsKey(rollout.Id)) continue;
                    windows ??= Windows.WindowBook.From(s.Windows.List());
                    try
                    {
                        var before = rollout.UpdatedAt;
                        var changed = false;
                        if (reports.TryGetValue(rollout.Id, out var group))
                        {
                            ApplyReports(s, rollout, group, now);
                            changed = true;
                        }
                        if (kube.TryGetValue(rollout.Id, out var kubeGroup))
                        {
                            ApplyKubeReports(s, rollout, kubeGroup, now);
                            changed = true;
                        }
                        var (actions, notes) = RolloutEngine.Decide(rollout, IsOnline, now, GateProbes, windows);
                        // A decision that moved the rollout on (started it, finished a wave) is followed by the next one at
                        // once, not a pass later: the next wave starts in the pass that finished the last.
                        var seen = 0;
                        for (var again = 0; again < 4 && RolloutTransitions.IsActive(rollout.State) && notes.Count > seen
                             && RolloutEngine.MovedOn(notes[^1]); again++)
                        {
                            seen = notes.Count;
                            var (more, moreNotes) = RolloutEngine.Decide(rollout, IsOnline, now, GateProbes, windows);
                            actions.AddRange(more);
                            notes.AddRange(moreNotes);
                        }
                        foreach (var note in notes) Record(s, rollout, note, now);
                        // Every change the engine makes moves UpdatedAt; an unchanged rollout is not rewritten each tick.
                        if (changed || actions.Count > 0 || notes.Count > 0 || rollout.UpdatedAt != before) s.Rollouts.Update(rollout);
                        result.Add((rollout, actions));
                    }
                    catch (InvalidOperationException e)
                    {
                        // Read again from the store next time: what this pass changed in memory was not written.
                        _active.Remove(rollout.Id);
                        log.LogError(e, "Rollout {Rollout}: pass failed; its record is left as it was", rollout.Id);
                    }
                }
                // Reports for rollouts that are over (a late report of a node in flight when it was aborted, say), and rollouts
                // over whose nodes still have cluster work to finish (an aborted rollout's nodes are uncordoned).
                foreach (var id in reports.Keys.Concat(kube.Keys).Concat(full ? _finishing.Keys : Enumerable.Empty<string>()).Distinct().Where(id => active.All(r => r.Id != id)).ToList())
                {
                    var rollout = s.Rollouts.Get(id);
                    if (rollout is null)
                    {
                        _finishing.TryRemove(id, out _);
                        continue;
                    }
                    if (reports.TryGetValue(id, out var group)) ApplyReports(s, rollout, group, now);
                    if (kube.TryGetValue(id, out var kubeGroup)) ApplyKubeReports(s, rollout, kubeGroup, now);
                    s.Rollouts.Update(rollout);
                    if (rollout.Nodes.Any(n => n.Cluster.Length > 0 && KubeSteps.Unfinished(n.KubeStep)))
                    {
                        over.Add(rollout);
                        _finishing[id] = true;
                    }
                    else _finishing.TryRemove(id, out _);
                }
                return result;
            }));
            _writing = false;
        }
        catch (Exception)
        {
            _active.Clear();
            _writing = false;
            throw;
        }

        var sends = new List<(string Node, CoordinatorMessage Message, (string, string, string) Key)>();
        _plans.Clear();
        foreach (var (record, actions) in decisions)
        {
            metrics.Set(record.Id, CountByState(record));
            // Persisted first; now act.
            foreach (var action in actions.Where(a => a is RolloutAction.Apply or RolloutAction.Undo)) Send(record, action, sends);
            Redispatch(record, sends);
            StartClusterWork(record, ct);
            GateProbes.Want(record, ct);
        }
        foreach (var record in over) StartClusterWork(record, ct);
        ct.ThrowIfCancellationRequested();
        await SendAllAsync(sends);
    }

    private static readonly string[] StateLabels = Enum.GetValues<RolloutNodeState>().Select(x => x.ToString().ToLowerInvariant()).ToArray();

    /// <summary>How many of the rollout's nodes are in each state (the states with none left out), by label.</summary>
    private static Dictionary<string, int> CountByState(RolloutRecord r)
    {
        var counts = new int[StateLabels.Length];
        foreach (var n in r.Nodes) counts[(int)n.State]++;
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < counts.Length; i++) if (counts[i] > 0) result[StateLabels[i]] = counts[i];
        return result;
    }

    /// <summary>
    /// Stores the pass's messages in the outbox all at once, so that they share commits (LiteDB commits the writes queued
    /// together in one batch) instead of one commit after another; what failed is sent again by a later pass.
    /// </summary>
    private async Task SendAllAsync(List<(string Node, CoordinatorMessage Message, (string, string, string) Key)> sends)
    {
        if (sends.Count == 0) return;
        var tasks = sends.Select(x => messages.SendAsync(x.Node, x.Message)).ToList();
        try { await Task.WhenAll(tasks); }
        finally
        {
            for (var i = 0; i < sends.Count; i++)
                if (!tasks[i].IsCompletedSuccessfully) _dispatched.Remove(sends[i].Key);
        }
    }

    /// <summary>
    /// The active rollouts, from memory where the store holds the same revision (every update moves it, whoever makes
    /// it: this controller, or an operator's pause, resume, abort or skip on any coordinator), else read again; and the
    /// ids of those read (news to decide on).
    /// </summary>
    private (List<RolloutRecord> Active, HashSet<string> Read) ActiveRollouts(IStoreWriter s)
    {
        var active = new List<RolloutRecord>();
        var read = new HashSet<string>(StringComparer.Ordinal);
        var heads = s.Rollouts.ActiveRevisions();
        foreach (var (id, revision) in heads)
        {
            if (_active.TryGetValue(id, out var known) && known.Revision == revision)
            {
                active.Add(known);
                continue;
            }
            if (s.Rollouts.Get(id) is not { } fresh || !RolloutTransitions.IsActive(fresh.State))
            {
                _active.Remove(id);
                continue;
            }
            _active[id] = fresh;
            active.Add(fresh);
            read.Add(id);
        }
        if (_active.Count > active.Count)
        {
            var still = active.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var id in _active.Keys.Where(id => !still.Contains(id)).ToList()) _active.Remove(id);
        }
        return (active, read);
    }

    private void ApplyReports(IStoreWriter s, RolloutRecord rollout, List<(string Node, StepReport Report)> group, DateTime now)
    {
        foreach (var (node, report) in group)
            foreach (var note in RolloutEngine.OnReport(rollout, node, report, now)) Record(s, rollout, note, now);
    }

    /// <summary>
    /// Online for the rollout: its stream is held here and not silent, or (with several coordinators on one store) it is
    /// held by another live coordinator, which delivers what is sent through the outbox.
    /// </summary>
    private bool IsOnline(string node) => presence.Get(node) switch
    {
        { Connected: true, Silent: false } => true,
        null => _remoteOnline.Contains(node),
        _ => false,
    };

    /// <summary>
    /// Sends again what a previous coordinator process had sent to nodes still in flight, and what this one sent on a
    /// stream the node has replaced since.
    /// </summary>
    private void Redispatch(RolloutRecord r, List<(string Node, CoordinatorMessage Message, (string, string, string) Key)> sends)
    {
        foreach (var n in r.Nodes)
        {
            RolloutAction? action = n.State switch
            {
                RolloutNodeState.Preparing => new RolloutAction.Apply(n.Name, RolloutEngine.StagePrepare),
                // A node in a cluster gets its request once drained (and none while cordoned, drained, waited for Ready).
                RolloutNodeState.Running when n.Cluster.Length == 0 || n.KubeStep == KubeSteps.Apply => new RolloutAction.Apply(n.Name, RolloutEngine.StageApply),
                RolloutNodeState.RollingBack when n.Cluster.Length == 0 || n.KubeStep == KubeSteps.Undo => new RolloutAction.Undo(n.Name, n.RunId),
                // Its run never became Ready: undone by the agent, then uncordoned.
                RolloutNodeState.Failed when n.Cluster.Length > 0 && n.KubeStep == KubeSteps.Undo && n.RunId.Length > 0 => new RolloutAction.Undo(n.Name, n.RunId),
                _ => null,
            };
            if (action is null || !IsOnline(n.Name)) continue;
            if (_dispatched.TryGetValue((r.Id, n.Name, StageOf(action)), out var sentOn) && SentOnCurrentStream(n.Name, sentOn)) continue;
            log.LogInformation("Rollout {Rollout}: sending node {Node} its {Stage} request again", r.Id, n.Name, StageOf(action));
            Send(r, action, sends);
        }
    }

    private static string StageOf(RolloutAction a) => a switch
    {
        RolloutAction.Apply apply => apply.Stage,
        _ => "undo",
    };

    // The plan of each rollout and stage, parsed once per pass whatever the number of nodes it goes to.
    private readonly Dictionary<(string Rollout, string Stage), NodePlan> _plans = [];

    /// <summary>Adds the message <paramref name="action"/> calls for to the pass's <paramref name="sends"/>, counted as sent.</summary>
    private void Send(RolloutRecord r, RolloutAction action, List<(string Node, CoordinatorMessage Message, (string, string, string) Key)> sends)
    {
        var session = presence.Get(action.Node);
        long sentOn;
        if (session is { Connected: true }) sentOn = session.Id;
        else if (session is null && _remoteOnline.Contains(action.Node)) sentOn = SentThroughAnother;
        else return;
        CoordinatorMessage message;
        if (action is RolloutAction.Apply apply)
        {
            if (!_plans.TryGetValue((r.Id, apply.Stage), out var plan))
            {
                plan = NodePlan.Parser.ParseFrom(r.Plan);
                if (apply.Stage == RolloutEngine.StagePrepare)
                {
                    // Only the non-disruptive phases; the rest run wave by wave.
                    foreach (var phase in PlanPhases.All.Where(p => !PlanPhases.Prepare.Contains(p) && !plan.Spec.SkipPhases.Contains(p)))
                        plan.Spec.SkipPhases.Add(phase);
                    plan.Metadata.Digest = PlanCanonical.Digest(plan);
                }
                _plans[(r.Id, apply.Stage)] = plan;
            }
            var m = new ApplyPlan { Plan = plan, RolloutId = r.Id, Stage = apply.Stage };
            if (apply.Stage == RolloutEngine.StageApply && r.Node(apply.Node) is { } node) m.KubeadmAction = RolloutEngine.KubeadmAction(r, node, plan);
            m.IgnorePreflightErrors.AddRange(r.IgnorePreflightErrors);
            message = new CoordinatorMessage { ApplyPlan = m };
        }
        else
        {
            message = new CoordinatorMessage { UndoRun = new UndoRun { RunId = ((RolloutAction.Undo)action).RunId, RolloutId = r.Id } };
        }
        // Through the outbox: delivered on the node's stream wherever it is held, even if it moves before it is read.
        var key = (r.Id, action.Node, StageOf(action));
        _dispatched[key] = sentOn;
        sends.Add((action.Node, message, key));
    }

    private void Record(IStoreWriter s, RolloutRecord r, RolloutNote note, DateTime now)
    {
        s.AddEvent(events, new EventRecord
        {
            Time = now, Type = note.Type, Reason = note.Reason, Node = note.Node, Rollout = r.Id, Message = note.Message,
        });
        log.LogInformation("Rollout {Rollout}{NodePart}: {Reason} {Message}", r.Id, note.Node.Length > 0 ? $" node {note.Node}" : "", note.Reason, note.Message);
    }
}
