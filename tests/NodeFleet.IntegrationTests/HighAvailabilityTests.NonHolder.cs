using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

// A coordinator that holds agents but not the lease, killed mid-rollout: its agents move, the holder goes on.
public sealed partial class HighAvailabilityTests
{
    /// <summary>Agents of the non-holder test, half on each of the two coordinators (real agent processes, recording systemctl).</summary>
    private const int PairAgents = 6;

    [Fact]
    public async Task A_coordinator_without_the_lease_killed_mid_rollout_hands_its_agents_to_the_other_and_the_rollout_completes_once_per_node()
    {
        var (db, store) = await server.CreateDatabaseAsync();
        await using var cluster = await TestCluster.StartOnStoreAsync(store, "--lease-ttl", LeaseTtl);
        await WaitForHolderAsync(db, cluster.Address, TimeSpan.FromSeconds(30));
        await using var b = await Peer.StartAsync(cluster, store, _dir.Combine("b"));

        // Every agent is given both coordinators, half of them the second one first.
        var (token, hash) = await cluster.CreateTokenAsync();
        var agents = Enumerable.Range(1, PairAgents).Select(i => cluster.NewAgent($"hanh-n{i}")).ToList();
        for (var i = 0; i < agents.Count; i++)
        {
            var list = i % 2 == 0 ? $"{cluster.Address},{b.Address}" : $"{b.Address},{cluster.Address}";
            var join = await agents[i].JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", agents[i].Name, "--labels", "role=worker", list]);
            Assert.True(join.ExitCode == 0, join.ToString());
            agents[i].StartRun();
        }
        await Proc.WaitUntilAsync(async () => await CountAsync(db, "status = 1") == PairAgents, TimeSpan.FromSeconds(60), "every agent to be online");
        Assert.Equal(PairAgents / 2, await CountAsync(db, $"status = 1 AND {On(b.Address)}"));

        // Started through the holder, which holds half the streams; the other coordinator is killed once the canary succeeded.
        using var admin = new AdminClients(cluster, cluster.Address);
        var r = await admin.Rollouts.StartAsync(Rollout("2"));
        await Proc.WaitUntilAsync(async () => (await admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes.Any(n => n.State == RolloutNodeState.Succeeded),
            TimeSpan.FromSeconds(60), "the canary to succeed");
        await b.Process.KillHardAsync();
        Assert.NotEqual(RolloutState.Succeeded, (await admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).State);

        // Its agents reconnect to the coordinator that lived (the next of their list), which kept the lease throughout.
        await Proc.WaitUntilAsync(async () => await CountAsync(db, $"status = 1 AND {On(cluster.Address)}") == PairAgents,
            TimeSpan.FromSeconds(60), "the killed coordinator's agents to reconnect to the other");
        var done = await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(120));
        Assert.Equal(PairAgents, done.Nodes.Count);
        Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
        Assert.True(Holds(await HolderAsync(db), cluster.Address));
        Assert.Single(await LeaseEventsAsync(db), e => e.Reason == "LeaseAcquired");

        // Each node ran the plan once: one run per node and stage recorded, one apply's calls in each recording systemctl.
        Assert.Equal(PairAgents, await NodesRunAsync(db, r.Id));
        Assert.Equal(0L, await StagesRunTwiceAsync(db, r.Id));
        foreach (var agent in agents)
            Assert.Equal(["daemon-reload", "restart containerd", "is-active containerd", "restart kubelet", "is-active kubelet"], agent.Node.SystemctlCalls());
        // Nothing lost: every message for a node delivered and acknowledged, the killed coordinator's included.
        await Proc.WaitUntilAsync(async () => await server.ScalarAsync<long>(db, "SELECT count(*) FROM outbox") == 0,
            TimeSpan.FromSeconds(30), "the outbox to be empty");
    }
}
