using Microsoft.AspNetCore.Connections;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// Bounds how many TLS handshakes run at once. After a coordinator restart every agent reconnects within seconds; with
/// no bound, thousands of handshakes share the CPU, most outlive the clients' 10 s connect timeout and all their work is
/// wasted, so the agents back off further and the fleet takes minutes to return. With a bound, connections wait their
/// turn already accepted, and the handshakes that run finish in milliseconds. <see cref="BeforeTls"/> goes before
/// UseHttps, <see cref="AfterTls"/> after it; a slot is held from the first to the second (or to the end of a
/// connection whose handshake failed).
/// </summary>
public sealed class HandshakeLimiter(int concurrent)
{
    private readonly SemaphoreSlim _slots = new(concurrent, concurrent);
    private static readonly object Key = new();

    /// <summary>Handshakes in progress now.</summary>
    public int InProgress => concurrent - _slots.CurrentCount;

    public ConnectionDelegate BeforeTls(ConnectionDelegate next) => async context =>
    {
        try { await _slots.WaitAsync(context.ConnectionClosed); }
        catch (OperationCanceledException) { return; }
        var slot = new Slot(_slots);
        context.Items[Key] = slot;
        try { await next(context); }
        finally { slot.Release(); }
    };

    public ConnectionDelegate AfterTls(ConnectionDelegate next) => context =>
    {
        if (context.Items.TryGetValue(Key, out var slot)) (slot as Slot)?.Release();
        return next(context);
    };

    private sealed class Slot(SemaphoreSlim slots)
    {
        private int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) slots.Release();
        }
    }
}
