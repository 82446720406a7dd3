using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The outbox: messages kept per recipient until removed, announced when enqueued, ids never reused.</summary>
public abstract partial class StoreContractTests
{
    [Fact]
    public async Task Outbox_messages_are_kept_per_recipient_in_order_until_removed()
    {
        var a1 = await Store.Outbox.EnqueueAsync("n1", [1]);
        var b1 = await Store.Outbox.EnqueueAsync("n2", [2]);
        var a2 = await Store.Outbox.EnqueueAsync("n1", [3, 4]);
        Assert.True(a1 < b1 && b1 < a2);
        Assert.Equal(["n1", "n2"], (await Store.Outbox.RecipientsWithPendingAsync()).Order(StringComparer.Ordinal));

        var pending = await Store.Outbox.PendingAsync("n1", 10);
        Assert.Equal([a1, a2], pending.Select(m => m.Id));
        Assert.Equal([3, 4], pending[1].Payload);
        Assert.All(pending, m => Assert.Equal("n1", m.Recipient));
        Assert.Equal([a1], (await Store.Outbox.PendingAsync("n1", 1)).Select(m => m.Id));

        // A node acknowledges only its own messages.
        Assert.False(await Store.Outbox.RemoveAsync("n2", a1));
        Assert.True(await Store.Outbox.RemoveAsync("n1", a1));
        Assert.False(await Store.Outbox.RemoveAsync("n1", a1));
        Assert.Equal([a2], (await Store.Outbox.PendingAsync("n1", 10)).Select(m => m.Id));
        Assert.Equal([b1], (await Store.Outbox.PendingAsync("n2", 10)).Select(m => m.Id));
        Assert.Empty(await Store.Outbox.PendingAsync("n3", 10));
        Assert.True(await Store.Outbox.RemoveAsync("n2", b1));
        Assert.Equal(["n1"], await Store.Outbox.RecipientsWithPendingAsync());
    }

    [Fact]
    public async Task An_outbox_id_is_never_given_twice_even_once_every_message_is_removed()
    {
        var first = await Store.Outbox.EnqueueAsync("n1", [1]);
        Assert.True(await Store.Outbox.RemoveAsync("n1", first));
        var second = await Store.Outbox.EnqueueAsync("n1", [1]);
        Assert.True(second > first);
    }

    [Fact]
    public async Task Enqueuing_announces_the_recipient_once_durable()
    {
        var heard = new List<string>();
        var pendingWhenHeard = -1;
        void OnEnqueued(string r)
        {
            lock (heard)
            {
                heard.Add(r);
                if (r == "n9") pendingWhenHeard = Store.Outbox.PendingAsync("n9", 10).GetAwaiter().GetResult().Count;
            }
        }
        Store.Outbox.Enqueued += OnEnqueued;
        try
        {
            await Store.Outbox.EnqueueAsync("n9", [7]);
            lock (heard)
            {
                Assert.Contains("n9", heard);
                Assert.Equal(1, pendingWhenHeard);
            }
        }
        finally
        {
            Store.Outbox.Enqueued -= OnEnqueued;
        }
    }

    [Fact]
    public async Task Outbox_retention_removes_messages_enqueued_before_the_cutoff()
    {
        await Store.Outbox.EnqueueAsync("n1", [1]);
        Time.Advance(TimeSpan.FromHours(2));
        var kept = await Store.Outbox.EnqueueAsync("n1", [2]);
        Assert.Equal(1, await Store.Outbox.RemoveOlderThanAsync(Time.GetUtcNow().UtcDateTime - TimeSpan.FromHours(1)));
        Assert.Equal([kept], (await Store.Outbox.PendingAsync("n1", 10)).Select(m => m.Id));
    }
}
