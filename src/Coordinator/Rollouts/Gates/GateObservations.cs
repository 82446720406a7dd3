namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// Prometheus's answer to a gate's query at <paramref name="At"/>: the series it returned (each as its labels,
/// "{alertname="X", severity="critical"}"), or the reason it could not be asked (<paramref name="Error"/>).
/// </summary>
public sealed record PrometheusAnswer(DateTime At, IReadOnlyList<string> Series, string? Error = null)
{
    public bool Unreachable => Error is not null;
}

/// <summary>
/// What the gates need from outside the rollout record, as last observed by the controller's probes: the engine stays
/// free of I/O and decides from these.
/// </summary>
public interface IGateObservations
{
    /// <summary>The latest answer to the rollout's Prometheus query; null before the first.</summary>
    PrometheusAnswer? Prometheus(string rollout);

    /// <summary>Whether the node's Kubernetes Node is Ready; null when not known (not asked yet, or no cluster).</summary>
    bool? KubeReady(string rollout, string node);

    /// <summary>
    /// Whether the node is offline as far as a soak is concerned: gone, or silent; a node given time to reconnect after a
    /// coordinator restart is not (yet).
    /// </summary>
    bool Offline(string node);

    /// <summary>A pod matching the blocking selector on the node ("pod NS/NAME"), "" when there is none, null when not known yet.</summary>
    string? Blocker(string rollout, string node);
}

/// <summary>No observations: gates that need one wait.</summary>
public sealed class NoGateObservations : IGateObservations
{
    public static readonly NoGateObservations Instance = new();
    public PrometheusAnswer? Prometheus(string rollout) => null;
    public bool? KubeReady(string rollout, string node) => null;
    public string? Blocker(string rollout, string node) => null;
    public bool Offline(string node) => false;
}
