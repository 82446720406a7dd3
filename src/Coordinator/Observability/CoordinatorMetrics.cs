using Prometheus;

namespace NodeFleet.Coordinator.Observability;

/// <summary>
/// The coordinator's own counters and histograms (prefix nodefleet_), observed where things happen. Gauges that
/// describe the fleet are computed at scrape time by <see cref="FleetGauges"/>; rollout progress is set by the
/// rollout controller through <see cref="RolloutMetrics"/>.
/// </summary>
public sealed class CoordinatorMetrics
{
    private readonly Histogram _stepDuration;
    private readonly Histogram _reportIngest;
    private readonly Counter.Child _recorded;
    private readonly Counter.Child _duplicate;
    private readonly Counter _batches;
    private readonly Counter _dropped;
    private readonly Counter _joinRefusals;

    public CoordinatorMetrics(CollectorRegistry registry)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        _stepDuration = factory.CreateHistogram("nodefleet_step_duration_seconds",
            "Duration of finished plan steps on the nodes, from the agents' reported start and finish times.",
            new HistogramConfiguration
            {
                LabelNames = ["phase", "step", "result"],
                // 50ms to ~55min: a config write is milliseconds, an image pre-pull can take many minutes.
                Buckets = Histogram.ExponentialBuckets(0.05, 2, 17),
            });
        _reportIngest = factory.CreateHistogram("nodefleet_report_ingest_seconds",
            "Time from an agent's step report arriving to its acknowledgement being queued, i.e. persisted.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
        var reports = factory.CreateCounter("nodefleet_reports_total",
            "Step reports received from agents: recorded, or recognised as a duplicate of one already recorded.",
            new CounterConfiguration { LabelNames = ["outcome"] });
        // Both series exist from the start, so rate() and alerts work before the first duplicate.
        _recorded = reports.WithLabels("recorded");
        _duplicate = reports.WithLabels("duplicate");
        _batches = factory.CreateCounter("nodefleet_report_batches_total",
            "Report batches received from agents (each recorded in one store write and acknowledged once); their reports are " +
            "counted in nodefleet_reports_total too.");
        _dropped = factory.CreateCounter("nodefleet_connections_dropped_total",
            "Connections to the agent and operator port dropped before their TLS handshake: silent (no byte within the " +
            "first-byte timeout) or evicted (a newer connection from the same address took the place of a silent one).",
            new CounterConfiguration { LabelNames = ["reason"] });
        foreach (var reason in new[] { NodeFleet.Coordinator.Admission.ConnectionAdmission.Silent, NodeFleet.Coordinator.Admission.ConnectionAdmission.Evicted })
            _dropped.WithLabels(reason);
        _joinRefusals = factory.CreateCounter("nodefleet_join_refusals_total",
            "Discovery and join calls refused (a wrong, unknown, expired or locked token; a bad request), and calls refused at " +
            "once because their source address was refused too often in the last minute (call=\"throttled\").",
            new CounterConfiguration { LabelNames = ["call"] });
        foreach (var call in new[] { "discovery", "join", "throttled" }) _joinRefusals.WithLabels(call);
    }

    public void CountDroppedConnection(string reason) => _dropped.WithLabels(reason).Inc();

    /// <summary>A refused discovery or join (<paramref name="call"/>), or one refused at once for its source's refusals ("throttled").</summary>
    public void CountJoinRefusal(string call) => _joinRefusals.WithLabels(call).Inc();

    /// <summary>A step finished (<paramref name="result"/> "succeeded" or "failed") after <paramref name="duration"/>.</summary>
    public void ObserveStep(string phase, string step, string result, TimeSpan duration)
    {
        if (duration < TimeSpan.Zero) return; // clocks of agent and coordinator are not ours to fix here
        _stepDuration.WithLabels(phase, step, result).Observe(duration.TotalSeconds);
    }

    public void ObserveReportIngest(TimeSpan elapsed) => _reportIngest.Observe(elapsed.TotalSeconds);

    public void CountReport(bool recorded) => (recorded ? _recorded : _duplicate).Inc();

    public void CountReportBatch() => _batches.Inc();
}
