using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using NodeFleet.Config;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;
using NodeFleet.IO;

namespace NodeFleet.Cli.Connection;

/// <summary>An mTLS channel to the coordinator built from the CLI config, with RPC failures turned into operator messages.</summary>
public sealed class CliConnection : IDisposable
{
    /// <summary>Every unary call gets this deadline so a wedged coordinator cannot hang a script.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly GrpcChannel _channel;
    private readonly X509Certificate2 _ca;
    /// <summary>Every CA of the config (two during a CA rotation): the coordinator's certificate may come from either.</summary>
    private readonly X509Certificate2Collection _trust;
    private readonly X509Certificate2 _clientCertificate;

    private CliConnection(string configPath, string address, X509Certificate2Collection trust, X509Certificate2 clientCertificate)
    {
        ConfigPath = configPath;
        Address = address;
        _trust = trust;
        _ca = trust[0];
        _clientCertificate = clientCertificate;
        _channel = GrpcChannels.CreateTrusting(address, trust, clientCertificate);
        Client = new Fleet.FleetClient(_channel);
        Events = new Events.EventsClient(_channel);
        Rollouts = new Rollouts.RolloutsClient(_channel);
        Clusters = new Clusters.ClustersClient(_channel);
        Admins = new Admins.AdminsClient(_channel);
        Coordinators = new Coordinators.CoordinatorsClient(_channel);
        Windows = new Windows.WindowsClient(_channel);
        CaRotation = new CaRotation.CaRotationClient(_channel);
    }

    /// <summary>The CA rotation API (`nodefleet ca rotate`), on the same channel.</summary>
    public CaRotation.CaRotationClient CaRotation { get; }

    /// <summary>The channel, for APIs used by one command only.</summary>
    public GrpcChannel Channel => _channel;

    /// <summary>The CLI config this connection was built from.</summary>
    public string ConfigPath { get; }

    /// <summary>The coordinator address in use, as the operator wrote it (config or --coordinator).</summary>
    public string Address { get; }

    public Fleet.FleetClient Client { get; }

    /// <summary>The events API (list and watch), on the same channel.</summary>
    public Events.EventsClient Events { get; }

    /// <summary>The rollouts API (start, follow, pause, resume, abort, roll back), on the same channel.</summary>
    public Rollouts.RolloutsClient Rollouts { get; }

    /// <summary>The Kubernetes clusters API (add, list, remove), on the same channel.</summary>
    public Clusters.ClustersClient Clusters { get; }

    /// <summary>The maintenance windows API (set, list, delete), on the same channel.</summary>
    public Windows.WindowsClient Windows { get; }

    /// <summary>The operator certificates API (issue, list, revoke), on the same channel.</summary>
    public Admins.AdminsClient Admins { get; }

    /// <summary>The coordinators sharing the store (list), on the same channel.</summary>
    public Coordinators.CoordinatorsClient Coordinators { get; }

    /// <summary>Loads the config at <paramref name="path"/>; <paramref name="coordinatorOverride"/> replaces its address.</summary>
    public static CliConnection Open(string path, string? coordinatorOverride)
    {
        var config = ClientConfig.Load(path);
        var address = string.IsNullOrWhiteSpace(coordinatorOverride) ? config.Coordinator : coordinatorOverride.Trim();
        GrpcChannels.ToUri(address); // fail on a bad address here, with its own message, rather than inside the channel
        X509Certificate2Collection ca;
        X509Certificate2 client;
        try
        {
            ca = config.CaCertificates();
            client = config.ClientCertificate();
        }
        catch (Exception e) when (e is ConfigException or CryptographicException)
        {
            // Load has checked them already (and named the line); this is for a file that changed in between.
            throw new CliException($"{path}: {e.Message}");
        }
        return new CliConnection(path, address, ca, client);
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
            throw await TranslateAsync(e, limit, ct);
        }
    }

    /// <summary>
    /// <see cref="Translate"/>, except that a connection the coordinator closed right after the TLS handshake is
    /// looked into: when the coordinator answers the same call made without a client certificate, what it refused
    /// was the certificate of the config, and the message says so (and why, when the certificate shows it).
    /// </summary>
    public async Task<CliException> TranslateAsync(RpcException e, TimeSpan timeout, CancellationToken ct)
    {
        if (!ct.IsCancellationRequested && IsClosedAfterHandshake(e) && await AnswersWithoutClientCertificateAsync(ct))
        {
            return new CliException(
                $"the coordinator at {Address} rejected the client certificate in {ConfigPath}: {RejectionReason(_clientCertificate, _ca, DateTimeOffset.UtcNow, _trust)}",
                StatusCode.Unauthenticated);
        }
        return Translate(e, Address, timeout, ct.IsCancellationRequested);
    }

    /// <summary>Does the coordinator answer (with any status: it will refuse the call) over TLS without a client certificate?</summary>
    private async Task<bool> AnswersWithoutClientCertificateAsync(CancellationToken ct)
    {
        using var channel = GrpcChannels.CreateTrusting(Address, _trust, clientCertificate: null);
        try
        {
            await new Fleet.FleetClient(channel).ListTokensAsync(new ListTokensRequest(),
                new CallOptions(deadline: DateTime.UtcNow + ProbeTimeout, cancellationToken: ct));
            return true;
        }
        catch (RpcException p)
        {
            return !(IsTransportFailure(p) || p.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Cancelled);
        }
    }

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Why a coordinator would refuse this client certificate, as far as the certificate and the config's CA tell.</summary>
    public static string RejectionReason(X509Certificate2 client, X509Certificate2 ca, DateTimeOffset now, X509Certificate2Collection? trust = null)
    {
        if (now > client.NotAfter.ToUniversalTime())
            return $"it expired on {client.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
        if (now < client.NotBefore.ToUniversalTime())
            return $"it is not valid before {client.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC (is this machine's clock right?)";
        if (!Pki.ChainsTo(client, ca, CertificateUsage.Client, now) && !CaBundle.ChainsToAny(client, trust ?? [], CertificateUsage.Client, now))
            return "it is not issued by the fleet's CA (is clientCertificateData from another coordinator's admin.conf?)";
        return "the coordinator does not trust it (was it revoked, by `nodefleet admin revoke`, or the CA replaced since the config was written?)";
    }

    /// <summary>The message an operator sees for a failed call: the server's detail, or what went wrong on the way.</summary>
    public static CliException Translate(RpcException e, string address, TimeSpan timeout, bool cancelledByCaller) => e.StatusCode switch
    {
        // A failed TLS handshake surfaces as Internal ("Error starting gRPC call") and a connect timeout as
        // Cancelled, but both are as much a failure to reach the coordinator as a refused connection.
        StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled when IsTransportFailure(e) =>
            new($"cannot reach the coordinator at {address}: {Lines.OneLine(TransportDetail(e, address))}", StatusCode.Unavailable),
        StatusCode.DeadlineExceeded => new(
            $"the coordinator at {address} did not answer within {Durations.Format(timeout)}", e.StatusCode),
        StatusCode.Cancelled when cancelledByCaller => new("cancelled", e.StatusCode),
        _ => new(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"the coordinator answered {e.StatusCode}" : Lines.OneLine(e.Status.Detail),
            e.StatusCode),
    };

    private static bool IsTransportFailure(RpcException e) =>
        e.StatusCode == StatusCode.Unavailable
        || RpcCauses.Of(e).Any(x => x is HttpRequestException or AuthenticationException or TimeoutException);

    /// <summary>
    /// What a coordinator refusing the client certificate looks like from here: with TLS 1.3 the server's verdict comes
    /// after the client's side of the handshake, so depending on timing the client sees either the connection closed
    /// before the first HTTP/2 frame ("the server did not complete the HTTP/2 handshake", alone or with the closed
    /// stream behind it, or a reset) or the server's TLS alert during the handshake. Any server that drops the
    /// connection or sends an alert looks the same, hence the probe that follows; a certificate this side refused (the
    /// coordinator's) and a connection never made are not candidates.
    /// </summary>
    private static bool IsClosedAfterHandshake(RpcException e)
    {
        if (!IsTransportFailure(e)) return false;
        var causes = RpcCauses.Of(e).ToList();
        // A connection never made (refused, unreachable, timed out) is not a candidate; one reset by the server is:
        // under load the coordinator's close after refusing the certificate can arrive as a reset.
        if (causes.Any(x => x is TimeoutException
                || x is SocketException { SocketErrorCode: not (SocketError.ConnectionReset or SocketError.ConnectionAborted) }))
            return false;
        if (causes.Any(RpcCauses.ServerCertificateRejected))
            return false;
        return causes.Any(x => x is ObjectDisposedException or IOException or AuthenticationException
            || x is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded or HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse }
            // Sometimes alone, as Internal, without an error kind or an inner exception.
            || x is HttpRequestException { Message: var m } && m.Contains("did not complete the HTTP/2 handshake", StringComparison.Ordinal));
    }

    /// <summary>
    /// Grpc.Net.Client's detail for a failed connection is generic ("Error connecting to subchannel.") or a list of
    /// .NET exceptions; the innermost exception says why (connection refused, certificate rejected, name not resolved).
    /// </summary>
    private static string TransportDetail(RpcException e, string address)
    {
        var causes = RpcCauses.Of(e).ToList();
        var innermost = causes.LastOrDefault();
        if (innermost is not null && RpcCauses.ServerCertificateRejected(innermost))
        {
            return $"TLS handshake failed: the coordinator's certificate is not issued by the CA in the config or is not valid for {address}";
        }
        if (innermost is AuthenticationException { Message: var m } && m.Contains("frame size", StringComparison.Ordinal))
        {
            // What SslStream says when the answer to its hello is not TLS at all: plain HTTP, such as /metrics.
            return $"TLS handshake failed: {address} did not answer in TLS (is it the coordinator's plain-HTTP metrics " +
                   "port, 7444 by default? The API listens on 7443 by default)";
        }
        if (innermost is AuthenticationException) return $"TLS handshake failed: {innermost.Message}";
        if (innermost is TimeoutException) return innermost.Message;
        if (innermost is SocketException socket)
        {
            return string.IsNullOrWhiteSpace(e.Status.Detail) || e.StatusCode != StatusCode.Unavailable
                ? socket.Message
                : $"{e.Status.Detail.TrimEnd('.')}: {socket.Message}";
        }
        if (causes.Any(x => x is ObjectDisposedException or IOException or HttpRequestException))
        {
            // Closed by the other side during or right after the handshake, and it did answer without a client
            // certificate either (else TranslateAsync would have said the certificate was refused).
            return "the connection was closed during the TLS/HTTP/2 handshake (is it a NodeFleet coordinator's gRPC port? " +
                   "is it overloaded? was the client certificate of the config refused?)";
        }
        var detail = e.Status.Detail;
        if (innermost is null || string.IsNullOrWhiteSpace(innermost.Message)) return detail;
        if (e.StatusCode != StatusCode.Unavailable || string.IsNullOrWhiteSpace(detail)) return innermost.Message;
        return $"{detail.TrimEnd('.')}: {innermost.Message}";
    }

    public void Dispose()
    {
        _channel.Dispose();
        _clientCertificate.Dispose();
        foreach (var c in _trust) c.Dispose();
    }
}
