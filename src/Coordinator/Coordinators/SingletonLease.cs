using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Coordinators;

/// <summary>
/// The lease under which the work that must happen once per fleet runs (the rollout controller, offline detection of
/// nodes whose coordinator died, token expiry, retention): among coordinators sharing a PostgreSQL database, one holds
/// it at a time; when it dies, another takes it over once its TTL has passed. The holder renews it every third of the
/// TTL. It counts the lease as its own only until 80 % of the TTL after it last asked for a renewal that succeeded:
/// the database cannot have given it to another before the TTL has passed since that renewal, so a holder cut off from
/// the database stops acting before anyone else can start. Every write of that work also carries the lease
/// (<see cref="IStoreWriter.RequireLease"/>), checked in its own transaction: a holder that missed the end of its
/// tenure (paused, its clock running slow) still cannot write. On LiteDB, one coordinator per file, it is simply held.
/// </summary>
public sealed partial class SingletonLease : BackgroundService
{
    public const string Name = "singleton";
    /// <summary>The share of the TTL, after a renewal was asked for, during which the lease is acted on.</summary>
    private const double Trust = 0.8;

    private readonly ICoordinatorStore _store;
    private readonly EventBus _events;
    private readonly CoordinatorIdentity _me;
    private readonly TimeProvider _time;
    private readonly ILogger<SingletonLease> _log;
    private readonly string _holder;
    private readonly object _gate = new();
    private Lease? _held;
    private long _askedAt;
    private DateTime _askedWall;
    // A tenure that ended here, recorded (as a LeaseLost event, with when this coordinator stopped acting) once the store answers.
    private (Lease Lease, DateTime StoppedAt, string Why)? _lost;

    /// <param name="shared">
    /// False on LiteDB: the data directory's lock makes this the only coordinator, so its holder name is the same in every
    /// process and a restart goes on with the tenure the last process had, without waiting for it to expire.
    /// </param>
    public SingletonLease(ICoordinatorStore store, EventBus events, CoordinatorIdentity me, IOptions<CoordinatorOptions> options,
        TimeProvider time, ILogger<SingletonLease> log, bool shared)
    {
        _store = store;
        _events = events;
        _me = me;
        _time = time;
        _log = log;
        _holder = shared ? me.Holder : "local";
        Ttl = options.Value.LeaseTtlSpan;
    }

    public TimeSpan Ttl { get; }

    /// <summary>The lease while this coordinator may act on it; null when another holds it, or it could not be renewed in time.</summary>
    public Lease? Current
    {
        get
        {
            lock (_gate)
            {
                if (_held is null) return null;
                return _time.GetElapsedTime(_askedAt) < Ttl * Trust ? _held : null;
            }
        }
    }

    /// <summary>Whether this coordinator holds the lease now (for `nodefleet coordinators` and /metrics).</summary>
    public bool Held => Current is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The holder renews every third of the TTL; the others ask every second (at most), so that the lease of a holder
        // that died is taken over soon after it expires.
        var renewEvery = Ttl / 3;
        var askEvery = renewEvery < TimeSpan.FromSeconds(1) ? renewEvery : TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            await TickAsync();
            try { await Task.Delay(Current is null ? askEvery : renewEvery, _time, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One round: takes the lease when it is free or renews the one held.</summary>
    internal async Task TickAsync()
    {
        var asked = _time.GetTimestamp();
        var askedWall = _time.GetUtcNow().UtcDateTime;
        Lease? held;
        lock (_gate) held = _held;
        try
        {
            await RecordLostAsync();
            // A lease this process let lapse (cut off too long) is asked for again: the same tenure if nobody took it.
            var lease = held is not null && Current is not null
                ? await _store.Leases.RenewAsync(held, Ttl)
                : await _store.Leases.TryAcquireAsync(Name, _holder, Ttl);
            if (lease is null)
            {
                lock (_gate) _held = null;
                if (held is not null)
                {
                    LogLost(_log, _me.Id, held.Token);
                    _lost = (held, Min(askedWall, StopTime(held)), "another coordinator holds it");
                    await RecordLostAsync();
                }
                return;
            }
            var fresh = held is null || held.Token != lease.Token;
            lock (_gate)
            {
                _held = lease;
                _askedAt = asked;
                _askedWall = askedWall;
            }
            if (fresh)
            {
                LogAcquired(_log, _me.Id, lease.Token);
                await _store.WriteAsync(s =>
                {
                    s.RequireLease(lease);
                    s.AddEvent(_events, new EventRecord
                    {
                        Time = _time.GetUtcNow().UtcDateTime, Type = "Normal", Reason = "LeaseAcquired",
                        Message = $"coordinator {_me.Id} holds the singleton lease (fencing token {lease.Token}): it runs rollouts, offline detection, token expiry and retention",
                    });
                });
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (held is not null && Current is null)
            {
                lock (_gate) { if (ReferenceEquals(_held, held)) _held = null; }
                LogStopped(_log, _me.Id, held.Token, e.Message);
                _lost ??= (held, StopTime(held), $"not renewed in time: {e.Message}");
            }
            else LogRenewFailed(_log, e.Message);
        }
    }

    /// <summary>The moment <see cref="Current"/> stopped giving <paramref name="lease"/> out, on this coordinator's clock.</summary>
    private DateTime StopTime(Lease lease)
    {
        lock (_gate) return _askedWall + Ttl * Trust;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    /// <summary>
    /// Records when this coordinator stopped acting under a lease it lost: with the new holder's LeaseAcquired event, the
    /// records show that the one stopped before the other started.
    /// </summary>
    private async Task RecordLostAsync()
    {
        if (_lost is not { } lost) return;
        await _store.WriteAsync(s => s.AddEvent(_events, new EventRecord
        {
            Time = lost.StoppedAt, Type = "Warning", Reason = "LeaseLost",
            Message = $"coordinator {_me.Id} stopped its singleton work at {lost.StoppedAt:yyyy-MM-ddTHH:mm:ss.fffZ} " +
                      $"(fencing token {lost.Lease.Token}): {lost.Why}",
        }));
        _lost = null;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Lease? held;
        lock (_gate)
        {
            held = _held;
            _held = null;
        }
        // Given up at once, so that another coordinator takes over without waiting for the TTL.
        if (held is not null && _holder != "local")
        {
            try { await _store.Leases.ReleaseAsync(held); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information,
        Message = "Coordinator {Id} holds the singleton lease (fencing token {Token}): rollouts, offline detection, token expiry and retention run here")]
    private static partial void LogAcquired(ILogger log, string id, long token);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning,
        Message = "Coordinator {Id} lost the singleton lease (fencing token {Token}) to another coordinator; its singleton work stopped")]
    private static partial void LogLost(ILogger log, string id, long token);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning,
        Message = "Coordinator {Id} could not renew the singleton lease (fencing token {Token}) in time ({Error}); its singleton work stopped")]
    private static partial void LogStopped(ILogger log, string id, long token, string error);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Warning, Message = "Cannot renew the singleton lease yet: {Error}")]
    private static partial void LogRenewFailed(ILogger log, string error);
}
