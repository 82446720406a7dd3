using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>mTLS identities: who may call what, from the certificate only.</summary>
public sealed class AuthorizationTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static X509Certificate2 NodeCertificate(TestAgent agent)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(agent.HostPath("/etc/nodefleet/pki/node.key")));
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(agent.HostPath("/etc/nodefleet/pki/node.crt")));
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// Says hello on an agent stream and returns the status the coordinator ended it with. The server may refuse
    /// before the hello is written (the write then fails on the reset stream); the status is read from the response.
    /// </summary>
    private static async Task<RpcException> RefusedStreamAsync(AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> call)
    {
        try { await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello() }); }
        catch (RpcException) { }
        catch (InvalidOperationException) { }
        return await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
    }

    private X509Certificate2 Ca() => ClientConfig.Load(_cluster.AdminConf).CaCertificate();

    [Fact]
    public async Task Node_certificate_is_refused_on_the_operator_api()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("n1");
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), NodeCertificate(agent));
        var fleet = new Fleet.FleetClient(channel);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await fleet.ListNodesAsync(new ListNodesRequest()));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("admin certificate", e.Status.Detail);
        var t = await Assert.ThrowsAsync<RpcException>(async () => await fleet.CreateTokenAsync(new CreateTokenRequest()));
        Assert.Equal(StatusCode.PermissionDenied, t.StatusCode);
    }

    [Fact]
    public async Task No_client_certificate_is_refused_on_operator_and_agent_apis()
    {
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), null);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Fleet.FleetClient(channel).ListNodesAsync(new ListNodesRequest()));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);

        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        var s = await RefusedStreamAsync(call);
        Assert.Equal(StatusCode.Unauthenticated, s.StatusCode);
    }

    [Fact]
    public async Task Admin_certificate_cannot_act_as_a_node()
    {
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), ClientConfig.Load(_cluster.AdminConf).ClientCertificate());
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        var e = await RefusedStreamAsync(call);
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
    }

    [Fact]
    public async Task Certificate_from_another_ca_is_refused_at_the_tls_handshake()
    {
        using var otherKey = NodeFleet.Security.Pki.NewKey();
        using var otherCa = NodeFleet.Security.Pki.CreateCa(otherKey, "other", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        using var key = NodeFleet.Security.Pki.NewKey();
        using var forged = NodeFleet.Security.Pki.IssueClient(otherCa, otherKey, new PublicKey(key), "admin",
            NodeFleet.Security.Roles.Admins, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        using var withKey = forged.CopyWithPrivateKey(key);
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), withKey);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Fleet.FleetClient(channel).ListNodesAsync(new ListNodesRequest(), deadline: DateTime.UtcNow.AddSeconds(10)));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    [Fact]
    public async Task Deleted_node_is_disconnected_and_cannot_reconnect()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("gone");
        var cert = NodeCertificate(agent);
        await _cluster.CliOkAsync("node", "delete", "gone");
        Assert.Null(await _cluster.NodeAsync("gone"));

        // The running agent is cut off and told why when it tries again.
        await agent.Run!.WaitForOutputAsync("not registered", TimeSpan.FromSeconds(30));
        Assert.Null(await _cluster.NodeAsync("gone"));

        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), cert);
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        var e = await RefusedStreamAsync(call);
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
    }
}
