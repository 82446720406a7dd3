using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>
/// What every implementation of <see cref="ICoordinatorStore"/> must do. A store is tested by a class that derives from
/// this one and says how to open it (a fresh, empty store each test).
/// </summary>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    protected ManualTime Time { get; } = new();
    protected ICoordinatorStore Store { get; private set; } = null!;

    /// <summary>Opens an empty store on <paramref name="time"/> (the clock of its leases).</summary>
    protected abstract Task<ICoordinatorStore> OpenAsync(TimeProvider time);

    public async Task InitializeAsync() => Store = await OpenAsync(Time);

    public async Task DisposeAsync() => await Store.DisposeAsync();

    private static TokenRecord Token(string id, DateTime? expires = null) =>
        new() { Id = id, SecretHash = "hash", DiscoveryKey = [1, 2, 3], CreatedAt = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc), ExpiresAt = expires };

    private static NodeRecord Node(string name, NodeState status = NodeState.Online, string phase = "", params (string K, string V)[] labels)
    {
        var n = new NodeRecord { Name = name, Status = status, Phase = phase };
        foreach (var (k, v) in labels) n.Labels[k] = v;
        return n;
    }

    [Fact]
    public async Task Tokens_are_created_read_updated_and_deleted()
    {
        var t = Token("aaaaaa");
        await Store.WriteAsync(s => s.Tokens.Insert(t));
        Assert.Equal(1, t.Revision);
        var read = Store.Tokens.Get("aaaaaa")!;
        Assert.Equal(("hash", 1L), (read.SecretHash, read.Revision));
        Assert.Equal([1, 2, 3], read.DiscoveryKey);

        read.UsagesUsed = 3;
        await Store.WriteAsync(s => s.Tokens.Update(read));
        Assert.Equal(2, read.Revision);
        Assert.Equal((3, 2L), (Store.Tokens.Get("aaaaaa")!.UsagesUsed, Store.Tokens.Get("aaaaaa")!.Revision));

        Assert.True(await Store.WriteAsync(s => s.Tokens.Delete("aaaaaa")));
        Assert.False(await Store.WriteAsync(s => s.Tokens.Delete("aaaaaa")));
        Assert.Null(Store.Tokens.Get("aaaaaa"));
    }

    [Fact]
    public async Task Expired_tokens_are_deleted_by_their_expiry_and_the_rest_listed_oldest_first()
    {
        var cutoff = new DateTime(2030, 1, 2, 0, 0, 0, DateTimeKind.Utc);
        await Store.WriteAsync(s =>
        {
            s.Tokens.Insert(Token("expird", cutoff.AddHours(-1)));
            s.Tokens.Insert(Token("future", cutoff.AddHours(1)) );
            s.Tokens.Insert(Token("never0"));
        });
        Assert.Equal(1, await Store.WriteAsync(s => s.Tokens.DeleteExpiredBefore(cutoff)));
        Assert.Equal(["future", "never0"], Store.Tokens.List().Select(t => t.Id).Order());
    }

    [Fact]
    public async Task A_second_insert_under_the_same_key_is_refused_and_changes_nothing()
    {
        await Store.WriteAsync(s => s.Nodes.Insert(Node("n1", phase: "first")));
        await Assert.ThrowsAsync<AlreadyExistsException>(() => Store.WriteAsync(s => s.Nodes.Insert(Node("n1", phase: "second"))));
        Assert.Equal("first", Store.Nodes.Get("n1")!.Phase);
    }

    [Fact]
    public async Task An_update_made_on_a_stale_revision_is_a_conflict_and_changes_nothing()
    {
        await Store.WriteAsync(s => s.Nodes.Insert(Node("n1")));
        var first = Store.Nodes.Get("n1")!;
        var second = Store.Nodes.Get("n1")!;
        first.Phase = "one";
        await Store.WriteAsync(s => s.Nodes.Update(first));
        second.Phase = "two";
        var e = await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Nodes.Update(second)));
        Assert.Contains("n1", e.Message);
        Assert.Equal("one", Store.Nodes.Get("n1")!.Phase);
    }

    [Fact]
    public async Task An_update_of_a_deleted_record_is_a_conflict()
    {
        await Store.WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "p", Generation = 1 }));
        var plan = Store.Plans.Get("p")!;
        await Store.WriteAsync(s => s.Runs.Insert(new RunHistoryRecord { Id = "n:r", Node = "n" }));
        var run = Store.Runs.Get("n:r")!;
        await Store.WriteAsync(s => s.Runs.Delete("n:r"));
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Runs.Update(run)));
        plan.Generation = 2;
        await Store.WriteAsync(s => s.Plans.Update(plan));
        Assert.Equal(2, Store.Plans.Get("p")!.Generation);
    }

    [Fact]
    public async Task Of_concurrent_updates_made_on_the_same_revision_exactly_one_wins()
    {
        await Store.WriteAsync(s => s.Nodes.Insert(Node("n1")));
        const int writers = 8;
        // Each writer read the record before any of them wrote, as coordinators racing on one node would.
        var copies = Enumerable.Range(0, writers).Select(_ => Store.Nodes.Get("n1")!).ToList();
        using var start = new ManualResetEventSlim();
        var attempts = copies.Select((n, i) => Task.Run(async () =>
        {
            start.Wait();
            n.Labels["writer"] = i.ToString();
            try
            {
                await Store.WriteAsync(s => s.Nodes.Update(n));
                return i;
            }
            catch (ConflictException) { return -1; }
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r >= 0);
        var stored = Store.Nodes.Get("n1")!;
        Assert.Equal(winner.ToString(), stored.Labels["writer"]);
        Assert.Equal(2, stored.Revision);
    }

    [Fact]
    public async Task Nodes_are_listed_by_selector_and_status_and_counted_by_status_and_phase()
    {
        await Store.WriteAsync(s =>
        {
            s.Nodes.Insert(Node("w2", labels: ("role", "worker")));
            s.Nodes.Insert(Node("w1", NodeState.Offline, "kubelet-config", ("role", "worker")));
            s.Nodes.Insert(Node("cp", labels: ("role", "control-plane")));
        });
        Assert.Equal(["w1", "w2"], Store.Nodes.List(LabelSelector.Parse("role=worker")).Select(n => n.Name));
        Assert.Equal(["cp", "w1", "w2"], Store.Nodes.List(LabelSelector.Parse("")).Select(n => n.Name));
        Assert.Equal(["cp", "w2"], Store.Nodes.ListByStatus(NodeState.Online).Select(n => n.Name).Order());
        Assert.Equal(3, Store.Nodes.Count());
        var counts = Store.Nodes.CountByStatusAndPhase();
        Assert.Equal(2, counts[(NodeState.Online, "")]);
        Assert.Equal(1, counts[(NodeState.Offline, "kubelet-config")]);
    }

    [Fact]
    public async Task A_nodes_progress_and_last_seen_are_written_alone()
    {
        var seen = new DateTime(2030, 1, 1, 12, 0, 0, DateTimeKind.Utc);
        await Store.WriteAsync(s => s.Nodes.Insert(Node("n1", labels: ("zone", "a"))));
        Assert.Null(await Store.WriteAsync(s => s.Nodes.GetProgress("ghost")));
        await Store.WriteAsync(s =>
        {
            Assert.Equal(new NodeProgress(0, ""), s.Nodes.GetProgress("n1"));
            s.Nodes.SetProgress("n1", new NodeProgress(7, "drain", "0123456789abcdef"));
        });
        Assert.Equal(new NodeProgress(7, "drain", "0123456789abcdef"), await Store.WriteAsync(s => s.Nodes.GetProgress("n1")));
        Assert.True(await Store.WriteAsync(s => s.Nodes.SetLastSeen("n1", seen)));
        Assert.False(await Store.WriteAsync(s => s.Nodes.SetLastSeen("n1", seen.AddSeconds(-1))));
        Assert.False(await Store.WriteAsync(s => s.Nodes.SetLastSeen("ghost", seen)));

        var n = Store.Nodes.Get("n1")!;
        Assert.Equal((7L, "drain", "0123456789abcdef", seen, "a"), (n.LastReportSequence, n.Phase, n.ReportEpoch, n.LastSeen, n.Labels["zone"]));
        // Each is a change: an update made before them is stale.
        Assert.Equal(3, n.Revision);
    }

    [Fact]
    public async Task A_nodes_progress_written_if_unchanged_conflicts_when_another_write_moved_it_or_the_node_is_gone()
    {
        await Store.WriteAsync(s => s.Nodes.Insert(Node("n1")));
        var start = new NodeProgress(0, "");
        var moved = new NodeProgress(3, "drain", "0123456789abcdef");
        await Store.WriteAsync(s => s.Nodes.SetProgressIf("n1", start, moved));
        Assert.Equal(moved, await Store.WriteAsync(s => s.Nodes.GetProgress("n1")));

        // From a memory of the progress that is stale: the write fails, and what it wrote after is not committed (the
        // conflict may be found at once or only at the end of the write).
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s =>
        {
            s.Nodes.SetProgressIf("n1", start, new NodeProgress(4, "x"));
            s.Plans.Insert(new PlanRecord { Name = "beside-a-stale-progress" });
        }));
        Assert.Null(Store.Plans.Get("beside-a-stale-progress"));
        // A phase that another write changed is a change too.
        await Assert.ThrowsAsync<ConflictException>(() =>
            Store.WriteAsync(s => s.Nodes.SetProgressIf("n1", moved with { Phase = "other" }, new NodeProgress(4, "x"))));
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Nodes.SetProgressIf("ghost", start, moved)));
        Assert.Equal(moved, await Store.WriteAsync(s => s.Nodes.GetProgress("n1")));
    }

    [Fact]
    public async Task Runs_of_a_node_are_listed_newest_first()
    {
        var t0 = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await Store.WriteAsync(s =>
        {
            for (var i = 0; i < 5; i++)
                s.Runs.Insert(new RunHistoryRecord { Id = $"n1:r{i}", RunId = $"r{i}", Node = "n1", StartedAt = t0.AddMinutes(i), Steps = [new StepHistoryRecord { Phase = "p", Step = $"s{i}" }] });
            s.Runs.Insert(new RunHistoryRecord { Id = "n2:r9", RunId = "r9", Node = "n2", StartedAt = t0.AddHours(1) });
        });
        var runs = Store.Runs.ListByNode("n1", 3);
        Assert.Equal(["r4", "r3", "r2"], runs.Select(r => r.AgentRunId));
        Assert.Equal("s4", runs[0].Steps.Single().Step);
    }

    [Fact]
    public async Task A_run_updated_step_by_step_reads_back_every_step_in_order()
    {
        StepHistoryRecord Step(string name, int state) => new() { Phase = "p", Step = name, State = state, Message = name };
        await Store.WriteAsync(s => s.Runs.Insert(new RunHistoryRecord { Id = "n1:r", RunId = "r", Node = "n1", Steps = [Step("a", 1), Step("b", 1)] }));
        var run = Store.Runs.Get("n1:r")!;
        run.Steps[1].State = 2;
        run.Steps.Add(Step("c", 1));
        run.State = 1;
        await Store.WriteAsync(s => s.Runs.Update(run));
        // The same record written on (as the report recorder keeps a run in progress): only the first step changed.
        run.Steps[0].Message = "again";
        await Store.WriteAsync(s => s.Runs.Update(run));
        var read = Store.Runs.Get("n1:r")!;
        Assert.Equal(3, read.Revision);
        Assert.Equal(1, read.State);
        Assert.Equal([("a", 1, "again"), ("b", 2, "b"), ("c", 1, "c")], read.Steps.Select(x => (x.Step, x.State, x.Message)));

        // A run deleted meanwhile is a conflict, whatever steps its update changes.
        var stale = Store.Runs.Get("n1:r")!;
        stale.Steps[0].State = 4;
        stale.Steps.Add(Step("d", 1));
        await Store.WriteAsync(s => s.Runs.Delete("n1:r"));
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Runs.Update(stale)));
        Assert.Null(Store.Runs.Get("n1:r"));
    }

    [Fact]
    public async Task The_cluster_record_is_put_and_read()
    {
        Assert.Null(Store.Cluster.Get());
        await Store.WriteAsync(s => s.Cluster.Put(new ClusterRecord { AdvertiseAddress = "10.0.0.1:7443" }));
        await Store.WriteAsync(s => s.Cluster.Put(new ClusterRecord { AdvertiseAddress = "10.0.0.2:7443" }));
        Assert.Equal("10.0.0.2:7443", Store.Cluster.Get()!.AdvertiseAddress);
    }

    [Fact]
    public async Task Kubernetes_clusters_keep_their_kubeconfig_bytes_and_are_listed_by_name_and_removed()
    {
        byte[] kubeconfig = [.. "apiVersion: v1\nkind: Config\n"u8, 0, 0xff, (byte)'\n'];
        var added = new DateTime(2030, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        await Store.WriteAsync(s =>
        {
            s.KubeClusters.Insert(new KubeClusterRecord { Name = "prod", Kubeconfig = kubeconfig, Context = "admin@prod", Server = "https://10.0.0.1:6443", AddedAt = added });
            s.KubeClusters.Insert(new KubeClusterRecord { Name = "dev", Kubeconfig = [1], Server = "https://10.0.0.2:6443", AddedAt = added });
        });
        Assert.Equal(["dev", "prod"], Store.KubeClusters.List().Select(c => c.Name));
        var prod = Store.KubeClusters.Get("prod")!;
        Assert.Equal(kubeconfig, prod.Kubeconfig);
        Assert.Equal(("admin@prod", "https://10.0.0.1:6443", added, 1L), (prod.Context, prod.Server, prod.AddedAt, prod.Revision));
        Assert.Null(Store.KubeClusters.Get("staging"));

        await Assert.ThrowsAsync<AlreadyExistsException>(() => Store.WriteAsync(s =>
            s.KubeClusters.Insert(new KubeClusterRecord { Name = "prod", Kubeconfig = [2] })));
        prod.Kubeconfig = [3];
        await Store.WriteAsync(s => s.KubeClusters.Update(prod));
        var updated = Store.KubeClusters.Get("prod")!;
        Assert.Equal([3], updated.Kubeconfig);
        Assert.Equal(2L, updated.Revision);
        prod.Revision = 1;
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.KubeClusters.Update(prod)));

        Assert.True(await Store.WriteAsync(s => s.KubeClusters.Delete("prod")));
        Assert.False(await Store.WriteAsync(s => s.KubeClusters.Delete("prod")));
        Assert.Equal(["dev"], Store.KubeClusters.List().Select(c => c.Name));
    }

    [Fact]
    public async Task OnCommitted_runs_once_the_write_is_readable()
    {
        var readable = false;
        await Store.WriteAsync(s =>
        {
            s.Tokens.Insert(Token("aaaaaa"));
            s.OnCommitted(() => readable = Store.Tokens.Get("aaaaaa") is not null);
        });
        Assert.True(readable);
    }
}
