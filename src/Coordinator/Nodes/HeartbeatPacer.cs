using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// The heartbeat period agents are told. It is the configured period (heartbeatInterval) while the fleet is small; once
/// more nodes are connected than period × maxHeartbeatRate, it grows to nodes / rate, so that the coordinator receives
/// about maxHeartbeatRate heartbeats a second however large the fleet (each costs a TLS record both ways and a pass
/// through the HTTP/2 and gRPC stacks). It follows the connected count with some slack, so that a fleet that grows or
/// shrinks by a few nodes does not send every agent a new period.
/// </summary>
public sealed class HeartbeatPacer
{
    private readonly TimeSpan _base;
    private readonly double _maxRate;
    private long _currentTicks;

    public HeartbeatPacer(IOptions<CoordinatorOptions> options) : this(options.Value.HeartbeatPeriod, options.Value.MaxHeartbeatRate)
    {
    }

    public HeartbeatPacer(TimeSpan basePeriod, double maxRate)
    {
        _base = basePeriod;
        _maxRate = maxRate;
        _currentTicks = basePeriod.Ticks;
    }

    /// <summary>The period new streams are welcomed with and connected agents are moved to.</summary>
    public TimeSpan Current => new(Volatile.Read(ref _currentTicks));

    /// <summary>The configured period, the shortest this pacer gives.</summary>
    public TimeSpan Base => _base;

    /// <summary>The period <paramref name="connected"/> agents need for the rate bound, before any slack.</summary>
    public TimeSpan Target(int connected)
    {
        if (_maxRate <= 0 || connected <= 0) return _base;
        // Whole seconds: periods are shown to people and logged by every agent.
        var needed = TimeSpan.FromSeconds(Math.Ceiling(connected / _maxRate));
        return needed > _base ? needed : _base;
    }

    /// <summary>
    /// Follows the number of connected agents: the period grows as soon as the target is more than 10 % above it, and
    /// shrinks once it is more than 25 % longer than the agents need. Returns true when <see cref="Current"/> changed.
    /// </summary>
    public bool Update(int connected)
    {
        var target = Target(connected);
        var current = Current;
        if (target == current) return false;
        var needed = _maxRate > 0 ? connected / _maxRate : 0;
        var grow = target > current * 1.1;
        var shrink = target < current && needed * 1.25 < current.TotalSeconds;
        if (!grow && !shrink) return false;
        Volatile.Write(ref _currentTicks, target.Ticks);
        return true;
    }
}
