using LiteDB;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// The outbox as documents (id, recipient, payload, time), changed only on the store's writer. Ids come from a counter
/// document of their own, not from the largest id stored, so that an id is never handed out twice even after every
/// message was removed (agents drop an id they have handled once). One process holds the file: a message is announced
/// to its readers as soon as it commits.
/// </summary>
internal sealed class LiteDbOutbox(LiteDbStore store, ILiteCollection<BsonDocument> messages, ILiteCollection<BsonDocument> counters,
    TimeProvider time) : IOutbox
{
    public const string RecipientField = "Recipient";
    public const string CreatedField = "CreatedAt";
    private const string PayloadField = "Payload";
    private const string CounterId = "outbox";

    public event Action<string>? Enqueued;

    public Task<long> EnqueueAsync(string recipient, byte[] payload)
    {
        if (recipient.Length == 0) throw new ArgumentException("an outbox message needs a recipient", nameof(recipient));
        return store.WriteAsync(s =>
        {
            var next = (counters.FindById(CounterId)?["Next"].AsInt64 ?? 0) + 1;
            counters.Upsert(new BsonDocument { ["_id"] = CounterId, ["Next"] = next });
            messages.Insert(new BsonDocument
            {
                ["_id"] = next, [RecipientField] = recipient, [PayloadField] = payload,
                [CreatedField] = StoredTime.Of(time.GetUtcNow().UtcDateTime),
            });
            s.OnCommitted(() => Enqueued?.Invoke(recipient));
            return next;
        });
    }

    public Task<IReadOnlyList<OutboxMessage>> PendingAsync(string recipient, int max) =>
        Task.FromResult<IReadOnlyList<OutboxMessage>>(messages.Find(Query.EQ(RecipientField, recipient))
            .Select(ToMessage)
            .OrderBy(m => m.Id)
            .Take(max)
            .ToList());

    public Task<IReadOnlyList<string>> RecipientsWithPendingAsync() =>
        Task.FromResult<IReadOnlyList<string>>(messages.FindAll().Select(d => d[RecipientField].AsString).Distinct(StringComparer.Ordinal).ToList());

    public Task<bool> RemoveAsync(string recipient, long id) => store.WriteAsync(_ =>
        messages.FindById(id) is { } doc && doc[RecipientField].AsString == recipient && messages.Delete(id));

    public Task<int> RemoveOlderThanAsync(DateTime cutoff) => store.WriteAsync(_ =>
        messages.DeleteMany(Query.LT(CreatedField, StoredTime.Of(cutoff))));

    private static OutboxMessage ToMessage(BsonDocument d) =>
        new(d["_id"].AsInt64, d[RecipientField].AsString, d[PayloadField].AsBinary, d[CreatedField].AsDateTime);
}
