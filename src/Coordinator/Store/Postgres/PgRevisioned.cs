using System.Globalization;
using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// A table of records as <see cref="Rows"/>, by key: get, list, insert, compare-and-swap and delete. A table that needs
/// nothing more is this class under its interface's name; others add their own queries.
/// </summary>
/// <param name="keyOf">The record's key (the row's id, as invariant text).</param>
/// <param name="orderBy">The order <see cref="List"/> returns the records in.</param>
/// <param name="columns">The columns the table keeps beside the doc, written with it (none by default).</param>
internal class PgRevisioned<T, TKey>(PgSession db, string table, string what, Func<T, TKey> keyOf, string orderBy = "ORDER BY id",
    Func<T, NpgsqlParameter[]>? columns = null)
    where T : class, IRevisioned
    where TKey : notnull
{
    protected PgSession Db { get; } = db;
    protected Rows Rows { get; } = new(db, table, what);

    protected static void Rev(T record, long revision) => record.Revision = revision;

    public T? Get(TKey key) => Rows.Get<T>(Id(key), Rev);

    public IReadOnlyList<T> List() => Rows.Select<T>(orderBy, _ => { }, Rev);

    public void Insert(T record)
    {
        Rows.Insert(Id(keyOf(record)), PgJson.Write(record), Columns(record));
        record.Revision = 1;
    }

    public void Update(T record)
    {
        Rows.Update(Id(keyOf(record)), record.Revision, PgJson.Write(record), Columns(record));
        record.Revision++;
    }

    public bool Delete(TKey key) => Rows.Delete(Id(key));

    private NpgsqlParameter[] Columns(T record) => columns is null ? [] : columns(record);

    private static string Id(TKey key) => Convert.ToString(key, CultureInfo.InvariantCulture) ?? "";
}
