using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// The heartbeat period agents are told. It is the configured period (heartbeatInterval) while the fleet is small; once
/// more nodes are connected than period × maxHeartbeatRate, it grows to nodes / rate, so that the coordinator receives
/// about maxHeartbeatRate heartbeats a second however large the fleet (each costs a TLS record both ways and a pass
/// through the HTTP/2 and gRPC stacks). It follows the connected count with the slack of <see cref="FleetPace"/>.
/// </summary>
public sealed class HeartbeatPacer : FleetPace
{
    public HeartbeatPacer(IOptions<CoordinatorOptions> options) : this(options.Value.HeartbeatPeriod, options.Value.MaxHeartbeatRate)
    {
    }

    public HeartbeatPacer(TimeSpan basePeriod, double maxRate) : base(basePeriod, TimeSpan.MaxValue, maxRate)
    {
    }

    /// <summary>The configured period, the shortest this pacer gives.</summary>
    public TimeSpan Base => Floor;
}
