using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Tokens;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>Marks nodes offline after three missed heartbeats and flushes last-seen times.</summary>
public sealed class HeartbeatMonitor(Presence presence, NodeRegistry registry, TokenService tokens,
    IOptions<CoordinatorOptions> options, TimeProvider time, ILogger<HeartbeatMonitor> log) : BackgroundService
{
    public const int MissedHeartbeats = 3;
    private static readonly TimeSpan FlushEvery = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var node in registry.ListOnline()) presence.AddGrace(node.Name);
        var interval = options.Value.HeartbeatPeriod;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 100, 1000));
        var lastFlush = time.GetUtcNow();
        var lastPurge = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(tick, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(interval);
                var now = time.GetUtcNow();
                if (now - lastFlush >= FlushEvery)
                {
                    lastFlush = now;
                    var seen = presence.Snapshot().Where(s => s.Connected && !s.Silent).Select(s => (s.Node, s.LastSeen)).ToList();
                    if (seen.Count > 0) await registry.FlushLastSeenAsync(seen);
                }
                if (now - lastPurge >= TimeSpan.FromHours(1))
                {
                    lastPurge = now;
                    var purged = await tokens.PurgeExpiredAsync();
                    if (purged > 0) log.LogInformation("Purged {Count} expired tokens", purged);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Heartbeat check failed");
            }
        }
    }

    internal async Task CheckAsync(TimeSpan interval)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var limit = interval * MissedHeartbeats;
        foreach (var s in presence.Snapshot())
        {
            if (s.Silent || now - s.LastSeen <= limit) continue;
            if (!s.Connected)
            {
                // A node online before the restart that has not come back.
                if (presence.Close(s))
                    await registry.MarkOfflineAsync(s.Node, $"did not reconnect within {limit.TotalSeconds:0}s of a coordinator restart", null);
                continue;
            }
            s.Silent = true;
            log.LogWarning("Node {Node} missed {Count} heartbeats; marking it offline", s.Node, MissedHeartbeats);
            await registry.MarkOfflineAsync(s.Node, $"missed {MissedHeartbeats} heartbeats (last seen {s.LastSeen:yyyy-MM-ddTHH:mm:ssZ})", s.LastSeen);
        }
    }
}
