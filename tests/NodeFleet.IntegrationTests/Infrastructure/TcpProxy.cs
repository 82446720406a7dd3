using System.Net;
using System.Net.Sockets;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A TCP forwarder on a loopback port the test controls: <see cref="Cut"/> refuses new connections and drops the open
/// ones (a network partition without a firewall), <see cref="Restore"/> listens again on the same port.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly object _gate = new();
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;
    private CancellationTokenSource _cts = new();

    public TcpProxy(int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        Port = Proc.FreePort();
        Restore();
    }

    public int Port { get; }

    public void Restore()
    {
        lock (_gate)
        {
            if (_listener is not null) return;
            _cts = new CancellationTokenSource();
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            _ = AcceptAsync(_listener, _cts.Token);
        }
    }

    public void Cut()
    {
        lock (_gate)
        {
            _cts.Cancel();
            _listener?.Stop();
            _listener = null;
            foreach (var c in _open) c.Dispose();
            _open.Clear();
        }
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(ct); }
            catch (Exception) { return; }
            var upstream = new TcpClient();
            try { await upstream.ConnectAsync(_target, ct); }
            catch (Exception)
            {
                client.Dispose();
                upstream.Dispose();
                continue;
            }
            lock (_gate)
            {
                if (ct.IsCancellationRequested)
                {
                    client.Dispose();
                    upstream.Dispose();
                    return;
                }
                _open.Add(client);
                _open.Add(upstream);
            }
            _ = PumpAsync(client, upstream, ct);
            _ = PumpAsync(upstream, client, ct);
        }
    }

    /// <summary>When set, each direction of each connection is held to about this many bytes a second (a slow link).</summary>
    public int? BytesPerSecond { get; init; }

    private async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken ct)
    {
        try
        {
            if (BytesPerSecond is not { } rate) await from.GetStream().CopyToAsync(to.GetStream(), ct);
            else
            {
                // Chunks of a tenth of a second's worth, each followed by its tenth of a second.
                var buffer = new byte[Math.Max(1, rate / 10)];
                int n;
                while ((n = await from.GetStream().ReadAsync(buffer, ct)) > 0)
                {
                    await to.GetStream().WriteAsync(buffer.AsMemory(0, n), ct);
                    await Task.Delay(TimeSpan.FromSeconds((double)n / rate), ct);
                }
            }
        }
        catch (Exception) { }
        from.Dispose();
        to.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
