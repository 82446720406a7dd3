using System.Net;
using NodeFleet.Config;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// Settings of `nodefleet-coordinator run`, bound from (lowest to highest precedence) defaults,
/// /etc/nodefleet/coordinator.yaml, NODEFLEET_* environment variables and command-line flags.
/// </summary>
public sealed class CoordinatorOptions
{
    public const string DefaultConfigFile = "/etc/nodefleet/coordinator.yaml";

    public string Listen { get; set; } = "0.0.0.0:7443";
    /// <summary>Plain-HTTP address for /metrics, /healthz and /readyz; "" or "off" serves none of them.</summary>
    public string MetricsListen { get; set; } = "0.0.0.0:7444";
    public string DataDir { get; set; } = DataDirectory.DefaultPath;
    /// <summary>Duration text ("10s"); agents are told this period, and three missed heartbeats mark a node offline.</summary>
    public string HeartbeatInterval { get; set; } = "10s";
    /// <summary>
    /// The most heartbeats a second the coordinator asks for: with more nodes than HeartbeatPeriod × this rate, agents
    /// are told a longer period (nodes / rate seconds). 0 turns the bound off.
    /// </summary>
    public double MaxHeartbeatRate { get; set; } = 100;
    public string LogFormat { get; set; } = "text";
    public string LogLevel { get; set; } = "Information";

    public TimeSpan HeartbeatPeriod => Durations.Parse(HeartbeatInterval);

    /// <summary>The metrics endpoint, or null when it is turned off.</summary>
    public IPEndPoint? MetricsEndpoint
    {
        get
        {
            var text = MetricsListen.Trim();
            if (text.Length == 0 || text.Equals("off", StringComparison.OrdinalIgnoreCase)) return null;
            try { return ParseListen(text); }
            catch (StartupException e) { throw new StartupException($"metricsListen: {e.Message} (or \"off\")"); }
        }
    }

    /// <summary>Checks every setting, naming the one that is wrong.</summary>
    public void Validate()
    {
        var listen = ParseListen(Listen);
        // Requests are routed to the metrics endpoint by the port they arrive on, so the two ports must differ.
        if (MetricsEndpoint is { } metrics && metrics.Port == listen.Port)
            throw new StartupException($"metricsListen {MetricsListen} must use another port than listen {Listen}");
        TimeSpan hb;
        try { hb = HeartbeatPeriod; }
        catch (FormatException e) { throw new StartupException($"heartbeatInterval: {e.Message}"); }
        if (hb < TimeSpan.FromMilliseconds(100)) throw new StartupException("heartbeatInterval must be at least 100ms");
        // Agents run their heartbeat on a timer, which holds at most about 49 days; a day already means a dead node
        // goes unnoticed for three.
        if (hb > TimeSpan.FromHours(24)) throw new StartupException($"heartbeatInterval {HeartbeatInterval.Trim()} must be at most 24h");
        if (!double.IsFinite(MaxHeartbeatRate) || MaxHeartbeatRate < 0)
            throw new StartupException($"maxHeartbeatRate {MaxHeartbeatRate} must be a number of heartbeats per second, at least 0 (0: no bound)");
        if (LogFormat is not ("text" or "json")) throw new StartupException($"logFormat '{LogFormat}' is not one of: text, json");
    }

    public static IPEndPoint ParseListen(string listen)
    {
        if (IPEndPoint.TryParse(listen, out var ep) && ep.Port != 0) return ep;
        var colon = listen.LastIndexOf(':');
        if (colon > 0 && listen[..colon] == "localhost" && int.TryParse(listen[(colon + 1)..], out var port) && port is > 0 and < 65536)
            return new IPEndPoint(IPAddress.Loopback, port);
        throw new StartupException($"listen address '{listen}' must be IP:PORT (e.g. 0.0.0.0:7443, 127.0.0.1:7443, [::]:7443)");
    }
}
