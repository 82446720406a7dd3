using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;
using NodeFleet.Budgets;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>Starts rollouts and carries out operator actions on them, each a guarded, persisted transition.</summary>
public sealed class RolloutService(ICoordinatorStore store, PlanService plans, NodeRegistry registry, RolloutController controller,
    EventBus events, [Microsoft.Extensions.DependencyInjection.FromKeyedServices(Windows.RolloutClock.Key)] TimeProvider time,
    NodeFleet.Coordinator.Clusters.INodeClusters? clusters = null)
{
    /// <summary>
    /// `plan apply --node` for a node in a cluster: a rollout of that node alone (no canary, no preparation ahead), so it
    /// is cordoned, drained, applied, waited for Ready and uncordoned by the same machinery as in any rollout. Null
    /// when the node belongs to no cluster (the plan is then sent directly, as before).
    /// </summary>
    public async Task<Rollout?> ApplyToClusterNodeAsync(ApplyPlanRequest request)
    {
        if (clusters is null or NodeFleet.Coordinator.Clusters.NoNodeClusters || await clusters.ForNodeAsync(request.Node) is null) return null;
        registry.Get(request.Node);
        var start = new StartRolloutRequest
        {
            Plan = request.Plan,
            Strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = "1", MaxFailures = "1", NoPrepareAhead = true },
        };
        start.IgnorePreflightErrors.AddRange(request.IgnorePreflightErrors);
        return await StartAsync(start, [request.Node]);
    }

    public async Task<Rollout> StartAsync(StartRolloutRequest request) => await StartAsync(request, null);

    private async Task<Rollout> StartAsync(StartRolloutRequest request, IReadOnlyList<string>? only)
    {
        LabelSelector selector;
        try { selector = LabelSelector.Parse(request.Selector); }
        catch (FormatException e) { throw Invalid(e.Message); }
        var strategy = request.Strategy ?? new RolloutStrategy();
        Budget maxUnavailable, maxFailures;
        try
        {
            maxUnavailable = Budget.Parse(strategy.MaxUnavailable.Length > 0 ? strategy.MaxUnavailable : "1", "max-unavailable");
            maxFailures = Budget.Parse(strategy.MaxFailures.Length > 0 ? strategy.MaxFailures : "1", "max-failures");
        }
        catch (FormatException e) { throw Invalid(e.Message); }
        if (strategy.Canary < 0) throw Invalid("canary must be 0 or more");
        Gates.RolloutGates gates;
        try { gates = Gates.GateSpec.FromStrategy(strategy); }
        catch (FormatException e) { throw Invalid(e.Message); }
        foreach (var phase in strategy.PhaseDeadlines.Keys)
        {
            if (!NodeFleet.Plans.PlanPhases.IsKnown(phase)) throw Invalid($"phase deadline for unknown phase '{phase}'");
        }
        if (request.Plan is null) throw Invalid("plan is required");
        var windows = Windows.WindowBook.From(store.Windows.List());
        if (strategy.Window.Length > 0 && store.Windows.Get(strategy.Window) is null)
            throw new NotFoundException($"window {strategy.Window} not found (`nodefleet window list` shows the windows)");

        // The plan is validated (and refused) before any node is looked at, and stored only once there are nodes and
        // none of them is taken. A dry run goes through every check a real start does, and is refused the same way.
        var validated = Validated(request.Plan);
        var nodes = only?.ToList() ?? registry.List(selector).Select(n => n.Name).ToList();
        if (nodes.Count == 0)
            throw new FailedPreconditionException(request.Selector.Trim().Length == 0
                ? "there are no nodes to roll out to"
                : $"selector {request.Selector.Trim()} matches no node");
        RefuseBusy(store.Rollouts, nodes);
        // Which nodes are in a cluster, which of those are control-plane nodes, and whether the version skew policy
        // allows the upgrade: refused before anything is stored or runs, a dry run included.
        var placed = await RolloutClusters.PlaceAsync(clusters, registry, nodes, validated);
        var plan = request.DryRun ? validated : await plans.StoreAsync(request.Plan);
        var now = time.GetUtcNow().UtcDateTime;
        var record = new RolloutRecord
        {
            Id = $"{plan.Metadata.Name}-{now:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..4]}",
            PlanName = plan.Metadata.Name,
            Generation = plan.Metadata.Generation,
            Plan = plan.ToByteArray(),
            Selector = request.Selector,
            Canary = strategy.Canary == 0 && !HasField(strategy) ? 1 : strategy.Canary,
            MaxUnavailableText = maxUnavailable.ToString(),
            MaxFailuresText = maxFailures.ToString(),
            MaxUnavailable = maxUnavailable.Resolve(nodes.Count, 1),
            MaxFailures = maxFailures.Resolve(nodes.Count, 1),
            PauseBetweenWavesMs = (long)(strategy.PauseBetweenWaves?.ToTimeSpan().TotalMilliseconds ?? 0),
            PhaseDeadlinesMs = strategy.PhaseDeadlines.ToDictionary(kv => kv.Key, kv => (long)kv.Value.ToTimeSpan().TotalMilliseconds),
            PrepareAhead = !strategy.NoPrepareAhead,
            PrepareConcurrency = strategy.PrepareConcurrency > 0 ? strategy.PrepareConcurrency : 50,
            IgnorePreflightErrors = request.IgnorePreflightErrors.ToList(),
            Gates = gates,
            State = RolloutState.Pending,
            CreatedAt = now,
            UpdatedAt = now,
        };
        RolloutEngine.PlanWaves(record, nodes, placed);
        await Gates.GateSpec.ResolveTopologyAsync(record, clusters, registry);
        // `plan apply --node` on a node of a cluster is the operator's call on that node: like rolling back, it never waits.
        if (only is null) WindowsAtStart(record, strategy.Window, windows);
        if (request.DryRun) return RolloutViews.DryRun(record, now, windows);

        await store.WriteAsync(s =>
        {
            // Again, in the write that inserts: another start may have taken a node since the check above.
            RefuseBusy(s.Rollouts, nodes);
            s.Rollouts.Insert(record);
            s.AddEvent(events, new EventRecord
            {
                Time = now, Type = "Normal", Reason = "RolloutCreated", Rollout = record.Id,
                Message = $"plan {record.PlanName} generation {record.Generation} on {nodes.Count} node(s) in {record.WaveCount} wave(s); canary {record.Canary}, max unavailable {record.MaxUnavailable}, max failures {record.MaxFailures}" +
                    (record.Window.Length > 0 ? $"; only in window {record.Window}" : ""),
            });
        });
        controller.Wake();
        return RolloutViews.ToMessage(record, now, windows);
    }

    /// <summary>
    /// The rollout's own window, or for each node the fleet windows whose selector matches its labels now: decided once,
    /// like the waves (RolloutEngine.Windows.cs).
    /// </summary>
    private void WindowsAtStart(RolloutRecord record, string own, Windows.WindowBook windows)
    {
        record.Window = own;
        if (own.Length > 0 || windows.IsEmpty) return;
        // One read of the selected nodes' labels, not one per node.
        var labels = store.Nodes.List(LabelSelector.Parse(record.Selector)).ToDictionary(n => n.Name, n => n.Labels, StringComparer.Ordinal);
        foreach (var n in record.Nodes)
            if (labels.TryGetValue(n.Name, out var l)) n.Windows = windows.Covering(l);
    }

    /// <summary>A node belongs to at most one active rollout: refuses, naming the nodes and their rollouts, when one is taken.</summary>
    private static void RefuseBusy(IRolloutReads rollouts, List<string> nodes)
    {
        var busy = rollouts.ActiveMemberships(nodes.ToHashSet(StringComparer.Ordinal)).Select(m => (Id: m.RolloutId, Name: m.Node)).ToList();
        if (busy.Count > 0)
            throw new FailedPreconditionException(
                $"node(s) already in an active rollout: {string.Join(", ", busy.Take(10).Select(b => $"{b.Name} ({b.Id})"))}" +
                (busy.Count > 10 ? $" and {busy.Count - 10} more" : ""));
    }

    public Rollout Get(string id) => RolloutViews.ToMessage(Require(id), time.GetUtcNow().UtcDateTime, Windows.WindowBook.From(store.Windows.List()));

    public IReadOnlyList<Rollout> List(bool includeFinished)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return (includeFinished ? store.Rollouts.ListAll() : store.Rollouts.ListActive())
            .OrderByDescending(r => r.CreatedAt).Select(r => RolloutViews.ToMessage(r, now)).ToList();
    }

    public Task<Rollout> PauseAsync(string id, string reason) =>
        TransitionAsync(id, r => r.State is RolloutState.Paused ? null : RolloutState.Paused, reason.Length > 0 ? reason : "paused by the operator");

    /// <summary>
    /// Resumes a paused rollout into what the pause interrupted; any other state is refused (nothing to resume). A
    /// rollout held by its failures (error budget spent, or a failed canary while at wave 0) would pause again at
    /// once: that is refused, saying why and what to do, unless <paramref name="acceptFailures"/>, which accepts every
    /// failure so far (<see cref="AcceptFailures"/>) and goes on past the failed nodes.
    /// </summary>
    public Task<Rollout> ResumeAsync(string id, string reason, bool acceptFailures = false) =>
        TransitionAsync(id, r => r.State == RolloutState.Paused ? (r.ResumeTo is RolloutState.Preparing ? RolloutState.Preparing : RolloutState.Rolling) : null,
            reason.Length > 0 ? reason : "resumed by the operator", resume: true, prepare: (r, now) =>
            {
                // The operator's resume takes over from a gate's: the gates are checked again as the rollout goes on.
                r.Gates.PausedBy = "";
                r.Gates.PausedAt = null;
                if (acceptFailures) return AcceptFailures(r, now);
                if (HeldByFailures(r) is { } why) throw new FailedPreconditionException(why);
                return null;
            });

    /// <summary>Why resuming <paramref name="r"/> as it is would pause it again at once, or null when it would not.</summary>
    public static string? HeldByFailures(RolloutRecord r)
    {
        string cause;
        List<RolloutNodeRecord> nodes;
        // The canary holds the rollout at wave 0 only (while preparing, at wave -1, the other nodes go on).
        if (r.CurrentWave == 0 && RolloutEngine.FailedCanary(r) is not null)
        {
            nodes = r.Nodes.Where(n => n.Wave == 0 && n.State == RolloutNodeState.Failed && !n.FailureAccepted).ToList();
            cause = $"its canary failed ({RolloutEngine.CountedFailures(r)} failure(s) counted, max {r.MaxFailures})";
        }
        else if (RolloutEngine.BudgetSpent(r))
        {
            nodes = r.Nodes.Where(n => n.State == RolloutNodeState.Failed && !n.FailureAccepted).ToList();
            cause = $"its error budget is spent ({RolloutEngine.CountedFailures(r)} failure(s) counted, max {r.MaxFailures})";
        }
        else return null;
        var named = string.Join("; ", nodes.Take(5).Select(n => $"{n.Name} (wave {n.Wave}): {FirstLine(n.Message)}")) +
            (nodes.Count > 5 ? $"; and {nodes.Count - 5} more" : "");
        return $"rollout {r.Id} is held by its failures: {cause}: {named}. Resumed as it is, it would pause again at once. " +
            $"Fix the cause, then `nodefleet rollout resume {r.Id} --accept-failures` goes on past the failed node(s) " +
            $"(they stay failed and are not retried; only new failures count against the budget), " +
            $"or `nodefleet rollout rollback {r.Id}` undoes it, or `abort` stops it";
    }

    /// <summary>
    /// Accepts every failure not accepted yet: the nodes stay failed, but no longer count against the error budget
    /// and a failed canary among them no longer holds the rollout. Each failure is counted once, accepted or not.
    /// </summary>
    private static RolloutNote? AcceptFailures(RolloutRecord r, DateTime now)
    {
        var accepted = r.Nodes.Where(n => n.State == RolloutNodeState.Failed && !n.FailureAccepted).ToList();
        if (accepted.Count == 0) return null;
        foreach (var n in accepted)
        {
            n.FailureAccepted = true;
            n.HoldsSlot = false; // the operator's call: a node whose run never reports back must not stall the rollout
        }
        // Never more than the failures counted (records resumed before acceptance existed raised MaxFailures instead).
        r.AcceptedFailures = Math.Min(r.Failures, r.AcceptedFailures + accepted.Count);
        r.UpdatedAt = now;
        return new RolloutNote("Warning", "FailuresAccepted", "",
            $"the operator accepted {accepted.Count} failure(s), which stay failed: {string.Join(", ", accepted.Take(10).Select(n => n.Name))}" +
            (accepted.Count > 10 ? $" and {accepted.Count - 10} more" : "") +
            $"; error budget {RolloutEngine.CountedFailures(r)}/{r.MaxFailures} used");
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        if (line.Length == 0) return "no message";
        return line.Length > 120 ? line[..117] + "..." : line;
    }

    /// <summary>
    /// Skips one node not started yet (held by a blocking pod, say): it is left as it is, counted neither failed nor
    /// upgraded, and its wave may finish without it.
    /// </summary>
    public async Task<Rollout> SkipAsync(string id, string node, string reason)
    {
        if (node.Trim().Length == 0) throw Invalid("skip needs the node to skip");
        var now = time.GetUtcNow().UtcDateTime;
        var record = await store.WriteAsync(s =>
        {
            var r = s.Rollouts.Get(id) ?? throw NotFound(id);
            if (!RolloutTransitions.IsActive(r.State) || r.State == RolloutState.RollingBack)
                throw new FailedPreconditionException($"rollout {id} is {RolloutTransitions.Name(r.State)}: there is nothing to skip");
            var n = r.Node(node) ?? throw new NotFoundException($"rollout {id} has no node {node}");
            if (n.State is not (RolloutNodeState.Pending or RolloutNodeState.Prepared))
                throw new FailedPreconditionException($"node {node} of rollout {id} is {n.State.ToString().ToUpperInvariant()}: only a node not started yet can be skipped");
            var held = n.Held;
            n.State = RolloutNodeState.Skipped;
            n.Held = "";
            n.FinishedAt = now;
            n.Message = "skipped by the operator" + (reason.Length > 0 ? $": {reason}" : "") + (held.Length > 0 ? $" (it was held back: {held})" : "");
            r.UpdatedAt = now;
            s.Rollouts.Update(r);
            s.AddEvent(events, new EventRecord { Time = now, Type = "Warning", Reason = "NodeSkipped", Node = node, Rollout = r.Id, Message = $"wave {n.Wave}: {n.Message}" });
            return r;
        });
        controller.Wake();
        return RolloutViews.ToMessage(record, now);
    }

    public Task<Rollout> AbortAsync(string id, string reason) =>
        TransitionAsync(id, _ => RolloutState.Aborted, reason.Length > 0 ? reason : "aborted by the operator", abort: true);

    public Task<Rollout> RollbackAsync(string id, string reason) =>
        TransitionAsync(id, r => r.State is RolloutState.Rolling or RolloutState.Preparing ? null : RolloutState.RollingBack,
            reason.Length > 0 ? reason : "rollback requested by the operator", rollback: true);

    private async Task<Rollout> TransitionAsync(string id, Func<RolloutRecord, RolloutState?> target, string reason,
        bool abort = false, bool rollback = false, bool resume = false, Func<RolloutRecord, DateTime, RolloutNote?>? prepare = null)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var record = await store.WriteAsync(s =>
        {
            var r = s.Rollouts.Get(id) ?? throw NotFound(id);
            var to = target(r);
            if (to is null || !RolloutTransitions.IsAllowed(r.State, to.Value))
            {
                var wanted = to ?? (rollback ? RolloutState.RollingBack : RolloutState.Paused);
                var hint = rollback && r.State is RolloutState.Rolling or RolloutState.Preparing ? "; pause or abort it first" : "";
                throw new FailedPreconditionException(resume
                    ? $"rollout {id} is {RolloutTransitions.Name(r.State)}, not paused"
                    : RolloutTransitions.Refusal(id, r.State, wanted) + hint);
            }
            // Refuses (nothing written), or changes the record before the transition, with its own event.
            var before = prepare?.Invoke(r, now);
            if (before is not null)
                s.AddEvent(events, new EventRecord { Time = now, Type = before.Type, Reason = before.Reason, Rollout = r.Id, Message = before.Message });
            var note = RolloutEngine.Transition(r, to.Value, reason, now);
            if (abort)
            {
                foreach (var n in r.Nodes.Where(n => n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared)) n.State = RolloutNodeState.Skipped;
                // A node of a cluster cordoned or being drained goes back into service; one whose run is going is
                // uncordoned once the run ends and it is Ready.
                foreach (var n in r.Nodes.Where(n => n.State == RolloutNodeState.Running && n.KubeStep is KubeSteps.Cordon or KubeSteps.Drain))
                {
                    n.State = RolloutNodeState.Skipped;
                    n.Message = "aborted before its run; uncordoned if NodeFleet cordoned it";
                    n.KubeStep = KubeSteps.Recover;
                    n.KubeStepStartedAt = now;
                }
            }
            s.Rollouts.Update(r);
            s.AddEvent(events, new EventRecord { Time = now, Type = note.Type, Reason = note.Reason, Rollout = r.Id, Message = note.Message });
            return r;
        });
        if (abort && record.Nodes.Any(n => n.Cluster.Length > 0 && KubeSteps.Unfinished(n.KubeStep))) controller.Finish(record.Id);
        controller.Wake();
        return RolloutViews.ToMessage(record, now);
    }

    private RolloutRecord Require(string id) => store.Rollouts.Get(id) ?? throw NotFound(id);

    private static NodePlan Validated(NodePlan plan)
    {
        var errors = NodeFleet.Plans.PlanValidator.Validate(plan);
        if (errors.Count > 0) throw Invalid("invalid plan:\n" + string.Join('\n', errors));
        var p = plan.Clone();
        NodeFleet.Plans.PlanDefaults.Apply(p);
        return p;
    }

    // proto3 cannot tell an explicit 0 from unset; the CLI sends canary explicitly, so 0 only counts when other fields are set.
    private static bool HasField(RolloutStrategy s) => s.MaxUnavailable.Length > 0 || s.MaxFailures.Length > 0;

    private static InvalidArgumentException Invalid(string m) => new(m);
    private static NotFoundException NotFound(string id) => new($"rollout {id} not found");
}
