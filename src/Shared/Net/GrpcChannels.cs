using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using NodeFleet.Security;

namespace NodeFleet.Net;

/// <summary>Builds gRPC channels to the coordinator with a pinned CA and an optional client certificate.</summary>
public static class GrpcChannels
{
    /// <summary>
    /// A TLS channel that trusts only <paramref name="ca"/> (not the system store) and checks the server's name.
    /// With <paramref name="ca"/> null the server certificate is NOT verified: only for discovery, whose answer is
    /// authenticated afterwards by the token signature and the CA pin.
    /// With <paramref name="keepAlivePings"/> false the channel sends no HTTP/2 keep-alive pings: for the agent's
    /// stream, whose heartbeats already prove the connection alive both ways (a ping every 30 s from each of 10,000
    /// agents would cost the coordinator more than their heartbeats, which may be 50 s apart in a fleet that size).
    /// </summary>
    public static GrpcChannel Create(string address, X509Certificate2? ca, X509Certificate2? clientCertificate,
        TimeProvider? time = null, bool keepAlivePings = true) =>
        CreateTrusting(address, ca is null ? null : new X509Certificate2Collection(ca), clientCertificate, time, keepAlivePings);

    /// <summary>As above, trusting any CA of <paramref name="trust"/> (a trust bundle, during a CA rotation).</summary>
    public static GrpcChannel CreateTrusting(string address, X509Certificate2Collection? trust, X509Certificate2? clientCertificate,
        TimeProvider? time = null, bool keepAlivePings = true)
    {
        var clock = time ?? TimeProvider.System;
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = keepAlivePings ? TimeSpan.FromSeconds(30) : Timeout.InfiniteTimeSpan,
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (trust is null) return true;
                    if (cert is null) return false;
                    if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                    using var leaf = new X509Certificate2(cert);
                    return CaBundle.ChainsToAny(leaf, trust, CertificateUsage.Server, clock.GetUtcNow());
                },
            },
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = new X509CertificateCollection { clientCertificate };
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return GrpcChannel.ForAddress(ToUri(address), new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MessageLimits.MaxResponseBytes,
            MaxSendMessageSize = MessageLimits.MaxRequestBytes,
        });
    }

    /// <summary>"host:port" (or a URL) to an https URI; a bare host gets the default port 7443.</summary>
    public static Uri ToUri(string address)
    {
        if (string.IsNullOrWhiteSpace(address)) throw new FormatException("coordinator address is empty");
        if (address.Contains("://", StringComparison.Ordinal)) return new Uri(address);
        var hasPort = address.StartsWith('[') ? address.Contains("]:", StringComparison.Ordinal)
            : address.Count(c => c == ':') == 1;
        if (!hasPort) address = address.Contains(':') && !address.StartsWith('[') ? $"[{address}]:7443" : $"{address}:7443";
        var port = address[(address.LastIndexOf(':') + 1)..];
        if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            throw new FormatException($"coordinator address '{address}': port '{port}' is not a number from 1 to 65535");
        if (!Uri.TryCreate($"https://{address}", UriKind.Absolute, out var uri))
            throw new FormatException($"coordinator address '{address}' is not HOST:PORT");
        return uri;
    }
}
