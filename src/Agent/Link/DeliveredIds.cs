namespace NodeFleet.Agent.Link;

/// <summary>
/// The ids of the outbox messages this agent has handled lately: a coordinator that died before it recorded an
/// acknowledgement leaves the message to be delivered again, by another coordinator; it is acknowledged, not run twice.
/// Bounded (the oldest forgotten first): an id comes back only within the short time a failover takes.
/// </summary>
public sealed class DeliveredIds(int capacity = 4096)
{
    private readonly HashSet<long> _ids = [];
    private readonly Queue<long> _order = new();
    private readonly Lock _gate = new();

    /// <summary>True the first time <paramref name="id"/> is seen (it is to be handled), false when it was handled already.</summary>
    public bool FirstTime(long id)
    {
        lock (_gate)
        {
            if (!_ids.Add(id)) return false;
            _order.Enqueue(id);
            if (_order.Count > capacity) _ids.Remove(_order.Dequeue());
            return true;
        }
    }
}
