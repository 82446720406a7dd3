using System.Collections.Concurrent;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>
/// Which nodes hold a stream now and when each was last heard from. In memory only: after a restart every node
/// that was online gets a grace period to reconnect before the monitor marks it offline.
/// </summary>
public sealed class Presence(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    /// <summary>One connected stream of a node.</summary>
    public sealed class Session(string node, long id, DateTime now)
    {
        private long _lastSeenTicks = now.Ticks;
        public string Node { get; } = node;
        public long Id { get; } = id;
        public CancellationTokenSource Closed { get; } = new();
        /// <summary>Messages to the node; one writer task drains it onto the stream.</summary>
        public System.Threading.Channels.Channel<NodeFleet.Protocol.V1.CoordinatorMessage> Outgoing { get; } =
            System.Threading.Channels.Channel.CreateUnbounded<NodeFleet.Protocol.V1.CoordinatorMessage>(
                new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
        public DateTime LastSeen => new(Interlocked.Read(ref _lastSeenTicks), DateTimeKind.Utc);
        public void Touch(DateTime now) => Interlocked.Exchange(ref _lastSeenTicks, now.Ticks);
        /// <summary>Set while the node is considered offline despite an open stream (it stopped heartbeating).</summary>
        public volatile bool Silent;
        /// <summary>False for a grace placeholder created at coordinator start.</summary>
        public bool Connected { get; init; } = true;
    }

    private long _nextId;

    public int ConnectedCount => _sessions.Values.Count(s => s.Connected);

    /// <summary>Registers a new stream for <paramref name="node"/>, closing any older stream of the same node.</summary>
    public Session Open(string node)
    {
        var session = new Session(node, Interlocked.Increment(ref _nextId), time.GetUtcNow().UtcDateTime);
        _sessions.AddOrUpdate(node, session, (_, old) =>
        {
            old.Closed.Cancel();
            return session;
        });
        return session;
    }

    /// <summary>Removes the session if it is still the node's current one; true when it was.</summary>
    public bool Close(Session session) =>
        _sessions.TryRemove(new KeyValuePair<string, Session>(session.Node, session));

    /// <summary>Gives a node that was online before a restart time to reconnect.</summary>
    public void AddGrace(string node) =>
        _sessions.TryAdd(node, new Session(node, Interlocked.Increment(ref _nextId), time.GetUtcNow().UtcDateTime) { Connected = false });

    public void Kick(string node)
    {
        if (_sessions.TryRemove(node, out var s)) s.Closed.Cancel();
    }

    public Session? Get(string node) => _sessions.TryGetValue(node, out var s) ? s : null;

    public IReadOnlyCollection<Session> Snapshot() => _sessions.Values.ToList();
}
