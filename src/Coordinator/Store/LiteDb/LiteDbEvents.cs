using LiteDB;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// Events as documents with an ObjectId key: ids are made on the single writer, so their order is the order of commit,
/// and an event's id is its ObjectId as text (which sorts the same way).
/// </summary>
internal sealed class LiteDbEvents(LiteDatabase db) : IEvents
{
    private ILiteCollection<BsonDocument> Events => db.GetCollection(LiteDbSchema.EventsCollection);

    public IReadOnlyList<EventRecord> Newest(EventQuery query)
    {
        if (query.Limit <= 0) return [];
        var q = Events.Query();
        if (query.Node.Length > 0) q = q.Where(Query.EQ(nameof(EventRecord.Node), query.Node));
        if (query.Rollout.Length > 0) q = q.Where(Query.EQ(nameof(EventRecord.Rollout), query.Rollout));
        if (query.Before.Length > 0) q = q.Where(Query.LT("_id", new ObjectId(query.Before)));
        var newest = q.OrderByDescending("_id").Limit(query.Limit).ToList().Select(FromDocument).ToList();
        newest.Reverse();
        return newest;
    }

    public void Add(EventRecord e)
    {
        var id = ObjectId.NewObjectId();
        Events.Insert(new BsonDocument
        {
            ["_id"] = id,
            [nameof(EventRecord.Time)] = e.Time,
            [nameof(EventRecord.Type)] = e.Type,
            [nameof(EventRecord.Reason)] = e.Reason,
            [nameof(EventRecord.Node)] = e.Node,
            [nameof(EventRecord.Rollout)] = e.Rollout,
            [nameof(EventRecord.Message)] = e.Message,
            [nameof(EventRecord.Actor)] = e.Actor,
        });
        e.Id = id.ToString();
    }

    public int DeleteOlderThan(DateTime cutoff, int max)
    {
        if (max <= 0) return 0;
        var old = Events.Query().Where(Query.LT(nameof(EventRecord.Time), cutoff)).Limit(max).ToEnumerable().Select(d => d["_id"]).ToList();
        foreach (var id in old) Events.Delete(id);
        return old.Count;
    }

    private static EventRecord FromDocument(BsonDocument d) => new()
    {
        Id = d["_id"].AsObjectId.ToString(),
        Time = d[nameof(EventRecord.Time)].AsDateTime,
        Type = Text(d, nameof(EventRecord.Type)),
        Reason = Text(d, nameof(EventRecord.Reason)),
        Node = Text(d, nameof(EventRecord.Node)),
        Rollout = Text(d, nameof(EventRecord.Rollout)),
        Message = Text(d, nameof(EventRecord.Message)),
        Actor = Text(d, nameof(EventRecord.Actor)),
    };

    // Events stored before a field existed (Rollout, Actor) lack it.
    private static string Text(BsonDocument d, string field) => d.TryGetValue(field, out var v) && v.IsString ? v.AsString : "";
}
