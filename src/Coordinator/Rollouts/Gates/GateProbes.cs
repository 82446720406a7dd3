using k8s;
using System.Collections.Concurrent;
using NodeFleet.Coordinator.Clusters;

namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// The controller's eyes for the gates: each pass says what its rollouts need now (<see cref="Want"/>); a loop asks
/// Prometheus, reads the Nodes of a soaking wave and the pods on nodes about to start, keeps the latest answers for the
/// engine, and wakes the controller when one changes. Nothing here is persisted: after a restart it asks again.
/// </summary>
public sealed class GateProbes(INodeClusters clusters, TimeProvider time, Action wake, Func<string, bool> offline, ILogger log, HttpClient? http = null)
    : IGateObservations
{
    /// <summary>How often each wanted observation is refreshed.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private sealed record Needs(string PrometheusUrl, string Query, IReadOnlyList<string> ReadyNodes, string BlockingPods, IReadOnlyList<string> BlockerNodes);

    private static readonly HttpClient SharedHttp = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly PrometheusQuery _prometheus = new(http ?? SharedHttp, time);
    private readonly ConcurrentDictionary<string, Needs> _wanted = new();
    private readonly ConcurrentDictionary<string, PrometheusAnswer> _answers = new();
    private readonly ConcurrentDictionary<(string, string), bool> _ready = new();
    private readonly ConcurrentDictionary<(string, string), string> _blockers = new();
    private readonly object _gate = new();
    private Task? _loop;

    public PrometheusAnswer? Prometheus(string rollout) => _answers.GetValueOrDefault(rollout);
    public bool? KubeReady(string rollout, string node) => _ready.TryGetValue((rollout, node), out var r) ? r : null;
    public string? Blocker(string rollout, string node) => _blockers.GetValueOrDefault((rollout, node));
    public bool Offline(string node) => offline(node);

    /// <summary>Records what <paramref name="r"/> needs observed now (nothing, once it is past its gates or over).</summary>
    public void Want(RolloutRecord r, CancellationToken stopping)
    {
        var g = r.Gates;
        var checking = r.State == RolloutState.Rolling && g.Wave == r.CurrentWave && !g.Passed;
        var promUrl = g.PrometheusUrl.Length > 0 && (checking || (r.State == RolloutState.Paused && g.PausedBy == GateEngine.Prometheus)) ? g.PrometheusUrl : "";
        var ready = g.SoakMs > 0 && checking
            ? r.Nodes.Where(n => n.Wave == r.CurrentWave && n.Cluster.Length > 0 && n.State == RolloutNodeState.Succeeded).Select(n => n.Name).ToList()
            : [];
        var blocked = g.BlockingPods.Length > 0 && r.State == RolloutState.Rolling
            ? r.Nodes.Where(n => n.Wave == r.CurrentWave && n.Cluster.Length > 0 && n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared).Select(n => n.Name).ToList()
            : [];
        if (promUrl.Length == 0 && ready.Count == 0 && blocked.Count == 0)
        {
            if (_wanted.TryRemove(r.Id, out _)) Forget(r.Id);
            return;
        }
        _wanted[r.Id] = new Needs(promUrl, g.PrometheusQuery, ready, g.BlockingPods, blocked);
        lock (_gate) _loop ??= Task.Run(() => LoopAsync(stopping), CancellationToken.None);
    }

    private void Forget(string rollout)
    {
        _answers.TryRemove(rollout, out _);
        foreach (var k in _ready.Keys.Where(k => k.Item1 == rollout)) _ready.TryRemove(k, out _);
        foreach (var k in _blockers.Keys.Where(k => k.Item1 == rollout)) _blockers.TryRemove(k, out _);
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var changed = false;
                foreach (var (rollout, needs) in _wanted.ToArray())
                    changed |= await ProbeAsync(rollout, needs, ct);
                if (changed) wake();
                await Task.Delay(Interval, time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                log.LogWarning(e, "Rollout gate probes failed; trying again");
                try { await Task.Delay(Interval, time, ct); } catch (OperationCanceledException) { break; }
            }
        }
    }

    private async Task<bool> ProbeAsync(string rollout, Needs needs, CancellationToken ct)
    {
        var changed = false;
        if (needs.PrometheusUrl.Length > 0)
        {
            var answer = await _prometheus.AskAsync(needs.PrometheusUrl, needs.Query, ct);
            var before = _answers.GetValueOrDefault(rollout);
            _answers[rollout] = answer;
            // Every fresh answer matters to a gate that waits for one taken after it began.
            changed = true;
            if (before is null || before.Error != answer.Error || !before.Series.SequenceEqual(answer.Series))
                log.LogInformation("Rollout {Rollout}: Prometheus gate: {Answer}", rollout,
                    answer.Error ?? (answer.Series.Count == 0 ? "no series" : string.Join("; ", answer.Series)));
        }
        foreach (var node in needs.ReadyNodes)
        {
            if (await clusters.ForNodeAsync(node, ct) is not { } c) continue;
            try
            {
                var view = await NodeView.ReadAsync(c.Connection.Client, c.KubeNodeName, ct);
                var ready = view?.IsReady == true;
                if (!_ready.TryGetValue((rollout, node), out var was) || was != ready) changed = true;
                _ready[(rollout, node)] = ready;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // The API server did not answer: the node's readiness is not known, which does not break a soak.
                _ready.TryRemove((rollout, node), out _);
                log.LogDebug("Rollout {Rollout} node {Node}: soak readiness unknown: {Error}", rollout, node, KubeErrors.Describe(e));
            }
        }
        foreach (var node in needs.BlockerNodes)
        {
            if (await clusters.ForNodeAsync(node, ct) is not { } c) continue;
            try
            {
                var pods = await c.Connection.Client.CoreV1.ListPodForAllNamespacesAsync(
                    labelSelector: needs.BlockingPods, fieldSelector: $"spec.nodeName={c.KubeNodeName}", cancellationToken: ct);
                var pod = pods.Items.FirstOrDefault(p => p.Status?.Phase is not ("Succeeded" or "Failed"));
                var blocker = pod is null ? "" : $"pod {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}";
                if (_blockers.GetValueOrDefault((rollout, node)) != blocker) changed = true;
                _blockers[(rollout, node)] = blocker;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Not known: the node keeps waiting (held if it was), never starts on a guess.
                log.LogWarning("Rollout {Rollout} node {Node}: blocking pods not known: {Error}", rollout, node, KubeErrors.Describe(e));
            }
        }
        return changed;
    }
}
