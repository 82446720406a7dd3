using Google.Protobuf;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Messaging;

/// <summary>
/// Sends messages to nodes through the store's outbox, never onto a stream directly: whichever coordinator holds the
/// node's stream, now or after the node reconnects elsewhere, delivers them. A reply to a request (a dry run's result)
/// goes back the same way, addressed to the request, so the coordinator that asked reads it whichever one heard it.
/// </summary>
public sealed class NodeMessages(ICoordinatorStore store)
{
    private const string ReplyPrefix = "reply/";

    /// <summary>Stores <paramref name="message"/> for <paramref name="node"/>; completes once durable.</summary>
    public Task<long> SendAsync(string node, CoordinatorMessage message) => store.Outbox.EnqueueAsync(node, message.ToByteArray());

    /// <summary>The outbox recipient of the replies to request <paramref name="requestId"/> (never a node's name: '/' is in none).</summary>
    public static string ReplyRecipient(string requestId) => ReplyPrefix + requestId;

    /// <summary>Stores <paramref name="reply"/> for the coordinator waiting on <paramref name="requestId"/>.</summary>
    public Task ReplyAsync(string requestId, IMessage reply) => store.Outbox.EnqueueAsync(ReplyRecipient(requestId), reply.ToByteArray());

    /// <summary>The reply to <paramref name="requestId"/> if one is stored, taken out of the outbox; null when none yet.</summary>
    public async Task<T?> TakeReplyAsync<T>(string requestId, MessageParser<T> parser) where T : class, IMessage<T>
    {
        var recipient = ReplyRecipient(requestId);
        foreach (var m in await store.Outbox.PendingAsync(recipient, 1).ConfigureAwait(false))
        {
            await store.Outbox.RemoveAsync(recipient, m.Id).ConfigureAwait(false);
            return parser.ParseFrom(m.Payload);
        }
        return null;
    }
}
