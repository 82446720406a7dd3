using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Net;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// The window agents spread their reconnections over when their stream breaks (a coordinator killed or restarted):
/// each waits a random delay within it before its first attempt. It is the fleet's size divided by maxReconnectRate
/// (whole seconds, from <see cref="Min"/> to <see cref="Max"/>), so that a restarted coordinator sees about that many
/// TLS handshakes and hellos a second instead of the whole fleet at once — the idea of Nomad's heartbeat TTL, which
/// grows with the number of clients. Told in the welcome, and in a heartbeat acknowledgement when it changes; it follows
/// the fleet with the slack of <see cref="FleetPace"/>, as the heartbeat period does.
/// </summary>
public sealed class ReconnectWindow : FleetPace
{
    /// <summary>The shortest window: the fixed delay agents waited before there was one.</summary>
    public static readonly TimeSpan Min = TimeSpan.FromSeconds(1);
    /// <summary>The longest: beyond it a broken stream leaves a node out of reach for too long, whatever the fleet.</summary>
    public static readonly TimeSpan Max = NodeLimits.MaxReconnectWindow;

    public ReconnectWindow(IOptions<CoordinatorOptions> options) : this(options.Value.MaxReconnectRate)
    {
    }

    /// <param name="maxRate">Reconnections a second the coordinator is sized for; 0: no spreading (always <see cref="Min"/>).</param>
    public ReconnectWindow(double maxRate) : base(Min, Max, maxRate)
    {
    }
}
