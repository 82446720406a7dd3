using System.Text.Json;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Security;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// `nodefleet ca rotate` across five real agents, one of them stopped during reissue: every node ends on the new CA over
/// its stream (the stopped one when it returns), none is lost, finish waits for an operator to renew its config, and
/// after finish the old CA is refused.
/// </summary>
public sealed class CaRotationTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<Dictionary<string, string>> NodeStatesAsync()
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync("ca", "rotate", "status", "-o", "json"));
        var states = new Dictionary<string, string>();
        if (doc.RootElement.TryGetProperty("nodes", out var nodes))
        {
            foreach (var n in nodes.EnumerateArray()) states[n.GetProperty("name").GetString()!] = n.GetProperty("state").GetString()!;
        }
        return states;
    }

    private static int TrustedCas(TestAgent agent) =>
        CaBundle.Parse(File.ReadAllText(agent.HostPath("/etc/nodefleet/pki/ca.crt"))).Count;

    [Fact]
    public async Task A_rotation_moves_five_agents_to_the_new_ca_with_one_offline_during_reissue_and_the_old_ca_is_refused_after_finish()
    {
        var agents = new List<TestAgent>();
        for (var i = 1; i <= 5; i++) agents.Add(await _cluster.JoinedOnlineAgentAsync($"rot-n{i}"));
        var (_, oldHash) = await _cluster.CreateTokenAsync();
        var oldConfig = Path.Combine(_cluster.Scratch, "old-admin.conf");
        File.Copy(_cluster.AdminConf, oldConfig);
        // Another operator, whose config is not the one running the rotation: it must renew before finish.
        var opsConfig = Path.Combine(_cluster.Scratch, "ops.conf");
        await _cluster.CliOkAsync("admin", "issue", "rot-ops", "--role", "operator", "-o", opsConfig);

        // start: a new CA, trusted by every agent (over its stream) and by this CLI config; new joins pin it.
        var start = await _cluster.CliOkAsync("ca", "rotate", "start");
        Assert.Contains("Phase:          started", start);
        var (_, joinHash) = await _cluster.CreateTokenAsync();
        Assert.NotEqual(oldHash, joinHash);
        Assert.Contains(joinHash, start);
        Assert.Equal(2, ClientConfig.Load(_cluster.AdminConf).CaCertificates().Count);
        await Proc.WaitUntilAsync(() => Task.FromResult(agents.All(a => TrustedCas(a) == 2)), TimeSpan.FromSeconds(30),
            "every agent to trust both CAs");
        var twice = await _cluster.CliAsync("ca", "rotate", "start");
        Assert.NotEqual(0, twice.ExitCode);
        Assert.Contains("already under way", twice.StdErr);

        // reissue, with rot-n5 stopped: the four others renew from the new CA over their streams.
        var offline = agents[4];
        await offline.Run!.DisposeAsync();
        await _cluster.WaitForStatusAsync("rot-n5", "NODE_STATUS_OFFLINE", TimeSpan.FromSeconds(60));
        var reissue = await _cluster.CliAsync("ca", "rotate", "reissue");
        Assert.True(reissue.ExitCode == 0, reissue.ToString());
        Assert.Contains("renewed its certificate from the new CA", reissue.StdErr);
        // What it prints is the rotation after that renewal: the operator who ran it is no longer on the old CA, rot-ops is.
        Assert.Matches(@"(?m)^rot-ops\s+operator", reissue.StdOut);
        Assert.DoesNotMatch(@"(?m)^admin\s+admin", reissue.StdOut);
        await Proc.WaitUntilAsync(async () =>
            {
                var s = await NodeStatesAsync();
                return Enumerable.Range(1, 4).All(i => s[$"rot-n{i}"] == "done");
            }, TimeSpan.FromSeconds(60), "rot-n1..4 to renew from the new CA");
        Assert.Equal("offline", (await NodeStatesAsync())["rot-n5"]);

        // finish is refused while rot-n5 holds a certificate of the old CA, and names it.
        var refused = await _cluster.CliAsync("ca", "rotate", "finish");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("rot-n5", refused.StdErr);

        // rot-n5 returns and catches up.
        offline.StartRun();
        await Proc.WaitUntilAsync(async () => (await NodeStatesAsync())["rot-n5"] == "done", TimeSpan.FromSeconds(60),
            "rot-n5 to renew from the new CA when it returns");

        // Every node is done, but rot-ops still holds only a certificate of the old CA: named by status and finish
        // until it renews with its own config.
        Assert.Contains("rot-ops", await _cluster.CliOkAsync("ca", "rotate", "status"));
        var operatorLeft = await _cluster.CliAsync("ca", "rotate", "finish");
        Assert.NotEqual(0, operatorLeft.ExitCode);
        Assert.Contains("rot-ops (operator", operatorLeft.StdErr);
        Assert.Contains("nodefleet admin renew", operatorLeft.StdErr);
        var renew = await Proc.RunAsync(Binaries.Cli, ["--config", opsConfig, "admin", "renew"]);
        Assert.True(renew.ExitCode == 0, renew.ToString());

        var finish = await _cluster.CliOkAsync("ca", "rotate", "finish");
        Assert.Contains("Phase:          none", finish);
        Assert.Single(ClientConfig.Load(_cluster.AdminConf).CaCertificates());
        await Proc.WaitUntilAsync(() => Task.FromResult(agents.All(a => TrustedCas(a) == 1)), TimeSpan.FromSeconds(30),
            "every agent to trust only the new CA");
        var renewedOps = await Proc.RunAsync(Binaries.Cli, ["--config", opsConfig, "nodes"]);
        Assert.True(renewedOps.ExitCode == 0, renewedOps.ToString());

        // Every node reconnects with its new certificate to the coordinator's new serving certificate: none lost.
        await _cluster.KillCoordinatorAsync();
        await _cluster.StartCoordinatorAsync();
        foreach (var a in agents) await _cluster.Coordinator!.WaitForOutputAsync($"Node {a.Name} connected", TimeSpan.FromSeconds(60));
        Assert.DoesNotContain("Refused", _cluster.Coordinator!.Output);
        Assert.Equal(5, (await NodeStatesAsync()).Values.Count(s => s == "done"));

        // A certificate of the old CA is refused, even from a config that trusts the new CA.
        var old = ClientConfig.Load(oldConfig);
        old.SetCaBundle(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(ClientConfig.Load(_cluster.AdminConf).CertificateAuthorityData)));
        old.Save(oldConfig);
        var stale = await Proc.RunAsync(Binaries.Cli, ["--config", oldConfig, "nodes"]);
        Assert.NotEqual(0, stale.ExitCode);
        Assert.Contains("rejected the client certificate", stale.StdErr);

        // New joins pin the new CA.
        await _cluster.JoinedOnlineAgentAsync("rot-n6");
    }
}
