namespace NodeFleet.Coordinator.Store.Postgres;

public sealed partial class PostgresStore
{
    /// <summary>How many rows each of <paramref name="tables"/> holds (names from the schema, never from input): for migrate-store.</summary>
    public IReadOnlyDictionary<string, long> CountPerTable(IEnumerable<string> tables) =>
        tables.ToDictionary(t => t, t => _reads.Rows(_reads.Command($"SELECT count(*) FROM {t}"), r => r.GetInt64(0))[0], StringComparer.Ordinal);
}
