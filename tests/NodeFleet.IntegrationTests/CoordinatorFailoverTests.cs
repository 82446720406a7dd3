using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Two coordinator processes on one PostgreSQL (the run's private cluster), serving one fleet (the second runs on a copy
/// of the first's data directory: the same CA and certificates): a message for a node goes through the outbox and
/// reaches it on whichever coordinator holds its stream; a kill -9 of that coordinator while a message waits loses
/// nothing, and the agent, given both addresses at join, carries on with the other and runs each step once.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class CoordinatorFailoverTests(PostgresServer server) : IDisposable
{
    private readonly TempDir _dir = new("nf-ha");

    public void Dispose() => _dir.Dispose();

    // A fresh apply of the test plan restarts containerd and kubelet once each: twice would show a step run twice.
    private static readonly string[] OneRunOfThePlan = ["daemon-reload", "restart containerd", "is-active containerd", "restart kubelet", "is-active kubelet"];

    /// <summary>Coordinator B: `run` on a copy of <paramref name="a"/>'s data directory, the same store, its own port.</summary>
    private async Task<(BackgroundProc Process, string Address)> StartSecondAsync(TestCluster a, string store, string coordinators = "")
    {
        var data = _dir.Combine("data-b");
        CopyDirectory(a.DataDir, data);
        var address = $"127.0.0.1:{Proc.FreePort()}";
        var env = new Dictionary<string, string>();
        if (coordinators.Length > 0) env["NODEFLEET_COORDINATORS"] = coordinators.Replace("B", address, StringComparison.Ordinal).Replace("A", a.Address, StringComparison.Ordinal);
        var b = Proc.Start(Binaries.Coordinator,
            ["run", "--data-dir", data, "--listen", address, "--metrics-listen", "off", "--heartbeat-interval", "1s", "--store", store], env);
        await b.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
        return (b, address);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            // The running coordinator's lock on its directory is its own; B takes its own on the copy.
            if (Path.GetFileName(file) == "coordinator.lock") continue;
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, File.GetUnixFileMode(file));
        }
    }

    private Task WaitForOutboxEmptyAsync(string db) => Proc.WaitUntilAsync(
        async () => await server.ScalarAsync<long>(db, "SELECT count(*) FROM outbox") == 0, TimeSpan.FromSeconds(30),
        "every outbox message to be acknowledged");

    [Fact]
    public async Task A_plan_and_a_dry_run_through_one_coordinator_reach_an_agent_connected_to_the_other()
    {
        var (db, store) = await server.CreateDatabaseAsync();
        await using var a = await TestCluster.StartOnStoreAsync(store);
        var (bProcess, b) = await StartSecondAsync(a, store);
        await using var _ = bProcess;
        await using var agent = await a.JoinedOnlineAgentAsync("ha-n1");
        await a.Coordinator!.WaitForOutputAsync("Node ha-n1 connected from", TimeSpan.FromSeconds(10));
        var plan = agent.Node.WritePlan(AgentApplyTests.Plan);

        // The dry run's request goes to the agent through A; its answer comes back to A, which stores it for B.
        var diff = await a.CliAsync("plan", "diff", plan, "--node", "ha-n1", AgentApplyTests.IgnoreAbsentRuntime, "--coordinator", b);
        Assert.True(diff.ExitCode == 0, diff.ToString());
        Assert.Contains("containerd-config", diff.StdOut);

        var apply = await a.CliAsync("plan", "apply", plan, "--node", "ha-n1", AgentApplyTests.IgnoreAbsentRuntime, "--wait", "--coordinator", b);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(OneRunOfThePlan, agent.Node.SystemctlCalls());
        Assert.DoesNotContain("Node ha-n1 connected", bProcess.Output);
        await WaitForOutboxEmptyAsync(db);
        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM runs WHERE node = 'ha-n1'"));
    }

    [Fact]
    public async Task A_message_queued_when_its_coordinator_is_killed_reaches_the_agent_through_the_other_and_runs_once()
    {
        var (db, store) = await server.CreateDatabaseAsync();
        await using var a = await TestCluster.StartOnStoreAsync(store);
        // B tells agents the fleet's list, B first: an agent that reaches it keeps the list in its agent.yaml.
        var (bProcess, b) = await StartSecondAsync(a, store, coordinators: "B,A");
        await using var _ = bProcess;
        var (token, hash) = await a.CreateTokenAsync();
        await using var agent = a.NewAgent("ha-n2");
        var join = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "ha-n2", $"{a.Address},{b}"]);
        Assert.True(join.ExitCode == 0, join.ToString());
        Assert.Contains($"coordinator: {a.Address},{b}", File.ReadAllText(agent.HostPath("/etc/nodefleet/agent.yaml")));
        agent.StartRun();
        await a.WaitForStatusAsync("ha-n2", "NODE_STATUS_ONLINE");
        await a.Coordinator!.WaitForOutputAsync("Node ha-n2 connected from", TimeSpan.FromSeconds(10));

        // A stops (it holds the stream but delivers nothing), the plan is queued through B, then A dies for good.
        a.Coordinator.Pause();
        var plan = agent.Node.WritePlan(AgentApplyTests.Plan);
        var apply = await a.CliAsync("plan", "apply", plan, "--node", "ha-n2", AgentApplyTests.IgnoreAbsentRuntime, "--coordinator", b);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM outbox WHERE recipient = 'ha-n2'"));
        await a.KillCoordinatorAsync();

        // The agent misses three heartbeat acknowledgements, then its next attempt goes to B (well within the 60 s bound).
        await bProcess.WaitForOutputAsync("Node ha-n2 connected from", TimeSpan.FromSeconds(60));
        await Proc.WaitUntilAsync(async () => await server.ScalarAsync<long>(db,
                "SELECT count(*) FROM runs WHERE node = 'ha-n2' AND (doc->>'State')::int = 2") == 1,
            TimeSpan.FromSeconds(60), "the run of the plan queued through B to succeed");
        await WaitForOutboxEmptyAsync(db);
        Assert.Equal(1L, await server.ScalarAsync<long>(db, "SELECT count(*) FROM runs WHERE node = 'ha-n2'"));
        Assert.Equal(OneRunOfThePlan, agent.Node.SystemctlCalls());
        Assert.Contains($"coordinators: {b},{a.Address}", File.ReadAllText(agent.HostPath("/etc/nodefleet/agent.yaml")));
    }
}
