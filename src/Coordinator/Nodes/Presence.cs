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
    public sealed class Session(string node, long id, DateTime now, string certificateSerial = "")
    {
        private long _lastSeenTicks = now.Ticks;
        public string Node { get; } = node;
        /// <summary>The serial of the certificate the stream was opened with (upper-case hex): revoking it closes the stream.</summary>
        public string CertificateSerial { get; } = certificateSerial;
        public long Id { get; } = id;
        public CancellationTokenSource Closed { get; } = new();
        /// <summary>Messages to the node; one writer task drains it onto the stream.</summary>
        public System.Threading.Channels.Channel<NodeFleet.Protocol.V1.CoordinatorMessage> Outgoing { get; } =
            System.Threading.Channels.Channel.CreateUnbounded<NodeFleet.Protocol.V1.CoordinatorMessage>(
                new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
        private long _intervalTicks;
        private long _previousIntervalTicks;
        public DateTime LastSeen => new(Interlocked.Read(ref _lastSeenTicks), DateTimeKind.Utc);

        /// <summary>The heartbeat period the node was last told (in its welcome or a heartbeat acknowledgement).</summary>
        public TimeSpan Interval => new(Interlocked.Read(ref _intervalTicks));

        /// <summary>
        /// The period silence is measured against: the longer of the current one and the one before it, because a
        /// heartbeat already on its way may have been timed by the old period.
        /// </summary>
        public TimeSpan DetectionInterval => new(Math.Max(Interlocked.Read(ref _intervalTicks), Interlocked.Read(ref _previousIntervalTicks)));

        /// <summary>Records the period the node is told from now on.</summary>
        public void SetInterval(TimeSpan interval)
        {
            Interlocked.Exchange(ref _previousIntervalTicks, Interlocked.Read(ref _intervalTicks));
            Interlocked.Exchange(ref _intervalTicks, interval.Ticks);
        }

        /// <summary>A heartbeat timed by the current period arrived: the previous period no longer matters.</summary>
        public void IntervalAdopted() => Interlocked.Exchange(ref _previousIntervalTicks, 0);

        public void Touch(DateTime now) => Interlocked.Exchange(ref _lastSeenTicks, now.Ticks);
        /// <summary>Set while the node is considered offline despite an open stream (it stopped heartbeating).</summary>
        public volatile bool Silent;
        /// <summary>False for a grace placeholder created at coordinator start.</summary>
        public bool Connected { get; init; } = true;
    }

    private long _nextId;

    private int _connected;

    /// <summary>Streams open now (grace placeholders after a restart not counted).</summary>
    public int ConnectedCount => Volatile.Read(ref _connected);

    /// <summary>Nodes with a stream open now or expected back after a restart (grace placeholders counted).</summary>
    public int Count => _sessions.Count;

    /// <summary>Registers a new stream for <paramref name="node"/>, closing any older stream of the same node.</summary>
    public Session Open(string node, string certificateSerial = "")
    {
        var session = new Session(node, Interlocked.Increment(ref _nextId), time.GetUtcNow().UtcDateTime, certificateSerial);
        while (true)
        {
            if (_sessions.TryGetValue(node, out var old))
            {
                if (!_sessions.TryUpdate(node, session, old)) continue;
                old.Closed.Cancel();
                if (!old.Connected) Interlocked.Increment(ref _connected);
                return session;
            }
            if (_sessions.TryAdd(node, session))
            {
                Interlocked.Increment(ref _connected);
                return session;
            }
        }
    }

    /// <summary>Removes the session if it is still the node's current one; true when it was.</summary>
    public bool Close(Session session)
    {
        if (!_sessions.TryRemove(new KeyValuePair<string, Session>(session.Node, session))) return false;
        if (session.Connected) Interlocked.Decrement(ref _connected);
        return true;
    }

    /// <summary>Gives a node that was online before a restart time to reconnect.</summary>
    public void AddGrace(string node) =>
        _sessions.TryAdd(node, new Session(node, Interlocked.Increment(ref _nextId), time.GetUtcNow().UtcDateTime) { Connected = false });

    public void Kick(string node)
    {
        if (!_sessions.TryRemove(node, out var s)) return;
        if (s.Connected) Interlocked.Decrement(ref _connected);
        s.Closed.Cancel();
    }

    /// <summary>Closes the streams opened with a certificate <paramref name="denied"/> lists; returns their nodes.</summary>
    public IReadOnlyList<string> KickDenied(Func<string, bool> denied)
    {
        var kicked = new List<string>();
        foreach (var s in _sessions.Values)
        {
            if (!s.Connected || s.CertificateSerial.Length == 0 || !denied(s.CertificateSerial)) continue;
            if (!_sessions.TryRemove(new KeyValuePair<string, Session>(s.Node, s))) continue;
            Interlocked.Decrement(ref _connected);
            s.Closed.Cancel();
            kicked.Add(s.Node);
        }
        return kicked;
    }

    public Session? Get(string node) => _sessions.TryGetValue(node, out var s) ? s : null;

    public IReadOnlyCollection<Session> Snapshot() => _sessions.Values.ToList();
}
