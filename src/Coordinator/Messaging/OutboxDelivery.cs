using System.Collections.Concurrent;
using Google.Protobuf;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Messaging;

/// <summary>
/// Delivers the outbox of each node whose stream this coordinator holds: everything pending when the stream opens, then
/// what is enqueued later. A node's delivery is woken by the store (at once for this process's messages; PostgreSQL's
/// NOTIFY for other coordinators'), and, in case a wake-up was lost, by one read every <see cref="PollInterval"/> of
/// which recipients have messages pending (one query for all the nodes connected here, not one per node). Each message
/// goes out wrapped in a <see cref="Delivery"/> with its id, once per stream, and stays in the outbox until the agent
/// answers Delivered: a stream that breaks first (this coordinator killed, say) leaves it for the next stream, here or
/// on another coordinator.
/// </summary>
public sealed partial class OutboxDelivery : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);
    /// <summary>Messages read per pass; more wait for acknowledgements of these.</summary>
    private const int Batch = 100;

    private readonly ICoordinatorStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<OutboxDelivery> _log;
    // The wake-up of each node whose stream is held here.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _connected = new(StringComparer.Ordinal);

    public OutboxDelivery(ICoordinatorStore store, TimeProvider time, ILogger<OutboxDelivery> log)
    {
        _store = store;
        _time = time;
        _log = log;
        store.Outbox.Enqueued += Wake;
    }

    private void Wake(string recipient)
    {
        if (!_connected.TryGetValue(recipient, out var wake)) return;
        try { wake.Release(); }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException) { }
    }

    /// <summary>The poller: wakes every connected node that has messages pending.</summary>
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(PollInterval, _time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            if (_connected.IsEmpty) continue;
            try
            {
                foreach (var recipient in await _store.Outbox.RecipientsWithPendingAsync().ConfigureAwait(false)) Wake(recipient);
            }
            catch (IOException e)
            {
                LogUnreadable(_log, "(all)", e.Message);
            }
        }
    }

    /// <summary>Delivers to <paramref name="session"/> until <paramref name="ct"/> is cancelled (the stream ended).</summary>
    public async Task RunAsync(Presence.Session session, CancellationToken ct)
    {
        // Starts signalled: what is pending now goes out at once.
        using var wake = new SemaphoreSlim(1, int.MaxValue);
        _connected[session.Node] = wake;
        // Sent on this stream and not yet acknowledged: not sent again on it.
        var sent = new HashSet<long>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await wake.WaitAsync(ct).ConfigureAwait(false);
                IReadOnlyList<OutboxMessage> pending;
                try { pending = await _store.Outbox.PendingAsync(session.Node, Batch).ConfigureAwait(false); }
                catch (IOException e)
                {
                    // The poller wakes this node again once the store answers and the messages are still there.
                    LogUnreadable(_log, session.Node, e.Message);
                    continue;
                }
                foreach (var m in pending)
                {
                    if (!sent.Add(m.Id)) continue;
                    CoordinatorMessage inner;
                    try { inner = CoordinatorMessage.Parser.ParseFrom(m.Payload); }
                    catch (InvalidProtocolBufferException e)
                    {
                        LogDropped(_log, m.Id, session.Node, e.Message);
                        await _store.Outbox.RemoveAsync(session.Node, m.Id).ConfigureAwait(false);
                        continue;
                    }
                    await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { Delivery = new Delivery { Id = m.Id, Message = inner } }, ct)
                        .ConfigureAwait(false);
                    LogDelivered(_log, m.Id, inner.KindCase.ToString(), session.Node);
                }
                // What is no longer pending was acknowledged: forgotten, so the set stays as small as the outbox.
                if (pending.Count < Batch) sent.IntersectWith(pending.Select(m => m.Id));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
        }
        finally
        {
            _connected.TryRemove(new KeyValuePair<string, SemaphoreSlim>(session.Node, wake));
        }
    }

    /// <summary>
    /// The agent took message <paramref name="id"/> in: it leaves the outbox (a node acknowledges only its own), and the
    /// node's delivery looks for more (a full batch waits for acknowledgements).
    /// </summary>
    public async Task AcknowledgeAsync(string node, long id)
    {
        if (await _store.Outbox.RemoveAsync(node, id).ConfigureAwait(false)) Wake(node);
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Debug, Message = "Delivering outbox message {Id} ({Kind}) to node {Node}")]
    private static partial void LogDelivered(ILogger log, long id, string kind, string node);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Cannot read the outbox of node {Node} (tried again shortly): {Error}")]
    private static partial void LogUnreadable(ILogger log, string node, string error);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Error, Message = "Outbox message {Id} for node {Node} is unreadable and was dropped: {Error}")]
    private static partial void LogDropped(ILogger log, long id, string node, string error);
}
