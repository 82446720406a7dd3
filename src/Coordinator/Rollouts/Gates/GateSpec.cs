using k8s;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// The gates of a start request, checked once (each bad value refused naming its flag), and the nodes' label values for
/// the per-label budgets, found when the rollout starts.
/// </summary>
public static class GateSpec
{
    /// <summary>The gates of <paramref name="s"/>; throws <see cref="FormatException"/> naming the flag and the problem.</summary>
    public static RolloutGates FromStrategy(RolloutStrategy s)
    {
        var g = new RolloutGates();
        if (s.Soak is { } soak)
        {
            var t = soak.ToTimeSpan();
            if (t < TimeSpan.Zero) throw new FormatException($"soak {t} must not be negative");
            g.SoakMs = (long)t.TotalMilliseconds;
        }
        if (s.GatePrometheus.Trim().Length > 0)
        {
            g.PrometheusUrl = PrometheusQuery.ParseAddress(s.GatePrometheus).ToString().TrimEnd('/');
            g.PrometheusQuery = s.GateQuery.Trim();
            if (g.PrometheusQuery.Length == 0)
                throw new FormatException("gate-prometheus needs gate-query, e.g. ALERTS{alertstate=\"firing\",severity=\"critical\"}");
        }
        else if (s.GateQuery.Trim().Length > 0) throw new FormatException("gate-query needs gate-prometheus (the address of Prometheus)");
        if (s.BlockingPods.Trim().Length > 0)
        {
            try { LabelSelector.Parse(s.BlockingPods); }
            catch (FormatException e) { throw new FormatException($"blocking-pods '{s.BlockingPods}': {e.Message}"); }
            g.BlockingPods = s.BlockingPods.Trim();
        }
        foreach (var (key, limit) in s.MaxUnavailablePer)
        {
            if (key.Trim().Length == 0 || key.Any(char.IsWhiteSpace) || key.Contains('='))
                throw new FormatException($"max-unavailable-per: '{key}' is not a label key");
            if (limit < 1) throw new FormatException($"max-unavailable-per {key}={limit}: the budget must be 1 or more");
            g.MaxUnavailablePer[key] = limit;
        }
        return g;
    }

    /// <summary>
    /// Each node's values of the per-label budget keys: its Kubernetes Node's label when it is in a cluster, else its
    /// NodeFleet label. A node without the label is under no per-label budget for that key.
    /// </summary>
    public static async Task ResolveTopologyAsync(RolloutRecord r, INodeClusters? clusters, NodeRegistry registry, CancellationToken ct = default)
    {
        var keys = r.Gates.MaxUnavailablePer.Keys.ToList();
        if (keys.Count == 0) return;
        foreach (var n in r.Nodes)
        {
            IDictionary<string, string>? labels = null;
            if (n.Cluster.Length > 0 && clusters is not null && await clusters.ForNodeAsync(n.Name, ct) is { } c)
            {
                try { labels = (await c.Connection.Client.CoreV1.ReadNodeAsync(c.KubeNodeName, cancellationToken: ct)).Metadata?.Labels; }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    throw new Errors.FailedPreconditionException($"{n.Name}: cluster {n.Cluster}: reading its Node's labels for max-unavailable-per: {KubeErrors.Describe(e)}");
                }
            }
            labels ??= registry.Get(n.Name).Labels;
            foreach (var key in keys)
                if (labels.TryGetValue(key, out var v)) n.Topology[key] = v;
        }
    }
}
