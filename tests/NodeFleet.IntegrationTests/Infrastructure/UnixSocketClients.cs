using System.Net.Sockets;
using Grpc.Net.Client;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>HTTP and gRPC clients over a unix domain socket: CRI (containerd) and the Docker Engine API.</summary>
public static class UnixSocketClients
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

    /// <summary>A gRPC channel to the server on <paramref name="socketPath"/> (e.g. CRI's ImageService).</summary>
    public static GrpcChannel GrpcChannel(string socketPath) =>
        Grpc.Net.Client.GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = Handler(socketPath),
            DisposeHttpClient = true,
        });

    /// <summary>An HttpClient whose requests to http://localhost/… go to <paramref name="socketPath"/> (Docker's Engine API).</summary>
    public static HttpClient HttpClient(string socketPath, TimeSpan? timeout = null) =>
        new(Handler(socketPath), disposeHandler: true)
        {
            BaseAddress = new Uri("http://localhost"),
            Timeout = timeout ?? TimeSpan.FromMinutes(2),
        };
}
