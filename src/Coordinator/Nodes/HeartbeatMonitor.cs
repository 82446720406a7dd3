using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// Marks nodes offline after three missed heartbeats, keeps the heartbeat period and the reconnect window in step with
/// the number of agents (<see cref="HeartbeatPacer"/>, <see cref="ReconnectWindow"/>) and flushes last-seen times. Each coordinator watches the streams it holds;
/// the holder of the singleton lease (<see cref="SingletonLease"/>) also marks offline the nodes whose coordinator died,
/// and purges expired tokens, each write under the lease.
/// </summary>
public sealed class HeartbeatMonitor(Presence presence, HeartbeatPacer pacer, ReconnectWindow window, NodeRegistry registry, TokenService tokens,
    IOptions<CoordinatorOptions> options, TimeProvider time, ILogger<HeartbeatMonitor> log,
    SingletonLease? singleton = null, CoordinatorIdentity? me = null, ICoordinatorStore? store = null) : BackgroundService
{
    /// <summary>How often the lease holder looks for nodes whose coordinator stopped heartbeating.</summary>
    private static readonly TimeSpan OrphanCheckEvery = TimeSpan.FromSeconds(5);

    public const int MissedHeartbeats = 3;
    /// <summary>
    /// How often the last-seen times of connected nodes are written. Views of a connected node show the live time from
    /// presence, and a disconnect writes its own; this only bounds what a crashed coordinator forgets. Writing every
    /// node's record costs the one database writer about 0.1 ms a node, so not more often than this.
    /// </summary>
    private static readonly TimeSpan FlushEvery = TimeSpan.FromMinutes(5);

    private TimeSpan? _graceLimit;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        GiveRestartGrace();
        var interval = options.Value.HeartbeatPeriod;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 100, 1000));
        var lastFlush = time.GetUtcNow();
        var lastPurge = DateTimeOffset.MinValue;
        var lastOrphanCheck = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(tick, time);
        while (await NextTickAsync(timer, stoppingToken))
        {
            try
            {
                if (pacer.Update(presence.ConnectedCount))
                    log.LogInformation("Heartbeat period now {Seconds:0.#}s for {Connected} connected agents (at most about {Rate} heartbeats a second)",
                        pacer.Current.TotalSeconds, presence.ConnectedCount, options.Value.MaxHeartbeatRate);
                // Agents still expected back after a restart count: they are the ones that would reconnect together.
                if (window.Update(presence.Count))
                    log.LogInformation("Reconnect window now {Seconds:0}s for {Agents} agents (about {Rate} reconnections a second after a restart)",
                        window.Current.TotalSeconds, presence.Count, options.Value.MaxReconnectRate);
                await CheckAsync(interval);
                var now = time.GetUtcNow();
                if (now - lastFlush >= FlushEvery)
                {
                    lastFlush = now;
                    var seen = presence.Snapshot().Where(s => s.Connected && !s.Silent).Select(s => (s.Node, s.LastSeen)).ToList();
                    if (seen.Count > 0) await registry.FlushLastSeenAsync(seen);
                }
                // Once per fleet: on the lease holder (any coordinator without one, as on LiteDB in tests).
                var lease = singleton?.Current;
                if (singleton is not null && lease is null) continue;
                if (now - lastPurge >= TimeSpan.FromHours(1))
                {
                    lastPurge = now;
                    var purged = await tokens.PurgeExpiredAsync(lease);
                    if (purged > 0) log.LogInformation("Purged {Count} expired tokens", purged);
                }
                if (lease is not null && me is not null && store is not null && now - lastOrphanCheck >= OrphanCheckEvery)
                {
                    lastOrphanCheck = now;
                    await MarkOrphansOfflineAsync(lease, me, store, singleton!.Ttl);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Heartbeat check failed");
            }
        }
    }

    /// <summary>
    /// At start: the nodes that were online on this coordinator when it stopped keep their status while they reconnect.
    /// They were told a reconnect window for a fleet of their number and spread their first attempts over it; each gets
    /// that window plus three heartbeat periods (their retries, and a slow hello) before it is marked offline.
    /// Returns how many were online.
    /// </summary>
    internal int GiveRestartGrace()
    {
        // Only the nodes whose stream this coordinator held: another's are its own to watch.
        var wereOnline = registry.ListOnline().Where(n => me is null || n.Coordinator.Length == 0 || n.Coordinator == me.Id).ToList();
        foreach (var node in wereOnline) presence.AddGrace(node.Name);
        window.Update(wereOnline.Count);
        _graceLimit = RestartGrace(wereOnline.Count);
        if (wereOnline.Count > 0)
            log.LogInformation("{Count} nodes were online before this start: they have {Seconds:0}s to reconnect (reconnect window {Window:0}s)",
                wereOnline.Count, _graceLimit.Value.TotalSeconds, window.Target(wereOnline.Count).TotalSeconds);
        return wereOnline.Count;
    }

    /// <summary>How long after a start a node online before it may take to reconnect, for <paramref name="wereOnline"/> such nodes.</summary>
    public TimeSpan RestartGrace(int wereOnline) => window.Target(wereOnline) + pacer.Target(wereOnline) * MissedHeartbeats;

    /// <summary>
    /// False once the host stops: the loop then ends normally. Were the cancellation thrown out of ExecuteAsync, a host
    /// that failed to start (a port in use) would log it as a failed background service, on top of the real error.
    /// </summary>
    private static async Task<bool> NextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try { return await timer.WaitForNextTickAsync(stoppingToken); }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return false; }
    }

    /// <summary>
    /// Marks offline the nodes online on a coordinator that stopped heartbeating (killed, cut off) for longer than a lease
    /// TTL: their agents are gone from it, and one that reconnects elsewhere is marked online there.
    /// </summary>
    private async Task MarkOrphansOfflineAsync(Lease lease, CoordinatorIdentity self, ICoordinatorStore db, TimeSpan ttl)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var limit = ttl + CoordinatorHeartbeat.Period * 3;
        var coordinators = db.Coordinators.List().ToDictionary(c => c.Id, StringComparer.Ordinal);
        // Names and coordinators only, of the nodes another coordinator holds: reading every online node's record every
        // few seconds was a third of an idle coordinator's CPU at 10,000 agents.
        foreach (var (name, holder) in db.Nodes.OnlineElsewhere(self.Id))
        {
            if (holder.Length == 0) continue;
            if (coordinators.TryGetValue(holder, out var c) && now - c.LastSeen <= limit) continue;
            var seen = c is null ? "" : $" (last seen {c.LastSeen:yyyy-MM-ddTHH:mm:ssZ})";
            log.LogWarning("Node {Node} was connected to coordinator {Coordinator}, which stopped{Seen}; marking it offline",
                name, holder, seen);
            await registry.MarkOfflineAsync(name, $"its coordinator {holder} stopped{seen}", null, heldBy: holder, lease: lease);
        }
    }

    internal async Task CheckAsync(TimeSpan interval)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var grace = _graceLimit ?? interval * MissedHeartbeats;
        foreach (var s in presence.Snapshot())
        {
            var limit = !s.Connected ? grace : (s.DetectionInterval is var d && d > TimeSpan.Zero ? d : interval) * MissedHeartbeats;
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
