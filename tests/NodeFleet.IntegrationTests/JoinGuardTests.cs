using Grpc.Core;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.IntegrationTests;

/// <summary>Guessing join secrets over the wire: each refusal logged with its source and counted, the source slowed, the token locked.</summary>
public sealed class JoinGuardTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Ten_wrong_secrets_lock_the_token_and_slow_the_source()
    {
        var (token, hash) = await _cluster.CreateTokenAsync();
        var id = token[..6];
        using var channel = GrpcChannels.Create(_cluster.Address, null, null);
        var client = new Bootstrap.BootstrapClient(channel);
        using var key = Pki.NewKey();
        for (var i = 0; i < 10; i++)
        {
            var guess = new JoinRequest { Token = $"{id}.{i:D16}", NodeName = "intruder", CsrPem = Pki.CreateCsrPem(key, "intruder") };
            var e = await Assert.ThrowsAsync<RpcException>(() => client.JoinAsync(guess).ResponseAsync);
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        }

        // The source waits out its refusals: refused at once, saying for how long.
        var throttled = await Assert.ThrowsAsync<RpcException>(() => client.DiscoverAsync(new DiscoverRequest { TokenId = id }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, throttled.StatusCode);
        Assert.Contains("too many refused join attempts from 127.0.0.1", throttled.Status.Detail);

        var log = _cluster.Coordinator!.Output;
        Assert.Contains($"Refused join from 127.0.0.1 (token {id})", log.Replace("\"", ""));
        Assert.Contains($"Token {id} locked after 10 joins with a wrong secret", log.Replace("\"", ""));
        var metrics = await new HttpClient().GetStringAsync($"{_cluster.MetricsUrl}/metrics");
        Assert.Contains("nodefleet_join_refusals_total{call=\"join\"} 10", metrics);
        Assert.Contains("nodefleet_join_refusals_total{call=\"throttled\"} 1", metrics);

        // The token is locked for good, even with its right secret once the source may try again.
        await Task.Delay(JoinGuardWindow);
        var r = await _cluster.NewAgent("late").JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "late", _cluster.Address]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"token {id} was locked", r.StdErr);
    }

    private static readonly TimeSpan JoinGuardWindow = TimeSpan.FromSeconds(61);
}
