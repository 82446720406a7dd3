using System.Threading.Channels;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Events;

/// <summary>
/// In-memory fan-out of committed events to live watchers (`nodefleet events -f`). Each subscriber has its own
/// bounded channel; when a subscriber falls behind, its oldest undelivered events are dropped (and counted) rather
/// than blocking the publisher, because the publisher is the store's single writer and one stalled watcher must
/// never hold up the fleet's writes. Dropped events are still in the database; only that watcher misses them live.
/// </summary>
public sealed class EventBus
{
    /// <summary>How many undelivered events a subscriber may hold before its oldest are dropped.</summary>
    public const int DefaultCapacity = 1024;

    private readonly object _gate = new();
    private Subscription[] _subscribers = [];

    public int SubscriberCount => Volatile.Read(ref _subscribers).Length;

    /// <summary>Starts receiving every event published from now on; dispose the subscription to stop.</summary>
    public Subscription Subscribe(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var subscription = new Subscription(this, capacity);
        lock (_gate) _subscribers = [.. _subscribers, subscription];
        return subscription;
    }

    /// <summary>Hands <paramref name="record"/> to every subscriber; never blocks and never throws.</summary>
    public void Publish(EventRecord record)
    {
        foreach (var s in Volatile.Read(ref _subscribers)) s.Offer(record);
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate) _subscribers = _subscribers.Where(s => s != subscription).ToArray();
    }

    /// <summary>One watcher's queue of published events.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly EventBus _bus;
        private readonly Channel<EventRecord> _channel;
        private long _dropped;

        internal Subscription(EventBus bus, int capacity)
        {
            _bus = bus;
            _channel = Channel.CreateBounded<EventRecord>(
                new BoundedChannelOptions(capacity)
                {
                    // Drop the oldest queued event instead of waiting: see the class summary.
                    FullMode = BoundedChannelFullMode.DropOldest,
                    SingleReader = true,
                    SingleWriter = false,
                },
                _ => Interlocked.Increment(ref _dropped));
        }

        public ChannelReader<EventRecord> Reader => _channel.Reader;

        /// <summary>How many events were dropped for this subscriber because it fell behind.</summary>
        public long Dropped => Interlocked.Read(ref _dropped);

        internal void Offer(EventRecord record) => _channel.Writer.TryWrite(record);

        public void Dispose()
        {
            _bus.Remove(this);
            _channel.Writer.TryComplete();
        }
    }
}
