using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// The revoked certificates' serials in memory, for the handshake and every call, which cannot wait for a database.
/// A revocation on this coordinator is added as soon as it is committed; one made by another coordinator on the same
/// PostgreSQL database is seen at the next refresh (<see cref="DenyListRefresher"/>). Nodes, and operators later, alike:
/// the list knows only serials.
/// </summary>
public sealed class DenyList
{
    private volatile ConcurrentDictionary<string, RevokedCertificateRecord> _serials = new(StringComparer.OrdinalIgnoreCase);

    public bool IsDenied(X509Certificate2 cert) => _serials.ContainsKey(Pki.SerialOf(cert));

    /// <summary>Whether the certificate with <paramref name="serial"/> (hex) is listed.</summary>
    public bool IsDenied(string serial) => _serials.ContainsKey(serial);

    public RevokedCertificateRecord? Entry(X509Certificate2 cert) => _serials.GetValueOrDefault(Pki.SerialOf(cert));

    public int Count => _serials.Count;

    private int _version;

    /// <summary>Moves on whenever a serial is listed that was not (what open streams must be checked against again).</summary>
    public int Version => Volatile.Read(ref _version);

    /// <summary>Adds committed revocations.</summary>
    public void Add(IEnumerable<RevokedCertificateRecord> revoked)
    {
        foreach (var r in revoked)
        {
            if (_serials.TryAdd(r.Serial, r)) Interlocked.Increment(ref _version);
            else _serials[r.Serial] = r;
        }
    }

    /// <summary>Replaces the list with what the store holds.</summary>
    public void Load(IEnumerable<RevokedCertificateRecord> stored)
    {
        var next = new ConcurrentDictionary<string, RevokedCertificateRecord>(
            stored.Select(r => KeyValuePair.Create(r.Serial, r)), StringComparer.OrdinalIgnoreCase);
        var before = _serials;
        _serials = next;
        if (next.Keys.Any(serial => !before.ContainsKey(serial))) Interlocked.Increment(ref _version);
    }
}

/// <summary>
/// Loads the deny list at start, reloads it every second and drops the entries of expired certificates. A node revoked
/// or deleted through another coordinator sharing the database has its stream here closed at the next reload.
/// </summary>
public sealed class DenyListRefresher(DenyList list, ICoordinatorStore store, TimeProvider time, ILogger<DenyListRefresher> log,
    Nodes.Presence? presence = null)
    : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PrunePeriod = TimeSpan.FromHours(1);

    /// <summary>Loads the list before the coordinator serves: no handshake is ever checked against an empty one.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        list.Load(store.Revocations.List());
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastPrune = DateTimeOffset.MinValue;
        // Open streams are checked against the list only after it listed a new serial (every stream, every second, was
        // a twentieth of an idle coordinator's CPU at 10,000 agents), and for two more passes: a handshake checked
        // against the list before the change may register its stream just after the first pass.
        var checkedVersion = list.Version;
        var passesLeft = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Period, time, stoppingToken);
                var now = time.GetUtcNow();
                if (now - lastPrune > PrunePeriod)
                {
                    lastPrune = now;
                    // An expired certificate is refused anyway: its entry is no longer needed.
                    var pruned = await store.WriteAsync(s => s.Revocations.DeleteExpiredBefore(now.UtcDateTime));
                    if (pruned > 0) log.LogInformation("Dropped {Count} expired certificates from the deny list", pruned);
                }
                list.Load(store.Revocations.List());
                if (list.Version != checkedVersion)
                {
                    checkedVersion = list.Version;
                    passesLeft = 3;
                }
                if (passesLeft > 0)
                {
                    passesLeft--;
                    foreach (var node in presence?.KickDenied(list.IsDenied) ?? [])
                        log.LogWarning("Closed the stream of node {Node}: its certificate was revoked", node);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("Cannot reload the certificate deny list: {Error}; the last one loaded stays in force", e.Message);
            }
        }
    }
}
