using System.Net;
using System.Net.Sockets;

namespace NodeFleet.Agent.Host;

/// <summary>
/// The network port: what steps do over the node's network (downloads, registry and health probes, TCP port
/// checks), so that a test can put its own in place and no step opens a socket of its own.
/// </summary>
public interface INetwork
{
    /// <summary>GET <paramref name="url"/>, returning once the headers are in (the body is streamed by the caller).</summary>
    Task<HttpResponseMessage> GetAsync(string url, CancellationToken ct);

    /// <summary>Whether nothing listens on TCP <paramref name="port"/> of this host (any address).</summary>
    bool IsTcpPortFree(int port);

    /// <summary>Opens (and closes) a TCP connection to <paramref name="host"/>:<paramref name="port"/>; throws <see cref="SocketException"/> when it cannot.</summary>
    Task ConnectTcpAsync(string host, int port, CancellationToken ct);
}

/// <summary>The host's own network, with one shared <see cref="HttpClient"/>.</summary>
public sealed class HostNetwork(HttpClient http) : INetwork
{
    public Task<HttpResponseMessage> GetAsync(string url, CancellationToken ct) =>
        http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);

    public bool IsTcpPortFree(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Any, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async Task ConnectTcpAsync(string host, int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(host, port, ct);
    }
}
