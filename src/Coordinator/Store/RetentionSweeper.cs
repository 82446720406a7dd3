using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Store;

/// <summary>
/// Keeps the store from growing without end: every <see cref="RetentionSettings.SweepInterval"/> it deletes the events
/// older than <see cref="RetentionSettings.Events"/> and, per node, the runs beyond its newest
/// <see cref="RetentionSettings.RunsPerNode"/> (a run of a rollout still active is kept). Deletes go in small
/// transactions, so agents' reports wait behind none of them for long. Idempotent, but run once per fleet: by the holder
/// of the singleton lease, each transaction under it.
/// </summary>
public sealed partial class RetentionSweeper(ICoordinatorStore store, IOptions<CoordinatorOptions> options, TimeProvider time,
    ILogger<RetentionSweeper> log, Coordinators.SingletonLease? singleton = null) : BackgroundService
{
    /// <summary>Events deleted, or nodes whose runs are pruned, per transaction.</summary>
    public const int Batch = 500;
    private const int NodesPerWrite = 100;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var settings = options.Value.Retention;
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(settings.SweepInterval, time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            var lease = singleton?.Current;
            if (singleton is not null && lease is null) continue;
            try
            {
                var (events, runs) = await SweepAsync(settings, ct, lease).ConfigureAwait(false);
                if (events + runs > 0) LogSwept(log, events, runs);
                // A message never delivered (its node gone for good) is dropped as old events are.
                await store.Outbox.RemoveOlderThanAsync(time.GetUtcNow().UtcDateTime - settings.Events).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(log, e.Message);
            }
        }
    }

    /// <summary>One sweep: returns how many events and runs it deleted.</summary>
    /// <param name="lease">The lease the sweep runs under, checked in each of its writes (null: the only coordinator).</param>
    public async Task<(int Events, int Runs)> SweepAsync(RetentionSettings settings, CancellationToken ct = default, Lease? lease = null)
    {
        var cutoff = time.GetUtcNow().UtcDateTime - settings.Events;
        var events = 0;
        while (!ct.IsCancellationRequested)
        {
            var n = await store.WriteAsync(s =>
            {
                if (lease is not null) s.RequireLease(lease);
                return s.Events.DeleteOlderThan(cutoff, Batch);
            }).ConfigureAwait(false);
            events += n;
            if (n < Batch) break;
        }
        var active = store.Rollouts.ListActive().Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var names = store.Nodes.List(LabelSelector.Parse("")).Select(n => n.Name).ToList();
        var runs = 0;
        foreach (var chunk in names.Chunk(NodesPerWrite))
        {
            ct.ThrowIfCancellationRequested();
            runs += await store.WriteAsync(s =>
            {
                if (lease is not null) s.RequireLease(lease);
                return chunk.Sum(name => s.Runs.DeleteBeyond(name, settings.RunsPerNode, active));
            }).ConfigureAwait(false);
        }
        return (events, runs);
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information,
        Message = "Retention: deleted {Events} events and {Runs} runs past their keep")]
    private static partial void LogSwept(ILogger log, int events, int runs);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Retention sweep failed (tried again at the next): {Error}")]
    private static partial void LogFailed(ILogger log, string error);
}

/// <summary>How long events are kept, how many runs per node, and how often the sweep runs.</summary>
/// <param name="Events">Age past which an event is deleted (retentionEvents, default 90 days).</param>
/// <param name="RunsPerNode">Newest runs kept per node (retentionRunsPerNode, default 100).</param>
/// <param name="SweepInterval">Time between sweeps (retentionSweepInterval, default 1 hour).</param>
public sealed record RetentionSettings(TimeSpan Events, int RunsPerNode, TimeSpan SweepInterval);
