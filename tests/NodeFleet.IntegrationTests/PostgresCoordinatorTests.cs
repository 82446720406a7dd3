using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The coordinator's binary on PostgreSQL (the run's private cluster): init and run with --store, a real agent joined,
/// and what was acknowledged still there after a kill -9 and a restart; a bad store setting is one error line.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class PostgresCoordinatorTests(PostgresServer server) : IDisposable
{
    private const string Password = "fleet-password-e2e";
    private readonly TempDir _dir = new("nf-pg");

    public void Dispose() => _dir.Dispose();

    /// <summary>A database owned by a role that logs in with a password, and a URL that reads it from a file over TLS.</summary>
    private async Task<(string Database, string Url)> FleetStoreAsync()
    {
        await server.ExecuteAsync("postgres",
            $"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleet') THEN CREATE ROLE fleet LOGIN PASSWORD '{Password}'; END IF; END $$");
        var db = (await server.CreateDatabaseAsync(owner: "fleet")).Name;
        var file = _dir.Combine("password");
        await File.WriteAllTextAsync(file, Password + "\n");
        return (db, $"postgres://fleet@127.0.0.1:{server.Port}/{db}?sslmode=verify-full&sslrootcert={server.CaFile}&password_file={file}");
    }

    [Fact]
    public async Task A_coordinator_on_postgresql_serves_a_fleet_and_keeps_it_across_a_kill_and_restart()
    {
        var (db, url) = await FleetStoreAsync();
        await using var cluster = await TestCluster.StartOnStoreAsync(url);
        Assert.Contains($"store postgres://fleet@127.0.0.1:{server.Port}/{db}", cluster.Coordinator!.Output);
        await using var agent = await cluster.JoinedOnlineAgentAsync("pg-n1", "--labels", "role=worker");
        var (token, _) = await cluster.CreateTokenAsync();
        Assert.Contains("worker", (await cluster.NodeAsync("pg-n1"))!.Value.GetProperty("labels").GetProperty("role").GetString());

        await cluster.KillCoordinatorAsync();
        await cluster.StartCoordinatorAsync();
        Assert.NotNull(await cluster.NodeAsync("pg-n1"));
        Assert.Contains(token.Split('.')[0], await cluster.CliOkAsync("token", "list"));
        Assert.Contains("pg-n1", await cluster.CliOkAsync("events", "--node", "pg-n1"));
        // The rows are in PostgreSQL, not in a file of the data directory.
        Assert.False(File.Exists(Path.Combine(cluster.DataDir, "coordinator.db")));
        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM nodes WHERE id = 'pg-n1'"));

        // A second init on the same database would start another fleet over this one: refused, nothing written.
        var other = _dir.Combine("other");
        var again = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", other, "--store", url]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already holds a fleet", again.StdErr);
        Assert.False(Directory.Exists(other));
    }

    [Fact]
    public async Task A_rollout_on_postgresql_finishes_after_the_coordinator_is_killed_mid_way_with_one_run_per_node()
    {
        var (db, url) = await FleetStoreAsync();
        await using var cluster = await TestCluster.StartOnStoreAsync(url);
        using var admin = new AdminClients(cluster);
        for (var i = 1; i <= 3; i++) await cluster.JoinedOnlineAgentAsync($"pg-r{i}", "--labels", "role=worker");
        var request = new StartRolloutRequest
        {
            Plan = AdminClients.Plan(AgentApplyTests.Plan), Selector = "role=worker",
            Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "1" },
        };
        request.IgnorePreflightErrors.AddRange(["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"]);
        var r = await admin.Rollouts.StartAsync(request);
        await Proc.WaitUntilAsync(async () => (await admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes
            .Any(n => n.State == RolloutNodeState.Succeeded), TimeSpan.FromSeconds(60), "the canary to succeed");

        await cluster.KillCoordinatorAsync();
        await cluster.StartCoordinatorAsync();
        await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        var stored = $"FROM runs WHERE doc->>'RolloutId' = '{r.Id}'";
        Assert.Equal(3L, await server.ScalarAsync<long>(db, $"SELECT count(DISTINCT node) {stored}"));
        Assert.Equal(0L, await server.ScalarAsync<long>(db, $"SELECT count(*) FROM (SELECT node, doc->>'Stage' {stored} GROUP BY 1, 2 HAVING count(*) > 1) twice"));
        Assert.Equal(3L, await server.ScalarAsync<long>(db, $"SELECT count(*) FROM rollout_nodes WHERE rollout_id = '{r.Id}'"));
        Assert.All((await admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes,
            n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
    }

    [Fact]
    public async Task A_wrong_password_or_an_unknown_database_stops_run_with_one_error_line_without_the_password()
    {
        var (db, _) = await FleetStoreAsync();
        var data = _dir.Combine("data");
        Assert.Equal(0, (await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", "127.0.0.1:7443"])).ExitCode);

        async Task<string> RunError(string store, Dictionary<string, string>? env = null)
        {
            var args = new List<string> { "run", "--data-dir", data, "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", "off" };
            if (env is null) args.AddRange(["--store", store]);
            await using var p = Proc.Start(Binaries.Coordinator, args, env);
            Assert.Equal(1, await p.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            var line = Assert.Single(p.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));
            return line;
        }

        var wrong = await RunError($"postgres://fleet:not-the-password@127.0.0.1:{server.Port}/{db}");
        Assert.StartsWith($"error: store: postgres://fleet@127.0.0.1:{server.Port}/{db}: authentication failed", wrong);
        Assert.DoesNotContain("not-the-password", wrong);

        var unknown = await RunError("", new Dictionary<string, string>
        {
            ["NODEFLEET_STORE"] = $"Host=127.0.0.1;Port={server.Port};Username=fleet;Password={Password};Database=nosuchdb",
        });
        Assert.Contains("store: postgres://fleet@127.0.0.1:", unknown);
        Assert.Contains("nosuchdb", unknown);
        Assert.DoesNotContain(Password, unknown);
    }
}
