using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public class GrpcChannelsTests
{
    /// <summary>
    /// A TLS server on loopback presenting <paramref name="serverCertificate"/>; the channel calls it as the coordinator
    /// at 127.0.0.1. Returns how the call ended and whether the client went on to talk to it.
    /// </summary>
    private static async Task<(RpcException Error, bool ClientTalked)> CallServerPresenting(X509Certificate2 serverCertificate,
        X509Certificate2 ca)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            await using var tls = new SslStream(client.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = serverCertificate,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                });
                // Under TLS 1.3 the server's side is done before the client has checked the certificate: what
                // tells is whether the client goes on to speak HTTP/2 (its connection preface) or gives up.
                var preface = new byte[24];
                await tls.ReadExactlyAsync(preface);
                return System.Text.Encoding.ASCII.GetString(preface).StartsWith("PRI * HTTP/2.0", StringComparison.Ordinal);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or EndOfStreamException) { return false; }
        });
        using var channel = GrpcChannels.Create($"127.0.0.1:{port}", ca, null);
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            new Bootstrap.BootstrapClient(channel).DiscoverAsync(new DiscoverRequest(), deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);
        return (error, await server.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_node_certificate_of_the_fleet_ca_named_like_the_coordinator_is_not_accepted_as_the_coordinator()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(10), now);

        // The control: with the coordinator's own serving certificate for 127.0.0.1 the client goes on to HTTP/2.
        using var servingKey = Pki.NewKey();
        using var serving = Pki.IssueServing(ca, caKey, servingKey, "nodefleet-coordinator", ["127.0.0.1"], TimeSpan.FromDays(1), now);
        using var servingWithKey = serving.CopyWithPrivateKey(servingKey);
        var (_, servingAccepted) = await CallServerPresenting(servingWithKey, ca);
        Assert.True(servingAccepted);

        // A node that joined with the name 127.0.0.1 holds a certificate of the same CA whose CN is that address.
        using var nodeKey = Pki.NewKey();
        using var node = Pki.IssueClient(ca, caKey, new PublicKey(nodeKey), "127.0.0.1", Roles.Nodes, TimeSpan.FromDays(1), now);
        using var nodeWithKey = node.CopyWithPrivateKey(nodeKey);
        var (error, nodeAccepted) = await CallServerPresenting(nodeWithKey, ca);
        Assert.False(nodeAccepted);
        Assert.Contains(Causes(error.Status.DebugException), e => e is AuthenticationException);
    }

    private static IEnumerable<Exception> Causes(Exception? e)
    {
        for (; e is not null; e = e.InnerException) yield return e;
    }

    [Theory]
    [InlineData("host:7443", "host", 7443)]
    [InlineData("10.0.0.1:1", "10.0.0.1", 1)]
    [InlineData("host", "host", 7443)]
    [InlineData("coordinator.example.com", "coordinator.example.com", 7443)]
    [InlineData("10.0.0.1", "10.0.0.1", 7443)]
    [InlineData("[::1]:7443", "[::1]", 7443)]
    [InlineData("[::1]:9000", "[::1]", 9000)]
    [InlineData("[::1]", "[::1]", 7443)]
    [InlineData("::1", "[::1]", 7443)]
    [InlineData("fd00::5", "[fd00::5]", 7443)]
    [InlineData("https://host:8443", "host", 8443)]
    public void ToUri_gives_an_https_uri_with_the_default_port_7443(string address, string host, int port)
    {
        var uri = GrpcChannels.ToUri(address);
        Assert.Equal("https", uri.Scheme);
        Assert.Equal(host, uri.Host);
        Assert.Equal(port, uri.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("host:port")]
    [InlineData("host:99999")]
    [InlineData("host:-1")]
    [InlineData("ho st:7443")]
    [InlineData("host:")]
    public void ToUri_refuses_bad_addresses(string address)
    {
        Assert.Throws<FormatException>(() => GrpcChannels.ToUri(address));
    }
}
