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

    private static async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken ct)
    {
        try { await from.GetStream().CopyToAsync(to.GetStream(), ct); }
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
