using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace NodeFleet.Coordinator.Admission;

/// <summary>
/// The first gate of a connection to the agent and operator port, before any TLS work. A connection must send its
/// first byte (the start of a TLS ClientHello) within <see cref="FirstByteTimeout"/>, and only then does it queue for a
/// handshake slot: sockets that are opened and never used take no slot, and are dropped. One source address may hold
/// at most <see cref="SilentPerSource"/> such silent connections; a new one drops the oldest instead of being refused,
/// so a real client never waits behind idle sockets, even ones from its own address.
/// </summary>
public sealed partial class ConnectionAdmission(TimeSpan firstByteTimeout, int silentPerSource, ILogger log,
    TimeProvider? time = null, Action<string>? dropped = null)
{
    /// <summary>Reasons a connection is dropped, as counted in nodefleet_connections_dropped_total.</summary>
    public const string Silent = "silent", Evicted = "evicted";

    private readonly Dictionary<IPAddress, LinkedList<Waiter>> _waiting = [];
    private readonly DropLog _dropLog = new(log, time ?? TimeProvider.System);

    public TimeSpan FirstByteTimeout { get; } = firstByteTimeout;
    public int SilentPerSource { get; } = silentPerSource;

    /// <summary>Connections waiting for their first byte now, over all sources.</summary>
    public int Waiting
    {
        get { lock (_waiting) return _waiting.Values.Sum(l => l.Count); }
    }

    public ConnectionDelegate BeforeTls(ConnectionDelegate next) => async context =>
    {
        var source = SourceOf(context);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.ConnectionClosed);
        var waiter = Enter(source, cancel);
        try
        {
            cancel.CancelAfter(FirstByteTimeout);
            var read = await context.Transport.Input.ReadAsync(cancel.Token);
            // Nothing is consumed: the TLS layer reads the same bytes.
            context.Transport.Input.AdvanceTo(read.Buffer.Start);
            if (read.Buffer.IsEmpty) return; // closed before it sent anything
        }
        catch (OperationCanceledException) when (!context.ConnectionClosed.IsCancellationRequested)
        {
            var reason = waiter.Evicted ? Evicted : Silent;
            _dropLog.Dropped(source, reason == Evicted
                ? $"it sent nothing, and a newer connection from the same address took its place ({SilentPerSource} silent connections at most)"
                : $"it sent nothing within {FirstByteTimeout.TotalSeconds:0.#}s");
            dropped?.Invoke(reason);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        finally
        {
            Leave(source, waiter);
        }
        await next(context);
    };

    /// <summary>The address a connection comes from; IPv4 through an IPv6 socket counts as IPv4.</summary>
    public static IPAddress SourceOf(ConnectionContext context) =>
        context.RemoteEndPoint is IPEndPoint e ? Source(e.Address) : IPAddress.None;

    /// <summary>The source an address counts as: IPv4 through an IPv6 socket is IPv4.</summary>
    public static IPAddress Source(IPAddress? address) => address switch
    {
        null => IPAddress.None,
        { IsIPv4MappedToIPv6: true } a => a.MapToIPv4(),
        var a => a,
    };

    private Waiter Enter(IPAddress source, CancellationTokenSource cancel)
    {
        var waiter = new Waiter(cancel);
        Waiter? oldest = null;
        lock (_waiting)
        {
            if (!_waiting.TryGetValue(source, out var list)) _waiting[source] = list = new();
            if (list.Count >= SilentPerSource)
            {
                oldest = list.First!.Value;
                oldest.Evicted = true;
                list.RemoveFirst();
            }
            waiter.Node = list.AddLast(waiter);
        }
        // Cancelled outside the lock: its continuation takes the lock in Leave.
        oldest?.Cancel.Cancel();
        return waiter;
    }

    private void Leave(IPAddress source, Waiter waiter)
    {
        lock (_waiting)
        {
            if (waiter.Node?.List is { } list)
            {
                list.Remove(waiter.Node);
                if (list.Count == 0) _waiting.Remove(source);
            }
        }
    }

    private sealed class Waiter(CancellationTokenSource cancel)
    {
        public CancellationTokenSource Cancel { get; } = cancel;
        public LinkedListNode<Waiter>? Node { get; set; }
        public bool Evicted { get; set; }
    }

    /// <summary>
    /// One warning per source address and minute, with how many were dropped since the last one: an attack must not
    /// flood the log it is recorded in.
    /// </summary>
    private sealed partial class DropLog(ILogger log, TimeProvider time)
    {
        private readonly Dictionary<IPAddress, (DateTimeOffset Last, int Suppressed)> _last = [];

        public void Dropped(IPAddress source, string why)
        {
            var now = time.GetUtcNow();
            int suppressed;
            lock (_last)
            {
                if (_last.TryGetValue(source, out var e) && now - e.Last < TimeSpan.FromMinutes(1))
                {
                    _last[source] = (e.Last, e.Suppressed + 1);
                    return;
                }
                suppressed = _last.TryGetValue(source, out e) ? e.Suppressed : 0;
                _last[source] = (now, 0);
                if (_last.Count > 10_000) _last.Clear(); // many sources: forget, and log again
            }
            LogDropped(log, source, why, suppressed);
        }

        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning,
            Message = "Dropped a connection from {Source}: {Why} ({Suppressed} more from that address dropped since the last warning)")]
        private static partial void LogDropped(ILogger logger, IPAddress source, string why, int suppressed);
    }
}
