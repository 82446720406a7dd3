namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// A span of time told to every agent that grows with the fleet: the number of agents divided by a rate, in whole
/// seconds (it is shown to people and logged by every agent), from <see cref="Floor"/> up to <see cref="Ceiling"/>. It
/// follows the count with slack, so that a fleet that grows or shrinks by a few nodes does not send every agent a new
/// value: it grows as soon as the target is more than 10 % above the current value, and shrinks once the current one is
/// more than 25 % longer than the agents need. The heartbeat period (<see cref="HeartbeatPacer"/>) and the reconnect
/// window (<see cref="ReconnectWindow"/>) are two of these.
/// </summary>
public abstract class FleetPace
{
    private readonly double _rate;
    private long _currentTicks;

    /// <param name="rate">Agents per second of the span; 0 (or less): always <paramref name="floor"/>.</param>
    protected FleetPace(TimeSpan floor, TimeSpan ceiling, double rate)
    {
        Floor = floor;
        Ceiling = ceiling;
        _rate = rate;
        _currentTicks = floor.Ticks;
    }

    /// <summary>The shortest span given, whatever the fleet.</summary>
    public TimeSpan Floor { get; }

    /// <summary>The longest span given, whatever the fleet.</summary>
    public TimeSpan Ceiling { get; }

    /// <summary>The span agents are told now.</summary>
    public TimeSpan Current => new(Volatile.Read(ref _currentTicks));

    /// <summary>The span <paramref name="nodes"/> agents need, before any slack.</summary>
    public TimeSpan Target(int nodes)
    {
        if (_rate <= 0 || nodes <= 0) return Floor;
        var seconds = Math.Ceiling(nodes / _rate);
        return seconds >= Ceiling.TotalSeconds ? Ceiling : seconds <= Floor.TotalSeconds ? Floor : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Follows the number of agents, with the slack above. True when <see cref="Current"/> changed.</summary>
    public bool Update(int nodes)
    {
        var target = Target(nodes);
        var current = Current;
        if (target == current) return false;
        var needed = _rate > 0 ? nodes / _rate : 0;
        var grow = target > current * 1.1;
        var shrink = target < current && needed * 1.25 < current.TotalSeconds;
        if (!grow && !shrink) return false;
        Volatile.Write(ref _currentTicks, target.Ticks);
        return true;
    }
}
