using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// The window agents spread their reconnections over when their stream breaks (a coordinator killed or restarted):
/// each waits a random delay within it before its first attempt. It is the fleet's size divided by maxReconnectRate
/// (whole seconds, from <see cref="Min"/> to <see cref="Max"/>), so that a restarted coordinator sees about that many
/// TLS handshakes and hellos a second instead of the whole fleet at once — the idea of Nomad's heartbeat TTL, which
/// grows with the number of clients. Told in the welcome, and in a heartbeat acknowledgement when it changes; it follows
/// the fleet with the same slack as <see cref="HeartbeatPacer"/>.
/// </summary>
public sealed class ReconnectWindow
{
    /// <summary>The shortest window: the fixed delay agents waited before there was one.</summary>
    public static readonly TimeSpan Min = TimeSpan.FromSeconds(1);
    /// <summary>The longest: beyond it a broken stream leaves a node out of reach for too long, whatever the fleet.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromMinutes(10);

    private readonly double _maxRate;
    private long _currentTicks = Min.Ticks;

    public ReconnectWindow(IOptions<CoordinatorOptions> options) : this(options.Value.MaxReconnectRate)
    {
    }

    /// <param name="maxRate">Reconnections a second the coordinator is sized for; 0: no spreading (always <see cref="Min"/>).</param>
    public ReconnectWindow(double maxRate) => _maxRate = maxRate;

    /// <summary>The window agents are told now.</summary>
    public TimeSpan Current => new(Volatile.Read(ref _currentTicks));

    /// <summary>The window for a fleet of <paramref name="nodes"/> agents that would reconnect together.</summary>
    public TimeSpan For(int nodes)
    {
        if (_maxRate <= 0 || nodes <= 0) return Min;
        var seconds = Math.Ceiling(nodes / _maxRate);
        return seconds >= Max.TotalSeconds ? Max : seconds <= Min.TotalSeconds ? Min : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>
    /// Follows the number of agents: grows as soon as the target is more than 10 % above the current window, shrinks once
    /// the current one is more than 25 % longer than needed. True when <see cref="Current"/> changed.
    /// </summary>
    public bool Update(int nodes)
    {
        var target = For(nodes);
        var current = Current;
        if (target == current) return false;
        var grow = target > current * 1.1;
        var shrink = target < current && target * 1.25 < current;
        if (!grow && !shrink) return false;
        Volatile.Write(ref _currentTicks, target.Ticks);
        return true;
    }
}
