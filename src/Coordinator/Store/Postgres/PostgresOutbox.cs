using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// The outbox as rows (id from an identity, recipient, payload, created_at). An enqueue is one statement that also
/// NOTIFYs the recipient on <see cref="Channel"/>, sent by PostgreSQL when it commits; every coordinator that has a
/// handler on <see cref="Enqueued"/> LISTENs on one connection of its own, kept up (and taken again after a failure)
/// until the store is disposed. A notification is only a wake-up: one lost while that connection was down is made up
/// for by the readers' polling.
/// </summary>
internal sealed class PgOutbox(NpgsqlDataSource source, TimeProvider? clock, string display) : IOutbox, IAsyncDisposable
{
    public const string Channel = "nodefleet_outbox";
    private static readonly TimeSpan RelistenDelay = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Action<string>? _enqueued;
    private Task? _listener;

    public event Action<string>? Enqueued
    {
        add
        {
            lock (_gate)
            {
                _enqueued += value;
                _listener ??= Task.Run(() => ListenAsync(_stop.Token));
            }
        }
        remove
        {
            lock (_gate) _enqueued -= value;
        }
    }

    public async Task<long> EnqueueAsync(string recipient, byte[] payload)
    {
        if (recipient.Length == 0) throw new ArgumentException("an outbox message needs a recipient", nameof(recipient));
        var id = await Scalar<long>(
            $"WITH m AS (INSERT INTO outbox (recipient, payload, created_at) VALUES (@recipient, @payload, {Pg.Now}) RETURNING id) " +
            $"SELECT id FROM m, pg_notify('{Channel}', @recipient) n", c => c.With("recipient", recipient).With("payload", payload).WithNow(clock))
            .ConfigureAwait(false);
        // This process hears its own notification too, but need not wait for it.
        Raise(recipient);
        return id;
    }

    public async Task<IReadOnlyList<OutboxMessage>> PendingAsync(string recipient, int max)
    {
        try
        {
            await using var cmd = source.CreateCommand(
                "SELECT id, recipient, payload, created_at FROM outbox WHERE recipient = @recipient ORDER BY id LIMIT @max");
            cmd.With("recipient", recipient).With("max", max);
            await using var reader = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            var list = new List<OutboxMessage>();
            while (await reader.ReadAsync().ConfigureAwait(false))
                list.Add(new OutboxMessage(reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetFieldValue<DateTime>(3)));
            return list;
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {display}: {PostgresStore.Reason(e)}", e);
        }
    }

    public async Task<IReadOnlyList<string>> RecipientsWithPendingAsync()
    {
        try
        {
            await using var cmd = source.CreateCommand("SELECT DISTINCT recipient FROM outbox");
            await using var reader = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            var list = new List<string>();
            while (await reader.ReadAsync().ConfigureAwait(false)) list.Add(reader.GetString(0));
            return list;
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {display}: {PostgresStore.Reason(e)}", e);
        }
    }

    public async Task<bool> RemoveAsync(string recipient, long id) =>
        await Execute("DELETE FROM outbox WHERE id = @id AND recipient = @recipient", c => c.With("id", id).With("recipient", recipient))
            .ConfigureAwait(false) > 0;

    public Task<int> RemoveOlderThanAsync(DateTime cutoff) =>
        Execute("DELETE FROM outbox WHERE created_at < @cutoff", c => c.WithTime("cutoff", cutoff));

    private void Raise(string recipient)
    {
        Action<string>? handlers;
        lock (_gate) handlers = _enqueued;
        handlers?.Invoke(recipient);
    }

    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var conn = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
                conn.Notification += (_, e) => Raise(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", conn))
                    await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                try
                {
                    while (true) await conn.WaitAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    // The connection goes back to the pool: it must not keep listening for another user.
                    if (conn.State == System.Data.ConnectionState.Open)
                    {
                        try
                        {
                            await using var unlisten = new NpgsqlCommand("UNLISTEN *", conn);
                            await unlisten.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException) { }
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException or TimeoutException)
            {
                // The database is down or the connection broke: listen again shortly; readers poll meanwhile.
                try { await Task.Delay(RelistenDelay, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private async Task<T> Scalar<T>(string sql, Action<NpgsqlCommand> bind)
    {
        try
        {
            await using var cmd = source.CreateCommand(sql);
            bind(cmd);
            return (T)(await cmd.ExecuteScalarAsync().ConfigureAwait(false))!;
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {display}: {PostgresStore.Reason(e)}", e);
        }
    }

    private async Task<int> Execute(string sql, Action<NpgsqlCommand> bind)
    {
        try
        {
            await using var cmd = source.CreateCommand(sql);
            bind(cmd);
            return await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {display}: {PostgresStore.Reason(e)}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task? listener;
        lock (_gate) listener = _listener;
        if (listener is not null) await listener.ConfigureAwait(false);
        _stop.Dispose();
    }
}
