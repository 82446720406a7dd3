using Prometheus;

namespace NodeFleet.Coordinator.Observability;

/// <summary>
/// The hook for rollout progress: <c>nodefleet_rollout_nodes{rollout,state}</c>, how many nodes of each rollout
/// are in each state. The rollout controller calls <see cref="Set"/> whenever its counts change and
/// <see cref="Remove"/> when a rollout is deleted or no longer worth showing.
/// </summary>
public sealed class RolloutMetrics
{
    private readonly Gauge _nodes;
    private readonly object _gate = new();
    private readonly Dictionary<string, HashSet<string>> _states = new(StringComparer.Ordinal);

    public RolloutMetrics(CollectorRegistry registry)
    {
        _nodes = Metrics.WithCustomRegistry(registry).CreateGauge("nodefleet_rollout_nodes",
            "Nodes of each rollout by their state in it (pending, running, succeeded, failed, ...).",
            new GaugeConfiguration { LabelNames = ["rollout", "state"] });
    }

    /// <summary>
    /// Sets the counts of <paramref name="rollout"/>; a state it had before that is missing from
    /// <paramref name="countsByState"/> is removed, so a scrape never shows a stale state.
    /// </summary>
    public void Set(string rollout, IReadOnlyDictionary<string, int> countsByState)
    {
        lock (_gate)
        {
            if (_states.TryGetValue(rollout, out var previous))
            {
                foreach (var state in previous.Where(s => !countsByState.ContainsKey(s))) _nodes.RemoveLabelled(rollout, state);
            }
            foreach (var (state, count) in countsByState) _nodes.WithLabels(rollout, state).Set(count);
            _states[rollout] = new HashSet<string>(countsByState.Keys, StringComparer.Ordinal);
        }
    }

    /// <summary>Drops every series of <paramref name="rollout"/>.</summary>
    public void Remove(string rollout)
    {
        lock (_gate)
        {
            if (!_states.Remove(rollout, out var states)) return;
            foreach (var state in states) _nodes.RemoveLabelled(rollout, state);
        }
    }
}
