using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Npgsql;
using NpgsqlTypes;
using NodeFleet.Coordinator.Rollouts;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Where a table's statements run: outside a write each statement takes a pooled connection of its own (and sees what
/// is committed); inside a write, every statement runs on the write's connection and transaction.
/// </summary>
internal sealed class PgSession
{
    private readonly NpgsqlDataSource? _source;
    private readonly NpgsqlConnection? _connection;
    private readonly NpgsqlTransaction? _transaction;

    private readonly string _display = "";

    /// <param name="display">The store, for the message of a failure (its reads fail as IOExceptions, like its writes).</param>
    public PgSession(NpgsqlDataSource source, string display)
    {
        _source = source;
        _display = display;
    }

    public PgSession(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    public NpgsqlCommand Command(string sql) =>
        _source is not null ? _source.CreateCommand(sql) : new NpgsqlCommand(sql, _connection, _transaction);

    public List<T> Rows<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read)
    {
        if (_pending.Count > 0)
        {
            return Together(command, batch =>
            {
                using var reader = batch.ExecuteReader();
                return All(reader, read);
            });
        }
        return Run(command, c =>
        {
            using var reader = c.ExecuteReader();
            return All(reader, read);
        });
    }

    private static List<T> All<T>(NpgsqlDataReader reader, Func<NpgsqlDataReader, T> read)
    {
        var rows = new List<T>();
        while (reader.Read()) rows.Add(read(reader));
        return rows;
    }

    /// <summary>
    /// The records <c>SELECT revision, doc, ARRAY(the docs of its rows, in order)</c> returns: a record with the rows kept
    /// apart from it (a rollout's nodes, a run's steps), given to <paramref name="set"/> with its revision; each row is
    /// first given to <paramref name="remember"/> (the store then writes only the rows that change).
    /// </summary>
    public List<T> WithRows<T, TRow>(NpgsqlCommand command, Action<T, long, List<TRow>> set, Action<TRow> remember) =>
        Rows(command, r =>
        {
            var record = PgJson.Read<T>(r.GetString(1));
            var docs = r.GetFieldValue<string[]>(2);
            var rows = new List<TRow>(docs.Length);
            foreach (var doc in docs)
            {
                var row = PgJson.Read<TRow>(doc);
                remember(row);
                rows.Add(row);
            }
            set(record, r.GetInt64(0), rows);
            return record;
        });

    public T? Row<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read) where T : class =>
        Rows(command, read).FirstOrDefault();

    public int Execute(NpgsqlCommand command)
    {
        if (_pending.Count > 0)
        {
            return Together(command, batch =>
            {
                batch.ExecuteNonQuery();
                return batch.BatchCommands[^1].RecordsAffected;
            });
        }
        return Run(command, c => c.ExecuteNonQuery());
    }

    /// <summary>
    /// Statements of the write whose answers are not needed yet, sent with its next statement or at its end
    /// (<see cref="Flush"/>): one round trip to the database for several. Each has a check of the rows it changed,
    /// run once it has been sent, which throws what the statement would have (a conflict, say).
    /// </summary>
    private readonly List<(NpgsqlBatchCommand Command, Action<int>? Check)> _pending = [];

    /// <summary>Whether a statement was sent since <see cref="Mark"/>.</summary>
    public bool SentSinceMark { get; private set; }

    public void Mark() => SentSinceMark = false;

    /// <summary>
    /// Whether a statement of this write's transaction failed (PostgreSQL then refuses every statement until a rollback),
    /// whoever caught the error.
    /// </summary>
    public bool Failed { get; private set; }

    /// <summary>The transaction was rolled back to before the failure.</summary>
    public void Recovered() => Failed = false;

    /// <summary>Notes a failure of the database in the write's transaction (the filter of the catch around a statement).</summary>
    private bool Noted(Exception e)
    {
        if (e is PostgresException && _source is null) Failed = true;
        return false;
    }

    /// <summary>
    /// Inside a write, queues <paramref name="command"/> to be sent with the next statement or at the write's end, then
    /// <paramref name="check"/> given the rows it changed; outside one, runs both now.
    /// </summary>
    public void Defer(NpgsqlCommand command, Action<int>? check = null)
    {
        if (_source is not null)
        {
            var rows = Execute(command);
            check?.Invoke(rows);
            return;
        }
        using (command) _pending.Add((Queued(command), check));
    }

    private static NpgsqlBatchCommand Queued(NpgsqlCommand command)
    {
        var queued = new NpgsqlBatchCommand(command.CommandText);
        // A parameter belongs to one collection at a time.
        var parameters = command.Parameters.ToArray();
        command.Parameters.Clear();
        queued.Parameters.AddRange(parameters);
        return queued;
    }

    /// <summary>Sends the statements <see cref="Defer"/> queued and runs their checks.</summary>
    public void Flush()
    {
        if (_pending.Count == 0) return;
        var (batch, sent) = Batch();
        using (batch)
        {
            try { batch.ExecuteNonQuery(); }
            catch (Exception e) when (Noted(e)) { throw; }
            Checked(batch, sent);
        }
    }

    /// <summary>Forgets the statements queued and not sent (the write they belong to is being undone).</summary>
    public void Discard() => _pending.Clear();

    /// <summary>A batch of the statements queued, taken off the queue (sent or failed, they are not sent again).</summary>
    private (NpgsqlBatch Batch, (NpgsqlBatchCommand Command, Action<int>? Check)[] Sent) Batch()
    {
        var batch = new NpgsqlBatch(_connection, _transaction);
        var sent = _pending.ToArray();
        _pending.Clear();
        foreach (var (command, _) in sent) batch.BatchCommands.Add(command);
        SentSinceMark = true;
        return (batch, sent);
    }

    /// <summary>Runs the checks of the queued statements <paramref name="batch"/> sent, in order.</summary>
    private static void Checked(NpgsqlBatch batch, (NpgsqlBatchCommand Command, Action<int>? Check)[] sent)
    {
        for (var i = 0; i < sent.Length; i++) sent[i].Check?.Invoke(batch.BatchCommands[i].RecordsAffected);
    }

    private T Run<T>(NpgsqlCommand command, Func<NpgsqlCommand, T> run)
    {
        using (command)
        {
            // Inside a write, WriteAsync turns a database failure into the caller's error; outside, it is done here.
            if (_source is null)
            {
                SentSinceMark = true;
                try { return run(command); }
                catch (Exception e) when (Noted(e)) { throw; }
            }
            try { return run(command); }
            catch (NpgsqlException e) { throw new IOException($"the store {_display}: {PostgresStore.Reason(e)}", e); }
        }
    }

    /// <summary>
    /// Runs <paramref name="command"/> in one round trip with the statements queued before it (only a write queues
    /// any), then their checks.
    /// </summary>
    private T Together<T>(NpgsqlCommand command, Func<NpgsqlBatch, T> run)
    {
        using (command)
        {
            var (batch, sent) = Batch();
            using (batch)
            {
                batch.BatchCommands.Add(Queued(command));
                T result;
                try { result = run(batch); }
                catch (Exception e) when (Noted(e)) { throw; }
                Checked(batch, sent);
                return result;
            }
        }
    }
}

/// <summary>Parameters and values as PostgreSQL takes them.</summary>
internal static class Pg
{
    public static NpgsqlCommand With(this NpgsqlCommand c, string name, object? value)
    {
        c.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return c;
    }

    public static NpgsqlCommand WithJson(this NpgsqlCommand c, string name, string json)
    {
        c.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Jsonb) { Value = json });
        return c;
    }

    public static NpgsqlCommand WithTime(this NpgsqlCommand c, string name, DateTime? time)
    {
        c.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.TimestampTz) { Value = time is { } t ? Utc(t) : DBNull.Value });
        return c;
    }

    /// <summary>
    /// timestamptz takes UTC times only: a time of unspecified kind (a record's default) is taken as UTC, as LiteDB
    /// stores it.
    /// </summary>
    public static DateTime Utc(DateTime t) => t.Kind switch
    {
        DateTimeKind.Utc => t,
        DateTimeKind.Local => t.ToUniversalTime(),
        _ => DateTime.SpecifyKind(t, DateTimeKind.Utc),
    };

    public static DateTime? TimeOrNull(this NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTime>(i);

    /// <summary>The lease clock as a parameter: null lets the SQL use the database's clock_timestamp().</summary>
    public static NpgsqlCommand WithNow(this NpgsqlCommand c, TimeProvider? clock) =>
        c.WithTime("now", clock?.GetUtcNow().UtcDateTime);

    /// <summary>"now" in lease SQL: the injected clock when there is one, else the database's.</summary>
    public const string Now = "coalesce(@now, clock_timestamp())";
}

/// <summary>
/// Records as JSON documents (System.Text.Json, property names as in C#). Left out: the revision (a column of its
/// own), a rollout's nodes and a run's steps (rows of their own) and what is computed from other fields.
/// </summary>
internal static class PgJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { LeaveOut } },
    };

    public static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Read<T>(string json) => JsonSerializer.Deserialize<T>(json, Options)
        ?? throw new InvalidDataException($"a stored {typeof(T).Name} is null");


    private static void LeaveOut(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object) return;
        for (var i = type.Properties.Count - 1; i >= 0; i--)
        {
            var name = type.Properties[i].Name;
            if (name == "Revision"
                || (type.Type == typeof(RolloutRecord) && name == nameof(RolloutRecord.Nodes))
                || (type.Type == typeof(RunHistoryRecord) && name == nameof(RunHistoryRecord.Steps))
                || (type.Type == typeof(RunHistoryRecord) && name == nameof(RunHistoryRecord.AgentRunId)))
                type.Properties.RemoveAt(i);
        }
    }
}
