using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// A man in the middle between the agent and the real coordinator alters the discovery answer; the agent must
/// refuse to trust what it gets. The interceptor is a fake coordinator endpoint, in-process, at the gRPC boundary.
/// </summary>
public sealed class TamperedDiscoveryTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    public enum Tampering { FlipSignature, SwapCa }

    /// <summary>Forwards Discover to the real coordinator and alters the answer.</summary>
    private sealed class TamperingBootstrap(string upstream, Tampering mode) : Bootstrap.BootstrapBase
    {
        public override async Task<DiscoverResponse> Discover(DiscoverRequest request, ServerCallContext context)
        {
            using var channel = GrpcChannels.Create(upstream, null, null);
            var real = await new Bootstrap.BootstrapClient(channel).DiscoverAsync(request);
            if (mode == Tampering.FlipSignature)
            {
                var sig = real.Jws[^4..];
                real.Jws = real.Jws[..^4] + new string(sig.Select(c => c == 'A' ? 'B' : 'A').ToArray());
            }
            else
            {
                using var key = Pki.NewKey();
                using var evil = Pki.CreateCa(key, "nodefleet-ca", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
                real.CaCertificatePem = evil.ExportCertificatePem();
            }
            return real;
        }
    }

    [Theory]
    [InlineData(Tampering.FlipSignature)]
    [InlineData(Tampering.SwapCa)]
    public async Task Agent_refuses_a_tampered_discovery_answer(Tampering mode)
    {
        var port = Proc.FreePort();
        using var key = Pki.NewKey();
        using var selfCa = Pki.CreateCa(key, "mitm", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        using var servingKey = Pki.NewKey();
        using var serving = Pki.IssueServing(selfCa, key, servingKey, "mitm", ["127.0.0.1"], TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        using var servingWithKey = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.CopyWithPrivateKey(serving, servingKey);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new TamperingBootstrap(_cluster.Address, mode));
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(servingWithKey);
        }));
        await using var app = builder.Build();
        app.MapGrpcService<TamperingBootstrap>();
        await app.StartAsync();

        var (token, hash) = await _cluster.CreateTokenAsync();
        var agent = _cluster.NewAgent("victim");
        var r = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "victim", $"127.0.0.1:{port}"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is not signed with token", r.StdErr);
        Assert.False(File.Exists(agent.HostPath("/etc/nodefleet/pki/ca.crt")));
        Assert.Null(await _cluster.NodeAsync("victim"));
    }
}
