using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Events;

/// <summary>The one way to record an event: added in the current write, published once that write commits.</summary>
public static class EventWrites
{
    /// <summary>
    /// Adds <paramref name="record"/> (the store gives it its id) inside a <see cref="ICoordinatorStore.WriteAsync{T}"/>
    /// lambda and publishes it on <paramref name="bus"/> after the write commits, so watchers never see an event that
    /// is not durable. The event's actor, unless given, is the current API caller (<see cref="Actor"/>), or the
    /// coordinator itself.
    /// </summary>
    public static void AddEvent(this IStoreWriter store, EventBus bus, EventRecord record)
    {
        record.Time = StoredTime.Of(record.Time);
        if (record.Actor.Length == 0) record.Actor = Actor.Current ?? Actor.Coordinator;
        store.Events.Add(record);
        store.OnCommitted(() => bus.Publish(record));
    }
}
