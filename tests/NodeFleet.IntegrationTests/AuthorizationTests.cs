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
        // Cluster credentials are the operator's: a node may neither list nor add clusters.
        var clusters = new NodeFleet.Protocol.V1.Clusters.ClustersClient(channel);
        var c = await Assert.ThrowsAsync<RpcException>(async () => await clusters.ListAsync(new ListClustersRequest()));
        Assert.Equal(StatusCode.PermissionDenied, c.StatusCode);
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

    /// <summary>The cluster's admin.conf with another client certificate and key; its path.</summary>
    private string ConfigWithClient(X509Certificate2 certificate, ECDsa key)
    {
        var config = ClientConfig.Load(_cluster.AdminConf);
        config.ClientCertificateData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));
        config.ClientKeyData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
        var path = Path.Combine(_cluster.Scratch, $"client-{Guid.NewGuid():N}.conf");
        config.Save(path);
        return path;
    }

    private static void AssertOneLine(ProcResult r, string expectedStart)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.DoesNotContain("Unhandled exception", r.All);
        Assert.DoesNotContain("   at ", r.All);
        Assert.DoesNotContain("Exception", r.All);
        Assert.DoesNotContain("System.", r.All);
        Assert.Single(r.StdErr.TrimEnd('\n').Split('\n'));
        Assert.True(r.StdErr.StartsWith(expectedStart, StringComparison.Ordinal), $"expected stderr to start with: {expectedStart}\n{r}");
    }

    // It used to be "cannot reach the coordinator…: Error starting gRPC call. HttpRequestException: … HTTP/2 handshake.
    // ObjectDisposedException: … SslStream" over three lines.
    [Fact]
    public async Task The_cli_says_when_the_coordinator_rejects_its_client_certificate()
    {
        using var otherKey = NodeFleet.Security.Pki.NewKey();
        using var otherCa = NodeFleet.Security.Pki.CreateCa(otherKey, "other", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        using var key = NodeFleet.Security.Pki.NewKey();
        using var forged = NodeFleet.Security.Pki.IssueClient(otherCa, otherKey, new PublicKey(key), "admin",
            NodeFleet.Security.Roles.Admins, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        var config = ConfigWithClient(forged, key);
        var expected = $"error: the coordinator at {_cluster.Address} rejected the client certificate in {config}: " +
                       "it is not issued by the fleet's CA (is clientCertificateData from another coordinator's admin.conf?)\n";
        foreach (var command in new[] { new[] { "nodes" }, ["token", "list"], ["events", "-f"], ["rollout", "list"] })
        {
            var r = await Proc.RunAsync(Binaries.Cli, ["--config", config, .. command]);
            AssertOneLine(r, "error: the coordinator at ");
            Assert.Equal(expected, r.StdErr);
        }

        // An admin certificate of this fleet's own CA that has expired: the same refusal, and why.
        using var caKey = ECDsa.Create();
        caKey.ImportFromPem(File.ReadAllText(Path.Combine(_cluster.DataDir, "pki", "ca.key")));
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_cluster.DataDir, "pki", "ca.crt")));
        using var expiredKey = NodeFleet.Security.Pki.NewKey();
        using var expired = NodeFleet.Security.Pki.IssueClient(ca, caKey, new PublicKey(expiredKey), "admin",
            NodeFleet.Security.Roles.Admins, TimeSpan.FromMinutes(1), DateTimeOffset.UtcNow.AddHours(-1));
        var old = await Proc.RunAsync(Binaries.Cli, ["--config", ConfigWithClient(expired, expiredKey), "nodes"]);
        AssertOneLine(old, $"error: the coordinator at {_cluster.Address} rejected the client certificate in ");
        Assert.Contains(": it expired on ", old.StdErr);

        // The control: this fleet's admin.conf is not refused.
        await _cluster.CliOkAsync("nodes");
    }

    [Fact]
    public async Task A_port_that_is_not_the_coordinators_is_one_line_and_not_a_certificate_rejection()
    {
        // The metrics port speaks plain HTTP/1.1: the TLS handshake fails, which is not about the client certificate.
        var r = await Proc.RunAsync(Binaries.Cli, ["--config", _cluster.AdminConf, "--coordinator", $"127.0.0.1:{_cluster.MetricsPort}", "nodes"]);
        AssertOneLine(r, $"error: cannot reach the coordinator at 127.0.0.1:{_cluster.MetricsPort}: TLS handshake failed: " +
            $"127.0.0.1:{_cluster.MetricsPort} did not answer in TLS (is it the coordinator's plain-HTTP metrics port");
        Assert.DoesNotContain("client certificate", r.StdErr);
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

        // Its certificate went on the deny list with the deletion: refused at the TLS handshake, and logged naming it.
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), cert);
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        // A TLS 1.3 client learns of the refusal at its first write or its first read, as an RpcException or the HTTP/2
        // connection's IOException, depending on timing; the coordinator's log line below proves the deny list refused it.
        var refused = await Record.ExceptionAsync(async () =>
        {
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello() });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.True(refused is RpcException { StatusCode: not StatusCode.OK } or IOException or InvalidOperationException, $"the stream was not refused: {refused}");
        await _cluster.Coordinator!.WaitForOutputAsync($"Refused the revoked certificate {cert.SerialNumber} of nodefleet:nodes gone",
            TimeSpan.FromSeconds(10));
    }
}
