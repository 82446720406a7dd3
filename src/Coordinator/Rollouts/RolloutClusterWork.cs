using System.Collections.Concurrent;
using System.Collections.Immutable;
using NodeFleet.Config;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;
using DrainSpec = NodeFleet.Coordinator.Clusters.DrainSpec;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// The controller's cluster work: for each node of a rollout whose step is the coordinator's (cordon, drain,
/// wait-ready, recover, uncordon), one background task per node makes the calls and reports back through the same
/// loop as agents' reports, so every decision stays in the engine and is persisted before it is acted on. Nothing
/// here is remembered across a restart but what the reports persisted: a drain resumes from its stored progress.
/// </summary>
public sealed partial class RolloutController
{
    private static readonly TimeSpan ClusterRetryDelay = TimeSpan.FromSeconds(2);
    private readonly ConcurrentQueue<(string Rollout, KubeReport Report)> _kubeReports = new();
    // The step each node's task is running, so a pass starts a node's work once; a step left is stale and its report ignored.
    // A step the node has left (an abort moved it on) is cancelled: a drain must not go on evicting once the node is
    // being put back into service.
    private readonly ConcurrentDictionary<(string Rollout, string Node), (string Step, CancellationTokenSource Cancel)> _clusterWork = new();
    // Rollouts over (aborted) whose nodes still have cluster work: followed until it is done.
    private readonly ConcurrentDictionary<string, bool> _finishing = new();
    private readonly INodeClusters _clusters = clusters ?? new NoNodeClusters();
    private readonly DrainerOptions _drainerOptions = drainerOptions ?? new DrainerOptions { Time = time };
    private Gates.GateProbes? _gateProbes;

    /// <summary>What the gates observe (Prometheus, Nodes of a soaking wave, pods on nodes about to start).</summary>
    private Gates.GateProbes GateProbes => _gateProbes ??= new Gates.GateProbes(_clusters, time, Wake,
        node => presence.Get(node) is not { } s || s.Silent, log);

    private bool _finishingResumed;

    /// <summary>
    /// On the first pass after a (re)start: rollouts over (aborted, failed, rolled back) whose nodes' cluster work is
    /// unfinished in the store are followed again, so a node NodeFleet cordoned is uncordoned once Ready even when the
    /// process that aborted the rollout died before doing it. The per-node state says where each node is.
    /// </summary>
    private void ResumeFinishing()
    {
        if (_finishingResumed) return;
        foreach (var id in store.Rollouts.OverWithClusterWorkUnfinished())
        {
            log.LogInformation("Rollout {Rollout} is over with nodes still to put back into service: following them", id);
            _finishing[id] = true;
        }
        _finishingResumed = true;
    }

    /// <summary>Follows a rollout that is over until its nodes' cluster work ends (an abort uncordons what NodeFleet cordoned).</summary>
    public void Finish(string rolloutId)
    {
        _finishing[rolloutId] = true;
        Wake();
    }

    private void ApplyKubeReports(IStoreWriter s, RolloutRecord rollout, List<KubeReport> group, DateTime now)
    {
        foreach (var report in group)
            foreach (var note in RolloutEngine.OnKube(rollout, report, now)) Record(s, rollout, note, now);
    }

    private void StartClusterWork(RolloutRecord r, CancellationToken ct)
    {
        NodePlan? plan = null;
        foreach (var n in r.Nodes)
        {
            var key = (r.Id, n.Name);
            var running = _clusterWork.TryGetValue(key, out var work) ? work : default;
            if (running.Cancel is not null && running.Step != n.KubeStep)
            {
                try { running.Cancel.Cancel(); } catch (ObjectDisposedException) { } // it ended meanwhile
            }
            if (RolloutEngine.KubeAction(n) is not { } action) continue;
            if (running.Cancel is not null && running.Step == n.KubeStep) continue;
            var entry = (n.KubeStep, CancellationTokenSource.CreateLinkedTokenSource(ct));
            _clusterWork[key] = entry;
            plan ??= NodePlan.Parser.ParseFrom(r.Plan);
            var snapshot = Copy(n);
            var p = plan;
            var token = entry.Item2.Token;
            _ = Task.Run(async () =>
            {
                try
                {
                    await RunClusterStepAsync(r.Id, p, snapshot, action, token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    // The API server did not answer or refused: tried again on a later pass.
                    log.LogWarning("Rollout {Rollout} node {Node}: {Step} failed, trying again: {Error}", r.Id, snapshot.Name, snapshot.KubeStep, KubeErrors.Describe(e));
                    try { await Task.Delay(ClusterRetryDelay, time, token); } catch (OperationCanceledException) { }
                }
                finally
                {
                    _clusterWork.TryRemove(KeyValuePair.Create(key, entry));
                    entry.Item2.Dispose();
                    Wake();
                }
            }, CancellationToken.None);
        }
    }

    private static RolloutNodeRecord Copy(RolloutNodeRecord n) => new()
    {
        Name = n.Name, Cluster = n.Cluster, KubeNodeName = n.KubeNodeName, KubeStep = n.KubeStep, KubeStepStartedAt = n.KubeStepStartedAt,
        CordonedAt = n.CordonedAt, WasSchedulable = n.WasSchedulable, DrainStartedAt = n.DrainStartedAt,
        DrainEvicted = n.DrainEvicted.ToList(), DrainDeleted = n.DrainDeleted.ToList(),
    };

    private void Report(string rollout, KubeReport report)
    {
        _kubeReports.Enqueue((rollout, report));
        Wake();
    }

    private async Task RunClusterStepAsync(string rollout, NodePlan plan, RolloutNodeRecord n, RolloutAction action, CancellationToken ct)
    {
        var cluster = await _clusters.ForNodeAsync(n.Name, ct);
        if (cluster is null)
        {
            Report(rollout, new KubeReport.StepFailed(n.Name, n.KubeStep, $"the node no longer belongs to cluster {n.Cluster}"));
            return;
        }
        var client = cluster.Connection.Client;
        var name = n.KubeNodeName.Length > 0 ? n.KubeNodeName : cluster.KubeNodeName;
        try
        {
            switch (action)
            {
                case RolloutAction.Cordon:
                    var earlier = n.CordonedAt is { } at ? new CordonRecord(name, n.WasSchedulable, new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc))) : null;
                    var cordon = await Cordon.CordonAsync(client, name, time, earlier, ct);
                    Report(rollout, new KubeReport.Cordoned(n.Name, cordon.WasSchedulable, cordon.At.UtcDateTime));
                    break;
                case RolloutAction.Drain:
                    await DrainAsync(rollout, plan, n, client, name, ct);
                    break;
                case RolloutAction.WaitReady wait:
                    var deadline = RolloutEngine.WaitReadyDeadline(plan);
                    var left = deadline - (time.GetUtcNow().UtcDateTime - (n.KubeStepStartedAt ?? time.GetUtcNow().UtcDateTime));
                    if (left < TimeSpan.Zero) left = TimeSpan.Zero;
                    var result = wait.AnyVersion
                        ? await WaitReadyAnyAsync(client, name, left, ct)
                        : await NodeReadiness.WaitReadyAsync(client, name, plan.Spec.KubernetesVersion, left, TimeSpan.FromMilliseconds(500), time, ct);
                    var message = result.Ready ? result.Reason : $"the Node did not become Ready at {plan.Spec.KubernetesVersion} within {Durations.Format(deadline)} (wait-ready): {LastSeen(result)}";
                    if (wait.AnyVersion && !result.Ready) message = $"not Ready again within {Durations.Format(deadline)}: {LastSeen(result)}";
                    Report(rollout, new KubeReport.ReadyResult(n.Name, n.KubeStep, result.Ready, message));
                    break;
                case RolloutAction.Uncordon:
                    if (n.CordonedAt is not { } cordonedAt)
                    {
                        Report(rollout, new KubeReport.Uncordoned(n.Name, false, "never cordoned"));
                        break;
                    }
                    var undone = await Cordon.UncordonAsync(client, new CordonRecord(name, n.WasSchedulable, new DateTimeOffset(DateTime.SpecifyKind(cordonedAt, DateTimeKind.Utc))), ct);
                    Report(rollout, new KubeReport.Uncordoned(n.Name, undone.Uncordoned || (n.WasSchedulable && undone.Reason == "already schedulable"), undone.Reason));
                    break;
            }
        }
        catch (KubeNodeNotFoundException e)
        {
            Report(rollout, new KubeReport.StepFailed(n.Name, n.KubeStep, $"cluster {cluster.Cluster}: {e.Message}"));
        }
    }

    private static string LastSeen(WaitReadyResult r) =>
        r.Last is { } v ? $"Ready={v.Ready ?? "unknown"}, kubelet {v.KubeletVersion ?? "unknown"}" : r.Reason;

    /// <summary>A failed node recovering: Ready at whatever version its kubelet runs (its run undone or never applied).</summary>
    private async Task<WaitReadyResult> WaitReadyAnyAsync(k8s.IKubernetes client, string name, TimeSpan deadline, CancellationToken ct)
    {
        var start = time.GetUtcNow();
        NodeView? last = null;
        while (true)
        {
            try { last = await NodeView.ReadAsync(client, name, ct); }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested) { }
            var waited = time.GetUtcNow() - start;
            if (last is { IsReady: true }) return new WaitReadyResult(true, last, waited, $"Ready at {last.KubeletVersion}");
            if (waited >= deadline) return new WaitReadyResult(false, last, waited, last is null ? "the cluster has no such Node" : "not Ready");
            await Task.Delay(TimeSpan.FromMilliseconds(500), time, ct);
        }
    }

    private async Task DrainAsync(string rollout, NodePlan plan, RolloutNodeRecord n, k8s.IKubernetes client, string name, CancellationToken ct)
    {
        var spec = DrainSpec.FromProto(plan.Spec?.Drain);
        DrainProgress progress;
        if (n.DrainStartedAt is { } started)
        {
            progress = new DrainProgress(name, new DateTimeOffset(DateTime.SpecifyKind(started, DateTimeKind.Utc)),
                n.DrainEvicted.ToImmutableSortedSet(StringComparer.Ordinal), n.DrainDeleted.ToImmutableSortedSet(StringComparer.Ordinal));
        }
        else
        {
            progress = DrainProgress.Start(name, time.GetUtcNow());
            Report(rollout, new KubeReport.DrainStarted(n.Name, progress.StartedAt.UtcDateTime));
        }
        var drainer = new Drainer(client, _drainerOptions);
        var result = await drainer.DrainAsync(name, spec, progress, (o, _) =>
        {
            switch (o)
            {
                case PodEvicted e: Report(rollout, new KubeReport.PodRemoved(n.Name, e.Pod.Uid, e.Pod.ToString(), Deleted: false)); break;
                case PodDeleted d: Report(rollout, new KubeReport.PodRemoved(n.Name, d.Pod.Uid, d.Pod.ToString(), Deleted: true)); break;
                case EvictionBlocked b: Report(rollout, new KubeReport.DrainBlocked(n.Name, b.Pod.ToString(), b.Budget ?? "(unnamed)", b.Message)); break;
            }
            return ValueTask.CompletedTask;
        }, ct);
        Report(rollout, new KubeReport.Drained(n.Name, result.Outcome == DrainOutcome.Drained,
            result.Outcome == DrainOutcome.TimedOut ? $"{result.Describe()} (spec.drain.timeout {Durations.Format(spec.Timeout)}, onTimeout fail)" : result.Describe()));
    }
}
