using Npgsql;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Leases as rows (name, holder, token, expires_at), each change one statement that decides on the row as it is when
/// the statement runs, so that of coordinators racing for a lease exactly one gets it. Time is the database's
/// (clock_timestamp()), so the coordinators' own clocks may disagree without harm; a holder should time its renewals by
/// the TTL from when its call returned, not by comparing <see cref="Lease.ExpiresAt"/> with its own clock. The row is
/// kept after a release or an expiry, so the next holder's token is always larger than every token given before.
/// </summary>
internal sealed class PgLeases(NpgsqlDataSource source, TimeProvider? clock, string display) : ILeases
{
    public async Task<Lease?> TryAcquireAsync(string name, string holder, TimeSpan ttl)
    {
        if (holder.Length == 0) throw new ArgumentException("a lease holder must have a name", nameof(holder));
        // Free, expired or already this holder's: taken (the same tenure and token when this holder still holds it).
        const string sql =
            $"INSERT INTO leases (name, holder, token, expires_at) VALUES (@name, @holder, 1, {Pg.Now} + @ttl) " +
            "ON CONFLICT (name) DO UPDATE SET " +
            $"token = CASE WHEN leases.holder = EXCLUDED.holder AND leases.expires_at > {Pg.Now} THEN leases.token ELSE leases.token + 1 END, " +
            "holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at " +
            $"WHERE leases.holder = '' OR leases.holder = EXCLUDED.holder OR leases.expires_at <= {Pg.Now} " +
            "RETURNING token, expires_at";
        return await One(sql, name, holder, 0, ttl).ConfigureAwait(false);
    }

    public Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl) => One(
        $"UPDATE leases SET expires_at = {Pg.Now} + @ttl " +
        $"WHERE name = @name AND holder = @holder AND token = @token AND expires_at > {Pg.Now} RETURNING token, expires_at",
        lease.Name, lease.Holder, lease.Token, ttl);

    public Task ReleaseAsync(Lease lease) => One(
        $"UPDATE leases SET holder = '', expires_at = {Pg.Now} " +
        $"WHERE name = @name AND holder = @holder AND token = @token AND expires_at > {Pg.Now} RETURNING token, expires_at",
        lease.Name, lease.Holder, lease.Token, TimeSpan.Zero);

    /// <summary>
    /// Inside a write: fails it unless the lease is still held as given. The row is locked (FOR SHARE) until the write
    /// commits, so a takeover waits for it: a write either commits under its lease or sees that it is gone.
    /// </summary>
    public static void Require(PgSession db, TimeProvider? clock, Lease lease)
    {
        var held = db.Rows(db.Command(
                "SELECT 1 FROM leases WHERE name = @name AND holder = @holder AND token = @token " +
                $"AND expires_at > {Pg.Now} FOR SHARE")
            .With("name", lease.Name).With("holder", lease.Holder).With("token", lease.Token).WithNow(clock), _ => true);
        if (held.Count == 0)
            throw new LeaseLostException($"lease {lease.Name} (token {lease.Token}) is no longer held by {lease.Holder}");
    }

    private async Task<Lease?> One(string sql, string name, string holder, long token, TimeSpan ttl)
    {
        try
        {
            await using var cmd = source.CreateCommand(sql);
            cmd.With("name", name).With("holder", holder).With("token", token).With("ttl", ttl).WithNow(clock);
            await using var reader = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            if (!await reader.ReadAsync().ConfigureAwait(false)) return null;
            return new Lease(name, holder, reader.GetInt64(0), reader.GetFieldValue<DateTime>(1));
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {display}: {PostgresStore.Reason(e)}", e);
        }
    }
}
