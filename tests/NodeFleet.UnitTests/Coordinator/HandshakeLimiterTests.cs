using Microsoft.AspNetCore.Connections;
using NodeFleet.Coordinator.Admission;

namespace NodeFleet.Tests.Coordinator;

public sealed class HandshakeLimiterTests
{
    /// <summary>A connection pipeline as Kestrel builds it: limiter, a "TLS handshake" the test controls, limiter, the rest.</summary>
    private static ConnectionDelegate Pipeline(HandshakeLimiter limiter, Func<ConnectionContext, Task> handshake, Func<ConnectionContext, Task> rest)
    {
        ConnectionDelegate app = c => rest(c);
        app = limiter.AfterTls(app);
        var afterTls = app;
        ConnectionDelegate tls = async c =>
        {
            await handshake(c);
            await afterTls(c);
        };
        return limiter.BeforeTls(tls);
    }

    [Fact]
    public async Task At_most_the_limit_of_handshakes_run_and_a_slot_is_freed_when_one_completes()
    {
        var limiter = new HandshakeLimiter(2);
        var gates = Enumerable.Range(0, 3).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var started = new List<int>();
        var connectionsOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var index = 0;
        var pipeline = Pipeline(limiter,
            async c =>
            {
                var i = (int)c.Items["i"]!;
                lock (started) started.Add(i);
                await gates[i].Task;
            },
            _ => connectionsOpen.Task); // the connection stays open after its handshake

        var runs = Enumerable.Range(0, 3).Select(_ =>
        {
            var c = new DefaultConnectionContext();
            c.Items["i"] = index++;
            return pipeline(c);
        }).ToList();
        await Task.Delay(100);
        Assert.Equal([0, 1], started.Order());
        Assert.Equal(2, limiter.InProgress);

        gates[0].SetResult(); // the first handshake completes; its connection goes on, its slot is free
        await WaitUntil(() => started.Count == 3);
        Assert.Equal(2, limiter.InProgress);

        gates[1].SetResult();
        gates[2].SetResult();
        await WaitUntil(() => limiter.InProgress == 0);
        connectionsOpen.SetResult();
        await Task.WhenAll(runs);
        Assert.Equal(0, limiter.InProgress);
    }

    [Fact]
    public async Task A_failed_handshake_frees_its_slot()
    {
        var limiter = new HandshakeLimiter(1);
        var pipeline = Pipeline(limiter, _ => throw new IOException("handshake failed"), _ => Task.CompletedTask);
        await Assert.ThrowsAsync<IOException>(() => pipeline(new DefaultConnectionContext()));
        Assert.Equal(0, limiter.InProgress);
        await Assert.ThrowsAsync<IOException>(() => pipeline(new DefaultConnectionContext()));
        Assert.Equal(0, limiter.InProgress);
    }

    [Fact]
    public async Task A_connection_closed_while_waiting_gives_up_its_place()
    {
        var limiter = new HandshakeLimiter(1);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handshakes = 0;
        var pipeline = Pipeline(limiter, async _ => { Interlocked.Increment(ref handshakes); await hold.Task; }, _ => Task.CompletedTask);
        var first = pipeline(new DefaultConnectionContext());
        using var closed = new CancellationTokenSource();
        var waiting = pipeline(new DefaultConnectionContext { ConnectionClosed = closed.Token });
        await Task.Delay(50);
        closed.Cancel();
        await waiting; // returns without a handshake
        Assert.Equal(1, handshakes);
        hold.SetResult();
        await first;
        Assert.Equal(0, limiter.InProgress);
    }

    [Fact]
    public async Task One_address_holds_at_most_its_share_and_the_others_still_get_slots()
    {
        var limiter = new HandshakeLimiter(4, perSource: 2);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new List<string>();
        var pipeline = Pipeline(limiter, async c =>
        {
            lock (started) started.Add((string)c.Items["who"]!);
            if ((string)c.Items["who"]! == "a") await hold.Task; // a handshake that stalls
        }, _ => Task.CompletedTask);
        DefaultConnectionContext From(string ip, string who)
        {
            var c = new DefaultConnectionContext { RemoteEndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Parse(ip), 1) };
            c.Items["who"] = who;
            return c;
        }

        var stalled = Enumerable.Range(0, 3).Select(_ => pipeline(From("10.0.0.1", "a"))).ToList();
        await WaitUntil(() => started.Count == 2);
        await pipeline(From("10.0.0.2", "b")); // not behind the stalled address
        Assert.Equal(["a", "a", "b"], started);
        Assert.Equal(2, limiter.InProgress);

        hold.SetResult();
        await Task.WhenAll(stalled);
        Assert.Equal(4, started.Count);
        Assert.Equal(0, limiter.InProgress);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }
}
