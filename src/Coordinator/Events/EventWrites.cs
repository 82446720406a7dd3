using LiteDB;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Events;

/// <summary>The one way to record an event: inserted in the current write, published once that write commits.</summary>
public static class EventWrites
{
    /// <summary>
    /// Inserts <paramref name="record"/> (giving it an id when it has none) inside a <see cref="CoordinatorStore.WriteAsync{T}"/>
    /// lambda and publishes it on <paramref name="bus"/> after the batch commits, so watchers never see an event
    /// that is not on disk.
    /// </summary>
    public static void AddEvent(this CoordinatorStore store, EventBus bus, EventRecord record)
    {
        if (record.Id == ObjectId.Empty) record.Id = ObjectId.NewObjectId();
        record.Time = StoredTime.Of(record.Time);
        store.Events.Insert(record);
        store.OnCommitted(() => bus.Publish(record));
    }
}
