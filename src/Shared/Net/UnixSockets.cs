using System.Net.Sockets;
using Grpc.Net.Client;

namespace NodeFleet.Net;

/// <summary>HTTP and gRPC clients over a unix domain socket (container runtimes listen on one).</summary>
public static class UnixSockets
{
    public static SocketsHttpHandler Handler(string socketPath) => new()
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public static HttpClient HttpClient(string socketPath, TimeSpan? timeout = null) =>
        new(Handler(socketPath)) { BaseAddress = new Uri("http://localhost"), Timeout = timeout ?? TimeSpan.FromSeconds(100) };

    public static GrpcChannel GrpcChannel(string socketPath) =>
        Grpc.Net.Client.GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = Handler(socketPath),
            DisposeHttpClient = true,
        });
}
