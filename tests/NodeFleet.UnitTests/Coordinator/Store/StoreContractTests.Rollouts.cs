using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for rollouts and their per-node states, events and leases.</summary>
public abstract partial class StoreContractTests
{
    private static RolloutRecord Rollout(string id, RolloutState state, params string[] nodes) => new()
    {
        Id = id, PlanName = "plan", Generation = 1, Plan = [9, 8, 7], State = state, CurrentWave = 0, WaveCount = nodes.Length,
        PhaseDeadlinesMs = { ["drain"] = 60_000 }, IgnorePreflightErrors = { "swap" },
        Nodes = nodes.Select((n, i) => new RolloutNodeRecord { Name = n, Wave = i }).ToList(),
    };

    [Fact]
    public async Task A_rollout_is_stored_with_its_nodes_in_order_and_one_nodes_progress_is_written_alone()
    {
        await Store.WriteAsync(s => s.Rollouts.Insert(Rollout("r1", RolloutState.Rolling, "w3", "w1", "w2")));
        var r = Store.Rollouts.Get("r1")!;
        Assert.Equal(["w3", "w1", "w2"], r.Nodes.Select(n => n.Name));
        Assert.Equal([9, 8, 7], r.Plan);
        Assert.Equal((60_000L, "swap"), (r.PhaseDeadlinesMs["drain"], r.IgnorePreflightErrors.Single()));

        r.Node("w1")!.State = RolloutNodeState.Running;
        r.Node("w1")!.RunId = "run-1";
        r.UpdatedAt = new DateTime(2030, 1, 1, 0, 0, 1, DateTimeKind.Utc);
        await Store.WriteAsync(s => s.Rollouts.Update(r));
        // Written again with nothing changed: still a new revision of the rollout, nodes as they were.
        await Store.WriteAsync(s => s.Rollouts.Update(r));

        var again = Store.Rollouts.Get("r1")!;
        Assert.Equal(3, again.Revision);
        Assert.Equal((RolloutNodeState.Running, "run-1"), (again.Node("w1")!.State, again.Node("w1")!.RunId));
        Assert.All(again.Nodes.Where(n => n.Name != "w1"), n => Assert.Equal(RolloutNodeState.Pending, n.State));
        Assert.Equal(["w3", "w1", "w2"], again.Nodes.Select(n => n.Name));
    }

    [Fact]
    public async Task A_rollout_read_from_a_store_and_inserted_as_new_is_stored_with_every_node()
    {
        // What a copy between stores does: the nodes it read were stored there, never here.
        await Store.WriteAsync(s => s.Rollouts.Insert(Rollout("r1", RolloutState.Succeeded, "w1", "w2")));
        var read = Store.Rollouts.Get("r1")!;
        read.Id = "r2";
        await Store.WriteAsync(s => s.Rollouts.Insert(read));

        Assert.Equal(["w1", "w2"], Store.Rollouts.Get("r2")!.Nodes.Select(n => n.Name));
    }

    [Fact]
    public async Task A_node_in_a_cluster_keeps_its_step_its_cordon_and_its_drain_progress()
    {
        var at = new DateTime(2030, 1, 1, 0, 0, 5, DateTimeKind.Utc);
        await Store.WriteAsync(s => s.Rollouts.Insert(Rollout("r1", RolloutState.Rolling, "cp1", "w1")));
        var r = Store.Rollouts.Get("r1")!;
        var n = r.Node("cp1")!;
        (n.Cluster, n.KubeNodeName, n.ControlPlane, n.KubeStep, n.KubeStepStartedAt) = ("prod", "k-cp1", true, "drain", at);
        (n.CordonedAt, n.WasSchedulable, n.DrainStartedAt) = (at, true, at);
        n.DrainEvicted.AddRange(["uid-1", "uid-2"]);
        n.DrainDeleted.Add("uid-3");
        (n.DrainBlocked, n.CordonNote) = ("pod default/db-0, budget db-pdb: needs 1", "left cordoned: why");
        await Store.WriteAsync(s => s.Rollouts.Update(r));

        var again = Store.Rollouts.Get("r1")!.Node("cp1")!;
        Assert.Equal(("prod", "k-cp1", true, "drain", at), (again.Cluster, again.KubeNodeName, again.ControlPlane, again.KubeStep, again.KubeStepStartedAt));
        Assert.Equal((at, true, at), (again.CordonedAt, again.WasSchedulable, again.DrainStartedAt));
        Assert.Equal(["uid-1", "uid-2"], again.DrainEvicted);
        Assert.Equal(["uid-3"], again.DrainDeleted);
        Assert.Equal(("pod default/db-0, budget db-pdb: needs 1", "left cordoned: why"), (again.DrainBlocked, again.CordonNote));
        Assert.Equal("", Store.Rollouts.Get("r1")!.Node("w1")!.KubeStep);
    }

    [Fact]
    public async Task A_rollout_updated_on_a_stale_revision_is_a_conflict_and_none_of_its_nodes_are_written()
    {
        await Store.WriteAsync(s => s.Rollouts.Insert(Rollout("r1", RolloutState.Rolling, "w1", "w2")));
        var mine = Store.Rollouts.Get("r1")!;
        var theirs = Store.Rollouts.Get("r1")!;
        theirs.State = RolloutState.Paused;
        await Store.WriteAsync(s => s.Rollouts.Update(theirs));

        mine.Node("w2")!.State = RolloutNodeState.Failed;
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Rollouts.Update(mine)));
        var stored = Store.Rollouts.Get("r1")!;
        Assert.Equal((RolloutState.Paused, RolloutNodeState.Pending), (stored.State, stored.Node("w2")!.State));
    }

    [Fact]
    public async Task Active_rollouts_and_the_nodes_they_hold_are_found_and_finished_ones_are_not()
    {
        await Store.WriteAsync(s =>
        {
            s.Rollouts.Insert(Rollout("old", RolloutState.Succeeded, "w1", "w2"));
            s.Rollouts.Insert(Rollout("live", RolloutState.Preparing, "w2", "w3"));
        });
        Assert.Equal(["live"], Store.Rollouts.ListActive().Select(r => r.Id));
        Assert.Equal(["live", "old"], Store.Rollouts.ListAll().Select(r => r.Id).Order());
        Assert.Equal(2, Store.Rollouts.ListAll().Single(r => r.Id == "old").Nodes.Count);
        var busy = Store.Rollouts.ActiveMemberships(["w1", "w2", "w9"]);
        Assert.Equal(new RolloutMembership("w2", "live", RolloutState.Preparing), Assert.Single(busy));
        Assert.Null(Store.Rollouts.Get("none"));
        await Assert.ThrowsAsync<AlreadyExistsException>(() => Store.WriteAsync(s => s.Rollouts.Insert(Rollout("live", RolloutState.Pending, "w4"))));
    }

    [Fact]
    public async Task The_revisions_of_the_active_rollouts_are_read_without_their_nodes_and_move_with_every_update()
    {
        await Store.WriteAsync(s =>
        {
            s.Rollouts.Insert(Rollout("old", RolloutState.Succeeded, "w1"));
            s.Rollouts.Insert(Rollout("b", RolloutState.Rolling, "w2"));
            s.Rollouts.Insert(Rollout("a", RolloutState.Paused, "w3", "w4"));
        });
        Assert.Equal([("a", 1L), ("b", 1L)], Store.Rollouts.ActiveRevisions().OrderBy(r => r.Id, StringComparer.Ordinal));

        var b = Store.Rollouts.Get("b")!;
        b.Node("w2")!.State = RolloutNodeState.Running;
        await Store.WriteAsync(s => s.Rollouts.Update(b));
        var a = Store.Rollouts.Get("a")!;
        a.State = RolloutState.Aborted;
        await Store.WriteAsync(s => s.Rollouts.Update(a));
        Assert.Equal([("b", 2L)], Store.Rollouts.ActiveRevisions());
        // Inside a write too (the rollout controller reads them there).
        Assert.Equal([("b", 2L)], await Store.WriteAsync(s => s.Rollouts.ActiveRevisions()));
    }

    [Fact]
    public async Task Rollouts_over_with_cluster_work_unfinished_are_found_by_their_nodes_steps()
    {
        await Store.WriteAsync(s =>
        {
            s.Rollouts.Insert(Rollout("aborted", RolloutState.Aborted, "w1", "w2"));
            s.Rollouts.Insert(Rollout("done", RolloutState.Failed, "w3"));
            s.Rollouts.Insert(Rollout("live", RolloutState.Rolling, "w4"));
            s.Rollouts.Insert(Rollout("hosts", RolloutState.Aborted, "w5"));
            s.Rollouts.Insert(Rollout("rolledback", RolloutState.RolledBack, "w6"));
        });
        void Step(RolloutRecord r, string node, string step, string cluster = "prod") =>
            (r.Node(node)!.Cluster, r.Node(node)!.KubeStep) = (cluster, step);
        var aborted = Store.Rollouts.Get("aborted")!;
        Step(aborted, "w1", KubeSteps.Done);
        Step(aborted, "w2", KubeSteps.Uncordon);
        var done = Store.Rollouts.Get("done")!;
        Step(done, "w3", KubeSteps.Done);
        var live = Store.Rollouts.Get("live")!;
        Step(live, "w4", KubeSteps.Drain);
        // A step without a cluster is no cluster work.
        var hosts = Store.Rollouts.Get("hosts")!;
        Step(hosts, "w5", KubeSteps.Drain, cluster: "");
        var rolledBack = Store.Rollouts.Get("rolledback")!;
        Step(rolledBack, "w6", KubeSteps.Recover);
        await Store.WriteAsync(s =>
        {
            foreach (var r in new[] { aborted, done, live, hosts, rolledBack }) s.Rollouts.Update(r);
        });
        Assert.Equal(["aborted", "rolledback"], Store.Rollouts.OverWithClusterWorkUnfinished());

        Step(aborted, "w2", KubeSteps.Done);
        await Store.WriteAsync(s => s.Rollouts.Update(aborted));
        Assert.Equal(["rolledback"], Store.Rollouts.OverWithClusterWorkUnfinished());
    }

    [Fact]
    public async Task The_online_nodes_held_by_other_coordinators_are_listed_by_name_and_coordinator()
    {
        await Store.WriteAsync(s =>
        {
            s.Nodes.Insert(new NodeRecord { Name = "here", Status = NodeState.Online, Coordinator = "c1" });
            s.Nodes.Insert(new NodeRecord { Name = "there", Status = NodeState.Online, Coordinator = "c2" });
            s.Nodes.Insert(new NodeRecord { Name = "before", Status = NodeState.Online });
            s.Nodes.Insert(new NodeRecord { Name = "gone", Status = NodeState.Offline, Coordinator = "c2" });
        });
        Assert.Equal([("before", ""), ("there", "c2")], Store.Nodes.OnlineElsewhere("c1").OrderBy(n => n.Name, StringComparer.Ordinal));
        Assert.Equal([("here", "c1"), ("there", "c2")], Store.Nodes.OnlineElsewhere("").OrderBy(n => n.Name, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Events_are_read_newest_last_filtered_and_paged_back_by_id()
    {
        var t0 = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var added = new List<EventRecord>();
        // Several per write and several writes, as the coordinator makes them.
        foreach (var chunk in Enumerable.Range(0, 25).Chunk(3))
        {
            var events = chunk.Select(i => new EventRecord
            {
                Time = t0.AddSeconds(i), Reason = $"e{i}", Node = i % 2 == 0 ? "even" : "odd", Rollout = i < 5 ? "r1" : "",
            }).ToList();
            await Store.WriteAsync(s => events.ForEach(s.Events.Add));
            added.AddRange(events);
        }
        Assert.Equal(25, added.Select(e => e.Id).Distinct().Count());
        Assert.All(added, e => Assert.NotEmpty(e.Id));

        var last = Store.Events.Newest(new EventQuery(10));
        Assert.Equal(Enumerable.Range(15, 10).Select(i => $"e{i}"), last.Select(e => e.Reason));
        Assert.Equal(t0.AddSeconds(24), last[^1].Time);
        var before = Store.Events.Newest(new EventQuery(10, Before: last[0].Id));
        Assert.Equal(Enumerable.Range(5, 10).Select(i => $"e{i}"), before.Select(e => e.Reason));
        var first = Store.Events.Newest(new EventQuery(10, Before: before[0].Id));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"e{i}"), first.Select(e => e.Reason));

        Assert.Equal(["e20", "e22", "e24"], Store.Events.Newest(new EventQuery(3, Node: "even")).Select(e => e.Reason));
        Assert.Equal(["e1", "e3"], Store.Events.Newest(new EventQuery(10, Node: "odd", Rollout: "r1")).Select(e => e.Reason));
        Assert.Empty(Store.Events.Newest(new EventQuery(0)));
    }

    [Fact]
    public async Task A_lease_is_held_renewed_lost_on_expiry_and_taken_over_with_a_larger_fencing_token()
    {
        var ttl = TimeSpan.FromSeconds(15);
        var a = await Store.Leases.TryAcquireAsync("rollouts", "coordinator-a", ttl);
        Assert.NotNull(a);
        Assert.Null(await Store.Leases.TryAcquireAsync("rollouts", "coordinator-b", ttl));
        // Another lease is independent.
        Assert.NotNull(await Store.Leases.TryAcquireAsync("tokens", "coordinator-b", ttl));

        Time.Advance(TimeSpan.FromSeconds(10));
        a = await Store.Leases.RenewAsync(a!, ttl);
        Assert.NotNull(a);
        Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await Store.Leases.TryAcquireAsync("rollouts", "coordinator-b", ttl)); // renewed: not expired yet
        await Store.WriteAsync(s => s.RequireLease(a!));

        Time.Advance(TimeSpan.FromSeconds(6)); // A missed its renewal
        Assert.Null(await Store.Leases.RenewAsync(a!, ttl));
        var b = await Store.Leases.TryAcquireAsync("rollouts", "coordinator-b", ttl);
        Assert.NotNull(b);
        Assert.True(b!.Token > a!.Token);

        // Fencing: A's writes are refused (nothing of them is kept), B's go through.
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.WriteAsync(s =>
        {
            s.RequireLease(a);
            s.Tokens.Insert(Token("fromaa"));
        }));
        Assert.Null(Store.Tokens.Get("fromaa"));
        await Store.WriteAsync(s =>
        {
            s.RequireLease(b);
            s.Tokens.Insert(Token("frombb"));
        });
        Assert.NotNull(Store.Tokens.Get("frombb"));

        // Released, it can be taken at once, and the token still grows.
        await Store.Leases.ReleaseAsync(a); // no longer A's: changes nothing
        Assert.Null(await Store.Leases.TryAcquireAsync("rollouts", "coordinator-a", ttl));
        await Store.Leases.ReleaseAsync(b);
        var again = await Store.Leases.TryAcquireAsync("rollouts", "coordinator-a", ttl);
        Assert.True(again!.Token > b.Token);
        // The holder asking again while it holds keeps its tenure and token.
        Assert.Equal(again.Token, (await Store.Leases.TryAcquireAsync("rollouts", "coordinator-a", ttl))!.Token);
    }

    [Fact]
    public async Task Concurrent_acquisitions_of_a_free_lease_give_it_to_exactly_one()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(i => Task.Run(() => Store.Leases.TryAcquireAsync("rollouts", $"coordinator-{i}", TimeSpan.FromSeconds(15)))));
        Assert.Single(results, r => r is not null);
    }
}
