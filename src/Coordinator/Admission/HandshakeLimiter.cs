using System.Net;
using Microsoft.AspNetCore.Connections;

namespace NodeFleet.Coordinator.Admission;

/// <summary>
/// Bounds how many TLS handshakes run at once, in all and per source address. After a coordinator restart every agent
/// reconnects within seconds; with no bound, thousands of handshakes share the CPU, most outlive the clients' 10 s
/// connect timeout and all their work is wasted, so the agents back off further and the fleet takes minutes to return.
/// With a bound, connections wait their turn already accepted, and the handshakes that run finish in milliseconds. The
/// bound per source keeps slots for everyone else while one address stalls its handshakes (a slow-loris that sends a
/// byte and then nothing holds a slot until the handshake timeout). <see cref="BeforeTls"/> goes before UseHttps,
/// <see cref="AfterTls"/> after it; the slots are held from the first to the second (or to the end of a connection
/// whose handshake failed).
/// </summary>
public sealed class HandshakeLimiter
{
    private readonly SemaphoreSlim _slots;
    private readonly int _concurrent;
    private readonly int _perSource;
    private readonly Dictionary<IPAddress, Source> _sources = [];
    private static readonly object Key = new();

    /// <param name="perSource">Most handshakes of one source address at once; 0 means half of <paramref name="concurrent"/>.</param>
    public HandshakeLimiter(int concurrent, int perSource = 0)
    {
        _concurrent = concurrent;
        _perSource = perSource > 0 ? Math.Min(perSource, concurrent) : Math.Max(1, concurrent / 2);
        _slots = new SemaphoreSlim(concurrent, concurrent);
    }

    /// <summary>Handshakes in progress now.</summary>
    public int InProgress => _concurrent - _slots.CurrentCount;

    public ConnectionDelegate BeforeTls(ConnectionDelegate next) => async context =>
    {
        var address = ConnectionAdmission.SourceOf(context);
        // A connection without an IP address (none here but in tests) has no source to share with.
        var source = address.Equals(IPAddress.None) ? null : Join(address);
        var slot = new Slot(this, address, source);
        try
        {
            if (source is not null)
            {
                await source.Slots.WaitAsync(context.ConnectionClosed);
                slot.HoldsSource = true;
            }
            await _slots.WaitAsync(context.ConnectionClosed);
            slot.HoldsGlobal = true;
        }
        catch (OperationCanceledException)
        {
            slot.Release();
            return;
        }
        context.Items[Key] = slot;
        try { await next(context); }
        finally { slot.Release(); }
    };

    public ConnectionDelegate AfterTls(ConnectionDelegate next) => context =>
    {
        if (context.Items.TryGetValue(Key, out var slot)) (slot as Slot)?.Release();
        return next(context);
    };

    private Source Join(IPAddress address)
    {
        lock (_sources)
        {
            if (!_sources.TryGetValue(address, out var s)) _sources[address] = s = new Source(_perSource);
            s.Users++;
            return s;
        }
    }

    private void Part(IPAddress address, Source source)
    {
        lock (_sources)
        {
            if (--source.Users == 0) _sources.Remove(address);
        }
    }

    private sealed class Source(int perSource)
    {
        public SemaphoreSlim Slots { get; } = new(perSource, perSource);
        public int Users { get; set; }
    }

    private sealed class Slot(HandshakeLimiter limiter, IPAddress address, Source? source)
    {
        private int _released;
        public bool HoldsSource { get; set; }
        public bool HoldsGlobal { get; set; }

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            if (HoldsGlobal) limiter._slots.Release();
            if (source is null) return;
            if (HoldsSource) source.Slots.Release();
            limiter.Part(address, source);
        }
    }
}
