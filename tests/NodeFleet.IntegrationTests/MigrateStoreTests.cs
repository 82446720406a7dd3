using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// `nodefleet-coordinator migrate-store`: a LiteDB data directory a real coordinator filled (a token, a node, a run, a
/// rollout with its per-node state, events), the coordinator killed, copied into an empty database of the run's
/// private PostgreSQL cluster; every table's count checked by the command and spot-checked here; a database that is
/// no longer empty refused.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class MigrateStoreTests(PostgresServer server)
{
    [Fact]
    public async Task A_data_directory_is_copied_into_an_empty_database_whole_and_a_non_empty_one_is_refused()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var agent = await cluster.JoinedOnlineAgentAsync("mg-1", "--labels", "role=migrated");
        var (token, _) = await cluster.CreateTokenAsync();
        var plan = Path.Combine(cluster.Scratch, "plan.yaml");
        await File.WriteAllTextAsync(plan, AgentApplyTests.Plan);
        var started = await cluster.CliOkAsync("rollout", "start", plan, "-l", "role=migrated", AgentApplyTests.IgnoreAbsentRuntime, "-o", "json");
        string rolloutId;
        using (var doc = System.Text.Json.JsonDocument.Parse(started)) rolloutId = doc.RootElement.GetProperty("id").GetString()!;
        using (var admin = new AdminClients(cluster))
            await admin.WaitForStateAsync(rolloutId, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        var eventsBefore = await cluster.CliOkAsync("events", "--rollout", rolloutId);
        await cluster.KillCoordinatorAsync();

        var (db, url) = await server.CreateDatabaseAsync();
        var migrated = await Proc.RunAsync(Binaries.Coordinator, ["migrate-store", "--from", cluster.DataDir, "--to", url]);
        Assert.True(migrated.ExitCode == 0, migrated.ToString());
        Assert.Contains("every table has as many rows as its source", migrated.StdOut);
        Assert.Matches(@"rollout_nodes\s+1 →\s+1", migrated.StdOut);

        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM nodes WHERE id = 'mg-1'"));
        Assert.Equal(1L, await server.ScalarAsync<long>(db, $"SELECT count(*) FROM rollouts WHERE id = '{rolloutId}'"));
        Assert.Equal(1L, await server.ScalarAsync<long>(db, $"SELECT count(*) FROM tokens WHERE id = '{token.Split('.')[0]}'"));
        Assert.True(await server.ScalarAsync<long>(db, "SELECT count(*) FROM runs") >= 2, "the rollout's prepare and apply runs");
        Assert.True(await server.ScalarAsync<long>(db, "SELECT count(*) FROM events") > 5);

        // The same fleet served from PostgreSQL, with the same data directory (its CA and certificates).
        var coordinator = Proc.Start(Binaries.Coordinator, ["run", "--data-dir", cluster.DataDir, "--store", url,
            "--listen", cluster.Address, "--metrics-listen", $"127.0.0.1:{Proc.FreePort()}"]);
        await using (coordinator)
        {
            await Proc.WaitUntilAsync(async () => (await cluster.CliAsync("rollout", "status", rolloutId)).ExitCode == 0,
                TimeSpan.FromSeconds(60), "the coordinator on PostgreSQL to answer");
            Assert.Contains("SUCCEEDED", await cluster.CliOkAsync("rollout", "status", rolloutId));
            Assert.Equal(eventsBefore.Split('\n').Length, (await cluster.CliOkAsync("events", "--rollout", rolloutId)).Split('\n').Length);
            Assert.Contains("migrated", (await cluster.NodeAsync("mg-1"))!.Value.GetProperty("labels").GetProperty("role").GetString());
        }

        var again = await Proc.RunAsync(Binaries.Coordinator, ["migrate-store", "--from", cluster.DataDir, "--to", url]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("it is not empty", again.StdErr);
    }
}
