using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using NodeFleet.Config;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Connection;

/// <summary>An mTLS channel to the coordinator built from the CLI config, with RPC failures turned into operator messages.</summary>
public sealed class CliConnection : IDisposable
{
    /// <summary>Every unary call gets this deadline so a wedged coordinator cannot hang a script.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly GrpcChannel _channel;
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _clientCertificate;

    private CliConnection(string address, X509Certificate2 ca, X509Certificate2 clientCertificate)
    {
        Address = address;
        _ca = ca;
        _clientCertificate = clientCertificate;
        _channel = GrpcChannels.Create(address, ca, clientCertificate);
        Client = new Fleet.FleetClient(_channel);
        Events = new Events.EventsClient(_channel);
        Rollouts = new Rollouts.RolloutsClient(_channel);
    }

    /// <summary>The coordinator address in use, as the operator wrote it (config or --coordinator).</summary>
    public string Address { get; }

    public Fleet.FleetClient Client { get; }

    /// <summary>The events API (list and watch), on the same channel.</summary>
    public Events.EventsClient Events { get; }

    /// <summary>The rollouts API (start, follow, pause, resume, abort, roll back), on the same channel.</summary>
    public Rollouts.RolloutsClient Rollouts { get; }

    /// <summary>Loads the config at <paramref name="path"/>; <paramref name="coordinatorOverride"/> replaces its address.</summary>
    public static CliConnection Open(string path, string? coordinatorOverride)
    {
        var config = ClientConfig.Load(path);
        var address = string.IsNullOrWhiteSpace(coordinatorOverride) ? config.Coordinator : coordinatorOverride.Trim();
        GrpcChannels.ToUri(address); // fail on a bad address here, with its own message, rather than inside the channel
        X509Certificate2 ca, client;
        try
        {
            ca = config.CaCertificate();
            client = config.ClientCertificate();
        }
        catch (CryptographicException e)
        {
            throw new CliException($"{path}: cannot load the certificates: {e.Message}");
        }
        return new CliConnection(address, ca, client);
    }

    /// <summary>
    /// Runs one unary call with the deadline (<see cref="CallTimeout"/> unless a call that waits on a node needs
    /// longer), translating an <see cref="RpcException"/> into a <see cref="CliException"/>.
    /// </summary>
    public Task<T> CallAsync<T>(Func<Fleet.FleetClient, CallOptions, AsyncUnaryCall<T>> call, CancellationToken ct,
        TimeSpan? timeout = null) => CallAsync(Client, call, ct, timeout);

    /// <summary>The same for a call on another client of this connection (e.g. <see cref="Events"/>).</summary>
    public async Task<T> CallAsync<TClient, T>(TClient client, Func<TClient, CallOptions, AsyncUnaryCall<T>> call,
        CancellationToken ct, TimeSpan? timeout = null)
    {
        var limit = timeout ?? CallTimeout;
        var options = new CallOptions(deadline: DateTime.UtcNow + limit, cancellationToken: ct);
        try
        {
            return await call(client, options);
        }
        catch (RpcException e)
        {
            throw Translate(e, Address, limit, ct.IsCancellationRequested);
        }
    }

    /// <summary>The message an operator sees for a failed call: the server's detail, or what went wrong on the way.</summary>
    public static CliException Translate(RpcException e, string address, TimeSpan timeout, bool cancelledByCaller) => e.StatusCode switch
    {
        // A failed TLS handshake surfaces as Internal ("Error starting gRPC call") and a connect timeout as
        // Cancelled, but both are as much a failure to reach the coordinator as a refused connection.
        StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled when IsTransportFailure(e) =>
            new($"cannot reach the coordinator at {address}: {TransportDetail(e, address)}", StatusCode.Unavailable),
        StatusCode.DeadlineExceeded => new(
            $"the coordinator at {address} did not answer within {Durations.Format(timeout)}", e.StatusCode),
        StatusCode.Cancelled when cancelledByCaller => new("cancelled", e.StatusCode),
        _ => new(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"the coordinator answered {e.StatusCode}" : e.Status.Detail,
            e.StatusCode),
    };

    private static bool IsTransportFailure(RpcException e) =>
        e.StatusCode == StatusCode.Unavailable
        || Causes(e).Any(x => x is HttpRequestException or AuthenticationException or TimeoutException);

    /// <summary>
    /// Grpc.Net.Client's detail for a failed connection is generic ("Error connecting to subchannel."); the
    /// innermost exception says why (connection refused, certificate rejected, name not resolved).
    /// </summary>
    private static string TransportDetail(RpcException e, string address)
    {
        var innermost = Causes(e).LastOrDefault();
        if (innermost is AuthenticationException && innermost.Message.Contains("RemoteCertificateValidationCallback", StringComparison.Ordinal))
        {
            return $"TLS handshake failed: the coordinator's certificate is not issued by the CA in the config or is not valid for {address}";
        }
        if (innermost is AuthenticationException or IOException) return $"TLS handshake failed: {innermost.Message}";
        if (innermost is TimeoutException) return innermost.Message;
        var detail = e.Status.Detail;
        if (innermost is null || string.IsNullOrWhiteSpace(innermost.Message)) return detail;
        if (e.StatusCode != StatusCode.Unavailable || string.IsNullOrWhiteSpace(detail)) return innermost.Message;
        return $"{detail.TrimEnd('.')}: {innermost.Message}";
    }

    private static IEnumerable<Exception> Causes(RpcException e)
    {
        for (var x = e.Status.DebugException; x is not null; x = x.InnerException) yield return x;
    }

    public void Dispose()
    {
        _channel.Dispose();
        _clientCertificate.Dispose();
        _ca.Dispose();
    }
}
