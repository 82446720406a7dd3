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

    public List<T> Rows<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read) => Run(command, c =>
    {
        using var reader = c.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(read(reader));
        return rows;
    });

    public T? Row<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read) where T : class =>
        Rows(command, read).FirstOrDefault();

    public int Execute(NpgsqlCommand command) => Run(command, c => c.ExecuteNonQuery());

    private T Run<T>(NpgsqlCommand command, Func<NpgsqlCommand, T> run)
    {
        using (command)
        {
            // Inside a write, WriteAsync turns a database failure into the caller's error; outside, it is done here.
            if (_source is null) return run(command);
            try { return run(command); }
            catch (NpgsqlException e) { throw new IOException($"the store {_display}: {PostgresStore.Reason(e)}", e); }
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
/// own), a rollout's nodes (rows of their own) and what is computed from other fields.
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
                || (type.Type == typeof(RunHistoryRecord) && name == nameof(RunHistoryRecord.AgentRunId)))
                type.Properties.RemoveAt(i);
        }
    }
}
