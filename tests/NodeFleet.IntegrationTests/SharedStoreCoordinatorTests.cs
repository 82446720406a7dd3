using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Two coordinator processes on one PostgreSQL database (the run's private cluster) serve one fleet: the CA is in the
/// store, `init --join-store` gives the second its own serving certificate from it, and a node and a CLI config made
/// through one work against the other.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class SharedStoreCoordinatorTests(PostgresServer server) : IDisposable
{
    private readonly TempDir _dir = new("nf-shared");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_coordinators_on_one_store_serve_the_same_fleet_to_a_node_and_a_cli_config()
    {
        var (db, url) = await server.CreateDatabaseAsync();
        var second = _dir.Combine("second");

        // --join-store on a database with no fleet yet: refused, nothing written.
        var early = await Proc.RunAsync(Binaries.Coordinator, ["init", "--join-store", "--data-dir", second, "--store", url]);
        Assert.Equal(1, early.ExitCode);
        Assert.Contains("holds no fleet yet", early.StdErr);
        Assert.False(Directory.Exists(second));

        await using var cluster = await TestCluster.StartOnStoreAsync(url);
        // The CA is in the store, not in the first coordinator's data directory.
        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM certificate_authorities WHERE doc->>'State' = 'active'"));
        Assert.False(File.Exists(Path.Combine(cluster.DataDir, "pki", "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(cluster.DataDir, "pki", "serving.key")));

        // A plain init on it would start a second fleet over the first: refused, and it names --join-store.
        var again = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", _dir.Combine("again"), "--store", url]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already holds a fleet", again.StdErr);
        Assert.Contains("--join-store", again.StdErr);

        var secondAddress = $"127.0.0.1:{Proc.FreePort()}";
        var join = await Proc.RunAsync(Binaries.Coordinator,
            ["init", "--join-store", "--data-dir", second, "--store", url, "--advertise-address", secondAddress]);
        Assert.True(join.ExitCode == 0, join.ToString());
        var (_, caHash) = await cluster.CreateTokenAsync();
        Assert.Contains($"CA hash:           {caHash}", join.StdOut);
        Assert.False(File.Exists(Path.Combine(second, "admin.conf")));
        Assert.False(File.Exists(Path.Combine(second, "pki", "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(second, "pki", "serving.key")));
        // Joining again over an initialised directory is refused like init.
        var twice = await Proc.RunAsync(Binaries.Coordinator, ["init", "--join-store", "--data-dir", second, "--store", url]);
        Assert.Equal(1, twice.ExitCode);
        Assert.Contains("already initialised", twice.StdErr);

        await using var other = Proc.Start(Binaries.Coordinator,
            ["run", "--data-dir", second, "--listen", secondAddress, "--metrics-listen", "off", "--heartbeat-interval", "1s", "--store", url]);
        await other.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
        Assert.Contains(caHash, other.Output);

        // The first coordinator's admin.conf, pointed at the second: same CA, same operators.
        var env = new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = cluster.AdminConf };
        var agent = await cluster.JoinedOnlineAgentAsync("shared-n1", "--labels", "role=worker");
        var nodes = await Proc.RunAsync(Binaries.Cli, ["--coordinator", secondAddress, "nodes"], env);
        Assert.True(nodes.ExitCode == 0, nodes.ToString());
        Assert.Contains("shared-n1", nodes.StdOut);

        // The node, joined through the first, moves to the second with the certificate it has.
        var nodeCert = await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.crt"));
        await agent.Run!.DisposeAsync();
        var config = agent.HostPath("/etc/nodefleet/agent.yaml");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(config)).Replace(cluster.Address, secondAddress, StringComparison.Ordinal));
        agent.StartRun();
        await other.WaitForOutputAsync("Node shared-n1 connected", TimeSpan.FromSeconds(30));
        Assert.Equal(nodeCert, await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.crt")));
        await Proc.WaitUntilAsync(async () =>
            {
                var r = await Proc.RunAsync(Binaries.Cli, ["--coordinator", secondAddress, "node", "describe", "shared-n1"], env);
                return r.ExitCode == 0 && r.StdOut.Contains("Online", StringComparison.OrdinalIgnoreCase);
            }, TimeSpan.FromSeconds(30), "shared-n1 online, seen through the second coordinator");
        Assert.DoesNotContain("Refused", other.Output);
    }
}
