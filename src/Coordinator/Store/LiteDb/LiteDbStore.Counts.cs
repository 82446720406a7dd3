namespace NodeFleet.Coordinator.Store.LiteDb;

public sealed partial class LiteDbStore
{
    /// <summary>How many records each collection holds (by its name, which is the PostgreSQL table's): for migrate-store.</summary>
    public IReadOnlyDictionary<string, long> CountPerTable(IEnumerable<string> tables) =>
        tables.ToDictionary(t => t, t => _db.CollectionExists(t) ? _db.GetCollection(t).LongCount() : 0L, StringComparer.Ordinal);

    /// <summary>Every node that has runs recorded, including nodes deleted since (their runs are kept).</summary>
    public IReadOnlyList<string> NodesWithRuns() =>
        _db.GetCollection(LiteDbSchema.RunsCollection).FindAll().Select(d => d[nameof(RunHistoryRecord.Node)])
            .Where(v => v.IsString).Select(v => v.AsString).Distinct(StringComparer.Ordinal).ToList();
}
