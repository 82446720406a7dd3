using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// A coordinator whose node and serving certificates live a minute (the shortest the settings allow), so that renewal
/// and expiry happen within a test. One per test class: the classes run side by side.
/// </summary>
public sealed class ShortCertificatesCluster : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await TestCluster.StartAsync("1s",
        "--node-certificate-lifetime", "1m", "--serving-certificate-lifetime", "1m");

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>How many streams of <paramref name="node"/> the coordinator accepted (its "connected" log lines).</summary>
    public int Connects(string node) => Regex.Count(Cluster.Coordinator!.Output, $@"Node {Regex.Escape(node)} connected from");

    public async Task<double> MetricAsync(string series)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"{Cluster.MetricsUrl}/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
                   ?? throw new InvalidOperationException($"no {series} in /metrics:\n{text}");
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Waits until the coordinator's output holds <paramref name="text"/> at least <paramref name="count"/> times.</summary>
    public async Task WaitForCountAsync(string text, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Regex.Count(Cluster.Coordinator!.Output, Regex.Escape(text)) < count)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"'{text}' not seen {count} times in {timeout.TotalSeconds:0}s; coordinator output:\n{Cluster.Coordinator.Output}");
            await Task.Delay(200);
        }
    }
}

/// <summary>Renewal: node certificates over the live stream, the serving certificate in place; nothing reconnects.</summary>
public sealed class CertificateRenewalTests(ShortCertificatesCluster fixture) : IClassFixture<ShortCertificatesCluster>
{
    private TestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Node_certificates_renew_over_the_live_stream_with_no_reconnect_and_every_report_recorded_once()
    {
        var agent = await Cluster.JoinedOnlineAgentAsync("renewing");
        var firstSerial = (await Cluster.NodeAsync("renewing"))!.Value.GetProperty("certificateSerial").GetString();
        var keyBefore = await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.key"));

        await fixture.WaitForCountAsync("Renewed the certificate of node renewing", 1, TimeSpan.FromSeconds(90));
        // A plan run while certificates change under the stream: its reports all arrive, each once.
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var plan = Path.Combine(Cluster.Scratch, "renewal-plan.yaml");
        await File.WriteAllTextAsync(plan, AgentApplyTests.Plan);
        await Cluster.CliOkAsync("plan", "apply", plan, "--node", "renewing", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        await fixture.WaitForCountAsync("Renewed the certificate of node renewing", 3, TimeSpan.FromSeconds(240));

        Assert.Equal(1, fixture.Connects("renewing"));
        Assert.DoesNotContain("Stream to the coordinator broke", agent.Run!.Output);
        Assert.Equal(0, await fixture.MetricAsync("nodefleet_reports_total{outcome=\"duplicate\"}"));
        Assert.True(await fixture.MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}") > 0);

        // Recorded on the node: a new serial, the renewal time; on disk, a new key (0600) and the certificate served.
        var node = (await Cluster.NodeAsync("renewing"))!.Value;
        Assert.NotEqual(firstSerial, node.GetProperty("certificateSerial").GetString());
        Assert.NotEqual(keyBefore, await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(agent.HostPath("/etc/nodefleet/pki/node.key")));
        using (var onDisk = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.crt"))))
            Assert.Equal(node.GetProperty("certificateSerial").GetString(), onDisk.SerialNumber);
        var describe = await Cluster.CliOkAsync("node", "describe", "renewing");
        Assert.Contains("Renewed", describe);
        Assert.Contains("CertificateRenewed", describe);
        Assert.Contains("succeeded", describe, StringComparison.OrdinalIgnoreCase);
        var wide = await Cluster.CliOkAsync("nodes", "-o", "wide");
        Assert.Contains("CERT EXPIRES", wide);

        // The next handshake uses the renewed certificate, and the coordinator accepts it.
        await agent.Run.KillHardAsync();
        await agent.Run.DisposeAsync();
        agent.StartRun();
        await fixture.WaitForCountAsync("Node renewing connected from", 2, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task The_serving_certificate_is_renewed_and_served_while_agents_stay_connected()
    {
        var agent = await Cluster.JoinedOnlineAgentAsync("steady");
        var connects = fixture.Connects("steady");
        var renewals = Regex.Count(Cluster.Coordinator!.Output, "Renewed the serving certificate");
        await fixture.WaitForCountAsync("Renewed the serving certificate", renewals + 1, TimeSpan.FromSeconds(90));

        // A new handshake gets the certificate now on disk, which is the renewed one.
        using var onDisk = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(Cluster.DataDir, "pki", "serving.crt")));
        using var served = await ServedCertificateAsync(Cluster.Port);
        Assert.Equal(onDisk.SerialNumber, served.SerialNumber);
        await Cluster.CliOkAsync("nodes");

        Assert.Equal(connects, fixture.Connects("steady"));
        Assert.Equal("NODE_STATUS_ONLINE", await Cluster.NodeStatusAsync("steady"));
        Assert.DoesNotContain("Stream to the coordinator broke", agent.Run!.Output);
    }

    private static async Task<X509Certificate2> ServedCertificateAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        });
        return new X509Certificate2(tls.RemoteCertificate!);
    }
}

/// <summary>Refusals: an expired certificate with the way out, a revoked node at once and at its reconnect.</summary>
public sealed class CertificateRefusalTests(ShortCertificatesCluster fixture) : IClassFixture<ShortCertificatesCluster>
{
    private TestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task An_agent_offline_past_its_certificate_expiry_is_refused_and_told_to_join_again()
    {
        var agent = await Cluster.JoinedOnlineAgentAsync("sleeper");
        await agent.Run!.KillHardAsync();
        await agent.Run.DisposeAsync();
        using (var cert = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.crt"))))
        {
            var wait = cert.NotAfter.ToUniversalTime() - DateTime.UtcNow + TimeSpan.FromSeconds(2);
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
        }

        agent.StartRun();
        await agent.Run.WaitForOutputAsync("join the node again with a token", TimeSpan.FromSeconds(30));
        Assert.Contains("refused this node", agent.Run.Output);
        await Cluster.Coordinator!.WaitForOutputAsync("Refused nodefleet:nodes sleeper: its certificate", TimeSpan.FromSeconds(10));
        Assert.Contains("expired", Cluster.Coordinator.Output);
        var status = await agent.StatusAsync();
        Assert.Contains("EXPIRED", status.StdOut);
        Assert.Contains("join again", status.StdOut);
        // Nothing else broke: the operator API answers, and a fresh join brings the node back.
        var (token, hash) = await Cluster.CreateTokenAsync();
        await agent.Run.KillHardAsync();
        await agent.Run.DisposeAsync();
        Assert.Equal(0, (await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "sleeper", Cluster.Address])).ExitCode);
        agent.StartRun();
        await Cluster.WaitForStatusAsync("sleeper", "NODE_STATUS_ONLINE", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Revoke_closes_the_stream_refuses_the_reconnect_and_only_a_new_join_brings_the_node_back()
    {
        var agent = await Cluster.JoinedOnlineAgentAsync("rogue");
        var serial = (await Cluster.NodeAsync("rogue"))!.Value.GetProperty("certificateSerial").GetString()!;

        var revoke = await Cluster.CliOkAsync("node", "revoke", "rogue", "--reason", "key leaked");
        Assert.Contains(serial, revoke);
        // The agent hears why its stream ended, and its reconnect fails at the handshake.
        await agent.Run!.WaitForOutputAsync("node rogue was revoked", TimeSpan.FromSeconds(10));
        Assert.Equal("NODE_STATUS_OFFLINE", await Cluster.NodeStatusAsync("rogue"));
        await Cluster.Coordinator!.WaitForOutputAsync($"Refused the revoked certificate {serial} of nodefleet:nodes rogue", TimeSpan.FromSeconds(30));
        Assert.Equal(1, fixture.Connects("rogue"));

        var describe = await Cluster.CliOkAsync("node", "describe", "rogue");
        Assert.Contains("Revoked", describe);
        Assert.Contains("key leaked", describe);
        Assert.Contains("revoked", await Cluster.CliOkAsync("nodes", "-o", "wide"));

        // A join with a token gives a new certificate, not on the list.
        await agent.Run.KillHardAsync();
        await agent.Run.DisposeAsync();
        var (token, hash) = await Cluster.CreateTokenAsync();
        Assert.Equal(0, (await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "rogue", Cluster.Address])).ExitCode);
        agent.StartRun();
        await Cluster.WaitForStatusAsync("rogue", "NODE_STATUS_ONLINE", TimeSpan.FromSeconds(30));
        Assert.NotEqual(serial, (await Cluster.NodeAsync("rogue"))!.Value.GetProperty("certificateSerial").GetString());
    }
}
