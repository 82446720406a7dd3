using LiteDB;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// A collection of records with a revision, by key: get, list in key order, insert, compare-and-swap and delete through
/// <see cref="Revisions"/>. A table that needs nothing more is this class under its interface's name; others add their
/// own queries.
/// </summary>
/// <param name="keyOf">The record's key (its <c>_id</c>).</param>
/// <param name="keyOrder">The order <see cref="List"/> returns the records in.</param>
internal class LiteDbRevisioned<T, TKey>(LiteDatabase db, string collection, string what, Func<T, TKey> keyOf, IComparer<TKey> keyOrder)
    where T : class, IRevisioned
    where TKey : notnull
{
    protected ILiteCollection<T> Records => db.GetCollection<T>(collection);

    public T? Get(TKey key) => Records.FindById(Id(key));

    public virtual IReadOnlyList<T> List() => Records.FindAll().OrderBy(keyOf, keyOrder).ToList();

    public void Insert(T record) => Revisions.Insert(db, collection, what, Id(keyOf(record)), record, r => record.Revision = r);

    public void Update(T record) =>
        Revisions.Update(db, collection, what, Id(keyOf(record)), record, record.Revision, r => record.Revision = r);

    public bool Delete(TKey key) => Records.Delete(Id(key));

    private static BsonValue Id(TKey key) => new(key);
}
