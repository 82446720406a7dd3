using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Several real coordinator processes on one PostgreSQL (the run's private cluster): the singleton lease taken over
/// after a kill -9 with the rollout finished by the new holder; a holder cut off from the database (through a TCP proxy
/// the test closes) stopping before another starts, from the records; PostgreSQL restarted under running coordinators
/// (/readyz); a revocation made through one coordinator closing a stream another holds; `nodefleet coordinators`.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed partial class HighAvailabilityTests(PostgresServer server, Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const string LeaseTtl = "5s";
    private readonly TempDir _dir = new("nf-ha");

    public void Dispose() => _dir.Dispose();

    /// <summary>Another coordinator of the same fleet: a copy of the first one's data directory (CA, serving certificate).</summary>
    private sealed class Peer : IAsyncDisposable
    {
        private Peer(BackgroundProc process, string address, int metricsPort)
        {
            Process = process;
            Address = address;
            MetricsUrl = $"http://127.0.0.1:{metricsPort}";
        }

        public BackgroundProc Process { get; }
        public string Address { get; }
        public string MetricsUrl { get; }

        public static async Task<Peer> StartAsync(TestCluster first, string store, string dataDir)
        {
            Copy(first.DataDir, dataDir);
            var address = $"127.0.0.1:{Proc.FreePort()}";
            var metrics = Proc.FreePort();
            var process = Proc.Start(Binaries.Coordinator,
                ["run", "--data-dir", dataDir, "--listen", address, "--metrics-listen", $"127.0.0.1:{metrics}", "--heartbeat-interval", "1s",
                 "--store", store, "--lease-ttl", LeaseTtl]);
            await process.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
            return new Peer(process, address, metrics);
        }

        public ValueTask DisposeAsync() => Process.DisposeAsync();

        /// <summary>Copies the data directory (modes kept: the keys stay 0600), without the first one's lock.</summary>
        private static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            File.SetUnixFileMode(to, File.GetUnixFileMode(from));
            foreach (var dir in Directory.GetDirectories(from)) Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
            foreach (var file in Directory.GetFiles(from).Where(f => Path.GetFileName(f) != "coordinator.lock"))
            {
                var target = Path.Combine(to, Path.GetFileName(file));
                File.Copy(file, target);
                File.SetUnixFileMode(target, File.GetUnixFileMode(file));
            }
        }
    }

    /// <summary>The holder of the singleton lease now ("" when none holds it unexpired).</summary>
    private Task<string> HolderAsync(string db) => server.ScalarAsync<string>(db,
        "SELECT coalesce((SELECT holder FROM leases WHERE name = 'singleton' AND expires_at > clock_timestamp()), '')");

    private static bool Holds(string holder, string address) => holder.Contains($"/{address}#", StringComparison.Ordinal);

    private Task WaitForHolderAsync(string db, string address, TimeSpan timeout) =>
        Proc.WaitUntilAsync(async () => Holds(await HolderAsync(db), address), timeout, $"the coordinator on {address} to hold the lease");

    /// <summary>A node joined through <paramref name="address"/> (any coordinator of the fleet), its agent running there.</summary>
    private static async Task<TestAgent> JoinThroughAsync(TestCluster cluster, string address, string name, string role = "worker")
    {
        var (token, hash) = await cluster.CreateTokenAsync();
        var agent = cluster.NewAgent(name);
        var join = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", name, "--labels", $"role={role}", address]);
        Assert.True(join.ExitCode == 0, join.ToString());
        agent.StartRun();
        await cluster.WaitForStatusAsync(name, "NODE_STATUS_ONLINE");
        return agent;
    }

    private static async Task<(int Status, string Body)> ReadyzAsync(string metricsUrl)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync($"{metricsUrl}/readyz");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The test plan on every worker, a canary first, then <paramref name="maxUnavailable"/> at a time.</summary>
    private static StartRolloutRequest Rollout(string maxUnavailable = "1")
    {
        var request = new StartRolloutRequest
        {
            Plan = AdminClients.Plan(AgentApplyTests.Plan), Selector = "role=worker",
            Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = maxUnavailable },
        };
        request.IgnorePreflightErrors.AddRange(["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"]);
        return request;
    }

    /// <summary>How many nodes have a run of the rollout recorded in the store.</summary>
    private Task<long> NodesRunAsync(string db, string rollout) =>
        server.ScalarAsync<long>(db, $"SELECT count(DISTINCT node) FROM runs WHERE doc->>'RolloutId' = '{rollout}'");

    /// <summary>How many (node, stage) pairs of the rollout have more than one run recorded: 0 when nothing ran twice.</summary>
    private Task<long> StagesRunTwiceAsync(string db, string rollout) =>
        server.ScalarAsync<long>(db, "SELECT count(*) FROM (SELECT node, doc->>'Stage' FROM runs " +
                                     $"WHERE doc->>'RolloutId' = '{rollout}' GROUP BY 1, 2 HAVING count(*) > 1) twice");

    private async Task<List<(string Reason, string Message, DateTime Time)>> LeaseEventsAsync(string db)
    {
        var text = await server.ScalarAsync<string>(db,
            "SELECT coalesce(json_agg(json_build_array(reason, message, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) " +
            "ORDER BY xact, seq)::text, '[]') FROM events WHERE reason IN ('LeaseAcquired', 'LeaseLost')");
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.EnumerateArray().Select(e => (e[0].GetString()!, e[1].GetString()!,
            DateTime.Parse(e[2].GetString()!, null, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal))).ToList();
    }

    [Fact]
    public async Task The_lease_holder_killed_is_replaced_by_another_coordinator_which_finishes_the_rollout_with_one_run_per_node()
    {
        var (db, store) = await server.CreateDatabaseAsync();
        await using var cluster = await TestCluster.StartOnStoreAsync(store, "--lease-ttl", LeaseTtl);
        await WaitForHolderAsync(db, cluster.Address, TimeSpan.FromSeconds(30));
        await using var b = await Peer.StartAsync(cluster, store, _dir.Combine("b"));
        for (var i = 1; i <= 3; i++) await JoinThroughAsync(cluster, b.Address, $"ha-r{i}");
        // Not in the rollout: its stream is on the coordinator about to be killed.
        var spare = await JoinThroughAsync(cluster, cluster.Address, "ha-a1", role: "spare");

        // `nodefleet coordinators`: both, the first holding the lease, the agents on the second.
        await Proc.WaitUntilAsync(async () =>
        {
            using var list = JsonDocument.Parse(await cluster.CliOkAsync("coordinators", "-o", "json"));
            var items = list.RootElement.GetProperty("items").EnumerateArray().ToList();
            return items.Count == 2
                && items.Any(c => c.GetProperty("address").GetString() == cluster.Address && c.GetProperty("leaseHeld").GetBoolean() && c.GetProperty("connectedAgents").GetInt32() == 1)
                && items.Any(c => c.GetProperty("address").GetString() == b.Address && c.GetProperty("connectedAgents").GetInt32() == 3);
        }, TimeSpan.FromSeconds(30), "`nodefleet coordinators` to list both, the lease on the first and three agents on the second");
        var table = await cluster.CliOkAsync("coordinators");
        Assert.Matches(@"ID\s+ADDRESS\s+VERSION\s+AGENTS\s+LEASE\s+STATUS\s+LAST SEEN\s+STARTED", table);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(cluster.Address)}\s+\S+\s+1\s+held\s+alive", table);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(b.Address)}\s+\S+\s+3\s+-\s+alive", table);
        Assert.Contains("leaseHeld: true", await cluster.CliOkAsync("coordinators", "-o", "yaml"));

        // Started through the second coordinator; decided by the holder, which holds none of the nodes' streams.
        using var admin = new AdminClients(cluster, b.Address);
        var r = await admin.Rollouts.StartAsync(Rollout());
        var first = await HolderAsync(db);
        // A machine lost with its coordinator: frozen first (its stream stays open, and it would otherwise reconnect to the
        // second coordinator, which it was told of), then the coordinator killed before it could miss a heartbeat.
        spare.Run!.Pause();
        await cluster.KillCoordinatorAsync();

        await WaitForHolderAsync(db, b.Address, TimeSpan.FromSeconds(60));
        await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(120));
        Assert.Equal(3L, await NodesRunAsync(db, r.Id));
        Assert.Equal(0L, await StagesRunTwiceAsync(db, r.Id));
        Assert.All((await admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));

        // The records: two tenures, the second with the larger fencing token; the nodes (on the survivor) still online.
        var acquired = (await LeaseEventsAsync(db)).Where(e => e.Reason == "LeaseAcquired").Select(e => e.Message).ToList();
        Assert.Equal(2, acquired.Count);
        Assert.Contains(first.Split('#')[0], acquired[0]);
        Assert.Contains($"/{b.Address} holds the singleton lease (fencing token 2)", acquired[1]);
        foreach (var name in new[] { "ha-r1", "ha-r2", "ha-r3" }) Assert.Equal("NODE_STATUS_ONLINE", (await NodeThroughAsync(cluster, b.Address, name)).Status);
        // The node whose stream was on the killed coordinator is marked offline by the new holder, saying why.
        await Proc.WaitUntilAsync(async () => (await NodeThroughAsync(cluster, b.Address, "ha-a1")).Status == "NODE_STATUS_OFFLINE",
            TimeSpan.FromSeconds(60), "the killed coordinator's node to be marked offline");
        Assert.StartsWith($"its coordinator {first.Split('#')[0]} stopped", (await NodeThroughAsync(cluster, b.Address, "ha-a1")).Reason);
        // The killed coordinator is shown stopped, its lease no longer claimed.
        await Proc.WaitUntilAsync(async () =>
        {
            var text = (await cluster.CliAsync("coordinators", "--coordinator", b.Address)).StdOut;
            return System.Text.RegularExpressions.Regex.IsMatch(text, $@"{System.Text.RegularExpressions.Regex.Escape(cluster.Address)}\s+\S+\s+\d+\s+-\s+stopped")
                && System.Text.RegularExpressions.Regex.IsMatch(text, $@"{System.Text.RegularExpressions.Regex.Escape(b.Address)}\s+\S+\s+3\s+held\s+alive");
        }, TimeSpan.FromSeconds(60), "the killed coordinator to be listed as stopped");
    }

    private static async Task<(string? Status, string? Reason)> NodeThroughAsync(TestCluster cluster, string address, string node)
    {
        using var doc = JsonDocument.Parse(await cluster.CliOkAsync("nodes", "-o", "json", "--coordinator", address));
        var n = doc.RootElement.GetProperty("items").EnumerateArray().First(n => n.GetProperty("name").GetString() == node);
        return (n.GetProperty("status").GetString(), n.TryGetProperty("statusReason", out var r) ? r.GetString() : null);
    }

    [Fact]
    public async Task A_holder_cut_off_from_postgresql_stops_acting_before_another_coordinator_takes_the_lease_over()
    {
        const string password = "ha-password";
        await server.ExecuteAsync("postgres",
            $"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleetha') THEN CREATE ROLE fleetha LOGIN PASSWORD '{password}'; END IF; END $$");
        var db = (await server.CreateDatabaseAsync(owner: "fleetha")).Name;
        var passwordFile = _dir.Combine("password");
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        string Url(int port) => $"postgres://fleetha@127.0.0.1:{port}/{db}?sslmode=disable&connect_timeout=2&password_file={passwordFile}";
        await using var proxy = new TcpProxy(server.Port);

        // The first coordinator reaches PostgreSQL only through the proxy; the second directly.
        await using var cluster = await TestCluster.StartOnStoreAsync(Url(proxy.Port), "--lease-ttl", LeaseTtl);
        await WaitForHolderAsync(db, cluster.Address, TimeSpan.FromSeconds(30));
        await using var b = await Peer.StartAsync(cluster, Url(server.Port), _dir.Combine("b"));
        await JoinThroughAsync(cluster, b.Address, "ha-f1");
        await JoinThroughAsync(cluster, b.Address, "ha-f2");
        using var admin = new AdminClients(cluster, b.Address);
        var r = await admin.Rollouts.StartAsync(Rollout());

        proxy.Cut();
        await cluster.Coordinator!.WaitForOutputAsync("could not renew the singleton lease", TimeSpan.FromSeconds(60));
        await WaitForHolderAsync(db, b.Address, TimeSpan.FromSeconds(60));
        await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(120));

        // Back in touch: the first coordinator finds the lease taken and records when it had stopped.
        proxy.Restore();
        await Proc.WaitUntilAsync(async () => (await LeaseEventsAsync(db)).Any(e => e.Reason == "LeaseLost"), TimeSpan.FromSeconds(60),
            "the cut-off coordinator to record that it stopped");
        var events = await LeaseEventsAsync(db);
        var lost = Assert.Single(events, e => e.Reason == "LeaseLost");
        Assert.Contains($"/{cluster.Address} stopped its singleton work", lost.Message);
        Assert.Contains("(fencing token 1)", lost.Message);
        var taken = Assert.Single(events, e => e.Reason == "LeaseAcquired" && e.Message.Contains($"/{b.Address} "));
        Assert.Contains("(fencing token 2)", taken.Message);
        // One machine, one clock: the first stopped acting before the second started.
        Assert.True(lost.Time < taken.Time, $"stopped at {lost.Time:O}, taken over at {taken.Time:O}");
        // It never took the lease back, and nothing of the rollout ran twice.
        Assert.Equal(2, events.Count(e => e.Reason == "LeaseAcquired"));
        Assert.True(Holds(await HolderAsync(db), b.Address));
        Assert.Equal(0L, await StagesRunTwiceAsync(db, r.Id));
        await Proc.WaitUntilAsync(async () => await server.ScalarAsync<bool>(db,
                $"SELECT coalesce((SELECT NOT lease_held FROM coordinators WHERE address = '{cluster.Address}' AND last_seen > now() - interval '3 seconds'), false)"),
            TimeSpan.FromSeconds(30), "the first coordinator's record to say it holds no lease");
    }

    [Fact]
    public async Task Coordinators_are_not_ready_while_postgresql_is_down_recover_by_themselves_and_a_revocation_closes_a_stream_another_holds()
    {
        var (db, store) = await server.CreateDatabaseAsync();
        await using var cluster = await TestCluster.StartOnStoreAsync(store, "--lease-ttl", LeaseTtl);
        await using var b = await Peer.StartAsync(cluster, store, _dir.Combine("b"));
        var agent = await JoinThroughAsync(cluster, b.Address, "ha-p1");
        foreach (var url in new[] { cluster.MetricsUrl, b.MetricsUrl }) Assert.Equal(200, (await ReadyzAsync(url)).Status);
        // Acknowledged just before PostgreSQL stops, through each coordinator: still there after it restarts.
        Assert.Equal("node/ha-p1 labeled\n", await cluster.CliOkAsync("node", "label", "ha-p1", "zone=a"));
        var joinLine = (await cluster.CliOkAsync("token", "create", "--print-join-command", "--coordinator", b.Address)).Trim().Split(' ');
        var kept = joinLine[Array.IndexOf(joinLine, "--token") + 1];

        await server.StopAsync();
        try
        {
            foreach (var url in new[] { cluster.MetricsUrl, b.MetricsUrl })
            {
                await Proc.WaitUntilAsync(async () => (await ReadyzAsync(url)).Status == 503, TimeSpan.FromSeconds(30), $"{url}/readyz to say not ready");
                Assert.StartsWith("not ready: the store is unreachable", (await ReadyzAsync(url)).Body);
            }
        }
        finally
        {
            await server.StartAsync();
        }
        foreach (var url in new[] { cluster.MetricsUrl, b.MetricsUrl })
            await Proc.WaitUntilAsync(async () => (await ReadyzAsync(url)).Status == 200, TimeSpan.FromSeconds(60), $"{url}/readyz to recover");
        Assert.False(cluster.Coordinator!.HasExited);
        Assert.False(b.Process.HasExited);
        Assert.NotNull(await cluster.NodeAsync("ha-p1"));
        Assert.Equal("a", (await cluster.NodeAsync("ha-p1"))!.Value.GetProperty("labels").GetProperty("zone").GetString());
        Assert.Contains(kept.Split('.')[0], await cluster.CliOkAsync("token", "list"));
        await cluster.WaitForStatusAsync("ha-p1", "NODE_STATUS_ONLINE");

        // Revoked through the first coordinator; the second closes the node's stream at its next deny-list reload.
        await cluster.CliOkAsync("node", "revoke", "ha-p1");
        await b.Process.WaitForOutputAsync("Closed the stream of node ha-p1: its certificate was revoked", TimeSpan.FromSeconds(30));
        await agent.Run!.WaitForOutputAsync("node ha-p1 was revoked", TimeSpan.FromSeconds(30));
        await cluster.WaitForStatusAsync("ha-p1", "NODE_STATUS_OFFLINE");
        await Proc.WaitUntilAsync(async () => await server.ScalarAsync<long>(db, "SELECT coalesce(sum(connected_agents), 0) FROM coordinators") == 0,
            TimeSpan.FromSeconds(30), "no coordinator to count the revoked node's stream");
    }
}
