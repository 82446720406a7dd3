using LiteDB;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// Leases as documents (name, holder, token, expiry), changed only on the store's writer. A lease's document is kept
/// after it is released or expires, so the next holder's token is always larger than every token given before.
/// </summary>
internal sealed class LiteDbLeases(LiteDbStore store, ILiteCollection<BsonDocument> leases, TimeProvider time) : ILeases
{
    public const string HolderField = "Holder";
    private const string TokenField = "Token";
    private const string ExpiresField = "ExpiresAt";

    public Task<Lease?> TryAcquireAsync(string name, string holder, TimeSpan ttl)
    {
        if (holder.Length == 0) throw new ArgumentException("a lease holder must have a name", nameof(holder));
        return store.WriteAsync<Lease?>(_ =>
        {
            var now = Now();
            var doc = leases.FindById(name);
            var current = doc is null ? null : ToLease(name, doc);
            if (current is not null && current.Holder.Length > 0 && current.ExpiresAt > now && current.Holder != holder) return null;
            // Held by the same holder and not expired: the same tenure goes on, with its token. Otherwise a new one.
            var token = current is not null && current.Holder == holder && current.ExpiresAt > now
                ? current.Token
                : (current?.Token ?? 0) + 1;
            var lease = new Lease(name, holder, token, now + ttl);
            leases.Upsert(ToDocument(lease));
            return lease;
        });
    }

    public Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl) => store.WriteAsync<Lease?>(_ =>
    {
        var now = Now();
        if (!Holds(lease, now)) return null;
        var renewed = lease with { ExpiresAt = now + ttl };
        leases.Upsert(ToDocument(renewed));
        return renewed;
    });

    public Task ReleaseAsync(Lease lease) => store.WriteAsync(_ =>
    {
        var now = Now();
        if (!Holds(lease, now)) return;
        leases.Upsert(ToDocument(lease with { Holder = "", ExpiresAt = now }));
    });

    /// <summary>Called on the writer inside a write: fails it unless the lease is still held as given.</summary>
    public void Require(Lease lease)
    {
        if (!Holds(lease, Now()))
            throw new LeaseLostException($"lease {lease.Name} (token {lease.Token}) is no longer held by {lease.Holder}");
    }

    private bool Holds(Lease lease, DateTime now) =>
        leases.FindById(lease.Name) is { } doc && ToLease(lease.Name, doc) is var stored
        && stored.Holder == lease.Holder && stored.Token == lease.Token && stored.ExpiresAt > now;

    // Milliseconds, as LiteDB keeps times: a lease read back compares equal to the one handed out.
    private DateTime Now() => StoredTime.Of(time.GetUtcNow().UtcDateTime);

    private static Lease ToLease(string name, BsonDocument d) =>
        new(name, d[HolderField].AsString, d[TokenField].AsInt64, d[ExpiresField].AsDateTime);

    private static BsonDocument ToDocument(Lease l) => new()
    {
        ["_id"] = l.Name, [HolderField] = l.Holder, [TokenField] = l.Token, [ExpiresField] = l.ExpiresAt,
    };
}
