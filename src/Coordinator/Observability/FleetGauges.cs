using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using Prometheus;

namespace NodeFleet.Coordinator.Observability;

/// <summary>
/// Gauges describing the fleet now, computed when Prometheus scrapes: connected agents from presence, nodes by
/// status and by phase from one pass over the stored nodes (status and phase only, not whole records).
/// </summary>
public sealed class FleetGauges
{
    /// <summary>The phase label of a node that is in no phase (idle, or its last plan finished).</summary>
    public const string NoPhase = "none";

    private readonly Presence _presence;
    private readonly HeartbeatPacer _pacer;
    private readonly Gauge _heartbeatPeriod;
    private readonly ICoordinatorStore _store;
    private readonly Gauge _connected;
    private readonly Gauge _nodes;
    private readonly Gauge _byPhase;
    private readonly Gauge _storeSize;
    private readonly Gauge _certificatesExpiring;
    /// <summary>The window of <c>nodefleet_node_certificates_expiring</c>.</summary>
    public static readonly TimeSpan ExpiringWithin = TimeSpan.FromDays(7);
    private readonly object _gate = new();

    private readonly TimeProvider _time;

    public FleetGauges(CollectorRegistry registry, Presence presence, HeartbeatPacer pacer, ICoordinatorStore store, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _presence = presence;
        _pacer = pacer;
        _store = store;
        var factory = Metrics.WithCustomRegistry(registry);
        _connected = factory.CreateGauge("nodefleet_connected_agents", "Agents holding a stream to this coordinator now.");
        _heartbeatPeriod = factory.CreateGauge("nodefleet_heartbeat_period_seconds",
            "Heartbeat period agents are told now (heartbeatInterval, longer when the fleet needs it for maxHeartbeatRate).");
        _nodes = factory.CreateGauge("nodefleet_nodes", "Registered nodes by status (online or offline).",
            new GaugeConfiguration { LabelNames = ["status"] });
        _certificatesExpiring = factory.CreateGauge("nodefleet_node_certificates_expiring",
            "Nodes whose certificate expires within 7 days (renewal is failing, or the node is away): each must renew or join again.");
        _byPhase = factory.CreateGauge("nodefleet_nodes_by_phase",
            $"Registered nodes by the plan phase they are in (\"{NoPhase}\" when none; \"PHASE (failed)\" after a failure).",
            new GaugeConfiguration { LabelNames = ["phase"] });
        _storeSize = factory.CreateGauge("nodefleet_store_size_bytes",
            "Space the coordinator's state takes: the LiteDB database and its write-ahead log, or the PostgreSQL database (pg_database_size).");
        registry.AddBeforeCollectCallback(Update);
    }

    /// <summary>Recomputes every gauge; called before each scrape.</summary>
    public void Update()
    {
        lock (_gate)
        {
            _connected.Set(_presence.ConnectedCount);
            _heartbeatPeriod.Set(_pacer.Current.TotalSeconds);
            if (!_store.IsOpen) return;
            int online = 0, offline = 0;
            var phases = new Dictionary<string, int>(StringComparer.Ordinal);
            try
            {
                foreach (var ((status, nodePhase), count) in _store.Nodes.CountByStatusAndPhase())
                {
                    if (status == NodeState.Online) online += count;
                    else offline += count;
                    var phase = string.IsNullOrEmpty(nodePhase) ? NoPhase : nodePhase;
                    phases[phase] = phases.GetValueOrDefault(phase) + count;
                }
                _certificatesExpiring.Set(_store.Nodes.CountCertificatesExpiringBefore(_time.GetUtcNow().UtcDateTime + ExpiringWithin));
            }
            catch (ObjectDisposedException)
            {
                return; // shutting down between the check and the read
            }
            try { _storeSize.Set(_store.SizeBytes()); }
            catch (Exception e) when (e is IOException or ObjectDisposedException or Npgsql.NpgsqlException or InvalidOperationException) { }
            _nodes.WithLabels("online").Set(online);
            _nodes.WithLabels("offline").Set(offline);
            // A phase no node is in any more disappears rather than lingering at zero.
            foreach (var labels in _byPhase.GetAllLabelValues().ToList())
            {
                if (!phases.ContainsKey(labels[0])) _byPhase.RemoveLabelled(labels);
            }
            foreach (var (phase, count) in phases) _byPhase.WithLabels(phase).Set(count);
        }
    }
}
