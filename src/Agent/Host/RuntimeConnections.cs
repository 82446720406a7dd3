using System.Collections.Concurrent;
using Grpc.Net.Client;
using NodeFleet.Net;

namespace NodeFleet.Agent.Host;

/// <summary>
/// One gRPC channel (CRI) or HTTP client (Docker Engine API) per runtime socket, shared by every step, run and facts
/// probe of the process and closed when the agent stops: a connection per step would pile up open sockets over the
/// days a node's agent runs.
/// </summary>
public sealed class RuntimeConnections : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<GrpcChannel>> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<HttpClient>> _clients = new(StringComparer.Ordinal);

    /// <summary>The CRI channel to the socket at <paramref name="socketPath"/> (a full path, already rooted).</summary>
    public GrpcChannel Cri(string socketPath) =>
        _channels.GetOrAdd(socketPath, p => new Lazy<GrpcChannel>(() => UnixSockets.GrpcChannel(p))).Value;

    /// <summary>The Engine API client to the socket at <paramref name="socketPath"/> (a full path, already rooted).</summary>
    public HttpClient Docker(string socketPath) =>
        _clients.GetOrAdd(socketPath, p => new Lazy<HttpClient>(() =>
            new HttpClient(UnixSockets.Handler(p)) { BaseAddress = new Uri("http://docker"), Timeout = Timeout.InfiniteTimeSpan })).Value;

    public void Dispose()
    {
        foreach (var c in _channels.Values.Where(l => l.IsValueCreated)) c.Value.Dispose();
        foreach (var c in _clients.Values.Where(l => l.IsValueCreated)) c.Value.Dispose();
        _channels.Clear();
        _clients.Clear();
    }
}
