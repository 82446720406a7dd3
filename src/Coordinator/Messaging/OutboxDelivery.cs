using Google.Protobuf;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Messaging;

/// <summary>
/// Delivers a node's outbox onto the stream this coordinator holds for it: everything pending when the stream opens,
/// then what is enqueued later, woken by the store (at once in-process; PostgreSQL's NOTIFY for other coordinators'
/// messages) and polling every <see cref="PollInterval"/> in case a wake-up was lost. Each message goes out wrapped in a
/// <see cref="Delivery"/> with its id, once per stream, and stays in the outbox until the agent answers Delivered: a
/// stream that breaks first (this coordinator killed, say) leaves it for the next stream, here or on another coordinator.
/// </summary>
public sealed partial class OutboxDelivery(ICoordinatorStore store, ILogger<OutboxDelivery> log)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);
    /// <summary>Messages read per pass; more wait for acknowledgements of these.</summary>
    private const int Batch = 100;

    /// <summary>Runs until <paramref name="ct"/> is cancelled (the stream ended).</summary>
    public async Task RunAsync(Presence.Session session, CancellationToken ct)
    {
        using var wake = new SemaphoreSlim(1, int.MaxValue);
        void OnEnqueued(string recipient)
        {
            if (recipient != session.Node) return;
            try { wake.Release(); } catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException) { }
        }
        store.Outbox.Enqueued += OnEnqueued;
        // Sent on this stream and not yet acknowledged: not sent again on it.
        var sent = new HashSet<long>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await wake.WaitAsync(PollInterval, ct).ConfigureAwait(false);
                IReadOnlyList<OutboxMessage> pending;
                try { pending = await store.Outbox.PendingAsync(session.Node, Batch).ConfigureAwait(false); }
                catch (IOException e)
                {
                    LogUnreadable(log, session.Node, e.Message);
                    continue;
                }
                foreach (var m in pending)
                {
                    if (!sent.Add(m.Id)) continue;
                    CoordinatorMessage inner;
                    try { inner = CoordinatorMessage.Parser.ParseFrom(m.Payload); }
                    catch (InvalidProtocolBufferException e)
                    {
                        LogDropped(log, m.Id, session.Node, e.Message);
                        await store.Outbox.RemoveAsync(session.Node, m.Id).ConfigureAwait(false);
                        continue;
                    }
                    await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { Delivery = new Delivery { Id = m.Id, Message = inner } }, ct)
                        .ConfigureAwait(false);
                    LogDelivered(log, m.Id, inner.KindCase.ToString(), session.Node);
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
            store.Outbox.Enqueued -= OnEnqueued;
        }
    }

    /// <summary>The agent took message <paramref name="id"/> in: it leaves the outbox (a node acknowledges only its own).</summary>
    public Task AcknowledgeAsync(string node, long id) => store.Outbox.RemoveAsync(node, id);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Debug, Message = "Delivering outbox message {Id} ({Kind}) to node {Node}")]
    private static partial void LogDelivered(ILogger log, long id, string kind, string node);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Cannot read the outbox of node {Node} (tried again shortly): {Error}")]
    private static partial void LogUnreadable(ILogger log, string node, string error);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Error, Message = "Outbox message {Id} for node {Node} is unreadable and was dropped: {Error}")]
    private static partial void LogDropped(ILogger log, long id, string node, string error);
}
