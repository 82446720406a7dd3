using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Security;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Idle TLS buffers released on a real OpenSSL connection over loopback; data still flows both ways after.</summary>
public sealed class TlsIdleBuffersTests
{
    [Fact]
    public async Task The_mode_is_set_on_a_real_server_connection_and_records_still_flow_both_ways()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "test-ca", TimeSpan.FromDays(1), now);
        using var key = Pki.NewKey();
        using var issued = Pki.IssueServing(ca, caKey, key, "localhost", ["localhost", "127.0.0.1"], TimeSpan.FromDays(1), now);
        using var serving = issued.CopyWithPrivateKey(key);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serverSide = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            await using var ssl = new SslStream(socket.GetStream());
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = serving });
            var applied = TlsIdleBuffers.TryApply(ssl);
            // Several records each way after the buffers may have been released between them.
            var buffer = new byte[40_000];
            for (var round = 0; round < 5; round++)
            {
                var read = 0;
                while (read < buffer.Length) read += await ssl.ReadAsync(buffer.AsMemory(read));
                Assert.All(buffer, b => Assert.Equal((byte)round, b));
                await ssl.WriteAsync(buffer);
            }
            return applied;
        });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var clientSsl = new SslStream(client.GetStream());
        await clientSsl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, c, _, _) => c is X509Certificate2 cert && cert.Thumbprint == issued.Thumbprint,
        });
        for (var round = 0; round < 5; round++)
        {
            var data = Enumerable.Repeat((byte)round, 40_000).ToArray();
            await clientSsl.WriteAsync(data);
            var echo = new byte[data.Length];
            var read = 0;
            while (read < echo.Length) read += await clientSsl.ReadAsync(echo.AsMemory(read));
            Assert.Equal(data, echo);
        }

        Assert.True(await serverSide, $"not applied: {TlsIdleBuffers.Unavailable}");
        Assert.Null(TlsIdleBuffers.Unavailable);
        Assert.True(TlsIdleBuffers.Applied > 0);
    }
}
