using System.Collections.Concurrent;
using Google.Protobuf;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Messaging;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Store;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Plans;

/// <summary>Stores plans (one generation per content change) and sends them, or dry-run requests, to nodes.</summary>
public sealed class PlanService(ICoordinatorStore store, NodeRegistry registry, Presence presence, EventBus events, TimeProvider time,
    NodeMessages messages, INodeClusters? clusters = null)
{
    public static readonly TimeSpan DryRunTimeout = TimeSpan.FromMinutes(2);
    /// <summary>How often a dry run's asker looks for a reply stored by another coordinator, should its wake-up be lost.</summary>
    private static readonly TimeSpan ReplyPoll = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DryRunResult>> _dryRuns = new();

    /// <summary>Validates and stores the plan; returns it with generation and digest set.</summary>
    public async Task<NodePlan> StoreAsync(NodePlan plan)
    {
        var errors = PlanValidator.Validate(plan);
        if (errors.Count > 0)
            throw new InvalidArgumentException("invalid plan:\n" + string.Join('\n', errors));
        plan = plan.Clone();
        PlanDefaults.Apply(plan);
        var digest = PlanCanonical.Digest(plan);
        return await store.WriteAsync(s =>
        {
            var existing = s.Plans.Get(plan.Metadata.Name);
            var generation = existing is null ? 1 : existing.Digest == digest ? existing.Generation : existing.Generation + 1;
            plan.Metadata.Generation = generation;
            plan.Metadata.Digest = digest;
            // The same content signed anew (or first signed now) is the same generation, stored with its signature.
            var bytes = plan.ToByteArray();
            if (existing is null || existing.Digest != digest || !existing.Plan.AsSpan().SequenceEqual(bytes))
            {
                var record = existing ?? new PlanRecord { Name = plan.Metadata.Name };
                record.Generation = generation;
                record.Digest = digest;
                record.Plan = bytes;
                record.UpdatedAt = time.GetUtcNow().UtcDateTime;
                if (existing is null) s.Plans.Insert(record);
                else s.Plans.Update(record);
            }
            return plan;
        });
    }

    /// <summary>
    /// Stores the plan and sends it to the node. A node in an active rollout is refused (nothing stored) unless the
    /// request says force: a plan sent directly would bypass the rollout's waves, max-unavailable and error budget.
    /// Forced, the bypass is recorded as a warning event of the node and the rollout.
    /// </summary>
    public async Task<ApplyPlanResponse> ApplyAsync(ApplyPlanRequest request)
    {
        RequireConnected(request.Node);
        if (request.Plan is null) throw new InvalidArgumentException("plan is required");
        var rollout = ActiveRolloutOf(request.Node);
        if (rollout is not null && !request.Force)
            throw new FailedPreconditionException(
                $"node {request.Node} is in rollout {rollout.Value.Id} ({rollout.Value.State}); a plan applied to it directly would bypass the " +
                "rollout's waves and budgets: pause or abort the rollout, or wait for it to end, or pass --force to apply it anyway");
        if (RunInProgress(request.Node) is { } busy && !request.Force)
            throw new FailedPreconditionException(
                $"node {request.Node} is still running plan {busy.PlanName} generation {busy.Generation} (run {busy.AgentRunId}, " +
                $"{(RunningPhase(busy) is { Length: > 0 } phase ? $"in {phase}, " : "")}" +
                $"started {busy.StartedAt:yyyy-MM-dd HH:mm:ss} UTC); the agent runs one plan at a time, so this one would wait behind it: " +
                $"wait for it to end (`nodefleet node describe {request.Node}`), or pass --force to queue it");
        var plan = await StoreAsync(request.Plan);
        if (rollout is { } r)
        {
            await store.WriteAsync(s => s.AddEvent(events, new EventRecord
            {
                Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "PlanAppliedOutsideRollout", Node = request.Node, Rollout = r.Id,
                Message = $"plan {plan.Metadata.Name} generation {plan.Metadata.Generation} applied directly with --force, bypassing rollout {r.Id} ({r.State})",
            }));
        }
        var message = new ApplyPlan { Plan = plan, KubeadmAction = await KubeadmActionAsync(plan, request.Node, CancellationToken.None) };
        message.IgnorePreflightErrors.AddRange(request.IgnorePreflightErrors);
        await messages.SendAsync(request.Node, new CoordinatorMessage { ApplyPlan = message });
        return new ApplyPlanResponse { PlanName = plan.Metadata.Name, Generation = plan.Metadata.Generation, Digest = plan.Metadata.Digest, Node = request.Node };
    }

    /// <summary>Asks the node to stop its run in progress at its current step (it then fails and is undone).</summary>
    public async Task<CancelRunResponse> CancelAsync(CancelRunRequest request)
    {
        RequireConnected(request.Node);
        var run = RunInProgress(request.Node) ?? throw new FailedPreconditionException(
            $"node {request.Node} runs no plan (as its reports say): there is nothing to cancel");
        var runId = run.AgentRunId;
        if (run.State == (int)RunState.UndoRunning)
            throw new FailedPreconditionException(
                $"node {request.Node} is undoing run {runId} (plan {run.PlanName}); an undo is not cancelled: it puts back what the run changed");
        var phase = RunningPhase(run);
        var reason = request.Reason.Trim();
        await store.WriteAsync(s => s.AddEvent(events, new EventRecord
        {
            Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "CancelRequested", Node = request.Node,
            Message = $"cancel of run {runId} (plan {run.PlanName} generation {run.Generation}{(phase.Length > 0 ? $", in {phase}" : "")}) sent to the node" +
                      (reason.Length > 0 ? $": {reason}" : ""),
        }));
        await messages.SendAsync(request.Node, new CoordinatorMessage { CancelRun = new CancelRun { RunId = runId, Reason = reason } });
        return new CancelRunResponse { Node = request.Node, RunId = runId, PlanName = run.PlanName, Generation = run.Generation, Phase = phase };
    }

    /// <summary>The phase of a run's step in progress, else of its last step reported ("" before any).</summary>
    private static string RunningPhase(RunHistoryRecord run) =>
        run.Steps.LastOrDefault(x => x.State == (int)StepState.Running)?.Phase ?? run.Steps.LastOrDefault()?.Phase ?? "";

    /// <summary>
    /// The node's run still going (or being undone) as its reports tell, or null: its newest run, if not ended, and
    /// only if it started since the node joined (a node deleted and joined again, re-imaged say, left behind a run that
    /// will never report its end).
    /// </summary>
    private RunHistoryRecord? RunInProgress(string node)
    {
        var newest = store.Runs.ListByNode(node, 1).FirstOrDefault();
        if (newest is null || newest.State is not ((int)RunState.Running or (int)RunState.UndoRunning)) return null;
        return store.Nodes.Get(node) is { } n && newest.StartedAt < n.JoinedAt ? null : newest;
    }

    /// <summary>The active rollout the node belongs to, with its state as operators read it, or null.</summary>
    private (string Id, string State)? ActiveRolloutOf(string node) =>
        store.Rollouts.ActiveMemberships([node]).FirstOrDefault() is { } m ? (m.RolloutId, RolloutTransitions.Name(m.State)) : null;

    /// <summary>
    /// Asks the node for a dry run and waits for its answer. The request goes through the outbox, so the node may hold its
    /// stream on another coordinator: the answer then comes back as a reply stored for this request, which this one
    /// reads when woken, or at its next poll.
    /// </summary>
    public async Task<DryRunResult> DiffAsync(ApplyPlanRequest request, CancellationToken ct)
    {
        RequireConnected(request.Node);
        var plan = request.Plan ?? throw new InvalidArgumentException("plan is required");
        var errors = PlanValidator.Validate(plan);
        if (errors.Count > 0)
            throw new InvalidArgumentException("invalid plan:\n" + string.Join('\n', errors));
        plan = plan.Clone();
        PlanDefaults.Apply(plan);
        var id = Guid.NewGuid().ToString("N");
        var tcs = new TaskCompletionSource<DryRunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _dryRuns[id] = tcs;
        var replyTo = NodeMessages.ReplyRecipient(id);
        // Called on the store's thread: the reply is read elsewhere.
        void OnEnqueued(string recipient)
        {
            if (recipient == replyTo) _ = Task.Run(() => TakeReplyAsync(id, tcs));
        }
        store.Outbox.Enqueued += OnEnqueued;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            var message = new DryRunRequest { RequestId = id, Plan = plan, KubeadmAction = await KubeadmActionAsync(plan, request.Node, ct) };
            message.IgnorePreflightErrors.AddRange(request.IgnorePreflightErrors);
            await messages.SendAsync(request.Node, new CoordinatorMessage { DryRun = message });
            cts.CancelAfter(DryRunTimeout);
            var poll = Task.Run(async () =>
            {
                while (!tcs.Task.IsCompleted)
                {
                    await Task.Delay(ReplyPoll, time, cts.Token);
                    await TakeReplyAsync(id, tcs);
                }
            }, cts.Token);
            try { return await tcs.Task.WaitAsync(cts.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new DeadlineExceededException($"node {request.Node} did not answer the dry run within {DryRunTimeout.TotalSeconds:0}s");
            }
            finally
            {
                await cts.CancelAsync();
                try { await poll; }
                catch (OperationCanceledException) { }
            }
        }
        finally
        {
            store.Outbox.Enqueued -= OnEnqueued;
            _dryRuns.TryRemove(id, out _);
        }
    }

    /// <summary>What the node's kubeadm phase runs, decided as a rollout of that node alone would (its cluster consulted).</summary>
    private async Task<string> KubeadmActionAsync(NodePlan plan, string node, CancellationToken ct)
    {
        var cluster = clusters is null ? null : await clusters.ForNodeAsync(node, ct);
        var labelled = cluster is not null && registry.Get(node).Labels.ContainsKey(RolloutClusters.ControlPlaneLabel);
        return await KubeadmActionChoice.ForNodeAsync(plan, cluster, labelled, ct);
    }

    private async Task TakeReplyAsync(string id, TaskCompletionSource<DryRunResult> tcs)
    {
        try
        {
            if (await messages.TakeReplyAsync(id, DryRunResult.Parser) is { } result) tcs.TrySetResult(result);
        }
        catch (Exception e) when (e is IOException or Google.Protobuf.InvalidProtocolBufferException)
        {
            // The store is unreachable for now (the next poll tries again), or the reply is unreadable (the asker times out).
        }
    }

    /// <summary>
    /// A node's answer to a dry run: to the caller waiting here, or, when the request was made through another
    /// coordinator, stored as a reply for it to read.
    /// </summary>
    public async Task CompleteDryRunAsync(DryRunResult result)
    {
        if (_dryRuns.TryGetValue(result.RequestId, out var tcs))
        {
            tcs.TrySetResult(result);
            return;
        }
        // Only ids this fleet hands out (32 hex digits): a node cannot fill the outbox with replies to made-up requests.
        if (result.RequestId.Length == 32 && result.RequestId.All(char.IsAsciiHexDigitLower))
            await messages.ReplyAsync(result.RequestId, result);
    }

    /// <summary>
    /// Refuses a node that is not online: its stream is held here, or (with several coordinators on one store) the store
    /// says it is online, its stream held by another coordinator, which delivers what is sent through the outbox.
    /// </summary>
    private void RequireConnected(string node)
    {
        var record = registry.Get(node);
        if (presence.Get(node) is { Connected: true, Silent: false }) return;
        if (presence.Get(node) is null && record.Status == NodeState.Online) return;
        throw new FailedPreconditionException($"node {node} is not connected; it must be online to receive a plan");
    }
}
