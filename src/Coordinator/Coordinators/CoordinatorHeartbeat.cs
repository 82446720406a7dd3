using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Coordinators;

/// <summary>
/// Writes this coordinator's record (address, version, agents connected, whether it holds the singleton lease) every
/// <see cref="Period"/>: what `nodefleet coordinators` lists, and how the lease holder tells a coordinator that died from
/// one that lives. The write doubles as the probe of the store for /readyz (<see cref="StoreHealth"/>).
/// </summary>
public sealed partial class CoordinatorHeartbeat(ICoordinatorStore store, CoordinatorIdentity me, Presence presence,
    SingletonLease lease, StoreHealth health, TimeProvider time, ILogger<CoordinatorHeartbeat> log,
    NodeFleet.Coordinator.Messaging.CoordinatorDirectory? directory = null) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(2);
    /// <summary>A coordinator not seen for this long is dropped from the list.</summary>
    public static readonly TimeSpan Forget = TimeSpan.FromDays(1);

    /// <summary>
    /// Whether the coordinator of <paramref name="record"/> counts as alive at <paramref name="now"/>: its last heartbeat
    /// is at most the singleton lease's TTL plus three heartbeat periods old, so one that merely missed a beat or two
    /// (a slow database) stays alive. The one rule for `nodefleet coordinators`, the addresses told to agents, and the
    /// nodes the rollout controller counts online through another coordinator.
    /// </summary>
    public static bool IsAlive(CoordinatorRecord record, DateTime now, TimeSpan leaseTtl) => now - record.LastSeen <= leaseTtl + Period * 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastPrune = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            try
            {
                var held = lease.Current;
                var record = new CoordinatorRecord
                {
                    Id = me.Id, Address = me.Address, Version = BuildInfo.Version, ConnectedAgents = presence.ConnectedCount,
                    LeaseHeld = held is not null, StartedAt = StoredTime.Of(me.StartedAt), LastSeen = StoredTime.Of(now.UtcDateTime),
                };
                // A database that does not answer is as unreachable as one that refuses.
                await store.WriteAsync(s => s.Coordinators.Put(record)).WaitAsync(Period * 3, time, stoppingToken);
                if (health.Problem is not null) LogReachable(log);
                health.Succeeded();
                if (directory is { FollowsRegistry: true })
                {
                    // The live coordinators' addresses, told to agents (on their next heartbeat when the list changed).
                    var all = await Task.Run(() => store.Coordinators.List(), stoppingToken).WaitAsync(Period * 3, time, stoppingToken);
                    directory.Refresh(all, now.UtcDateTime, lease.Ttl);
                }
                if (held is not null && now - lastPrune > TimeSpan.FromHours(1))
                {
                    lastPrune = now;
                    try
                    {
                        await store.WriteAsync(s =>
                        {
                            s.RequireLease(held);
                            s.Coordinators.DeleteSeenBefore(record.LastSeen - Forget);
                        });
                    }
                    catch (Errors.LeaseLostException) { } // another coordinator prunes now

                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                var problem = e is TimeoutException ? $"no answer within {(Period * 3).TotalSeconds:0}s" : e.Message;
                if (health.Problem is null) LogUnreachable(log, problem);
                health.Failed(problem);
            }
            try { await Task.Delay(Period, time, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    [LoggerMessage(EventId = 1411, Level = LogLevel.Warning, Message = "The store is unreachable ({Error}): not ready until it answers again")]
    private static partial void LogUnreachable(ILogger log, string error);

    [LoggerMessage(EventId = 1412, Level = LogLevel.Information, Message = "The store answers again: ready")]
    private static partial void LogReachable(ILogger log);
}
