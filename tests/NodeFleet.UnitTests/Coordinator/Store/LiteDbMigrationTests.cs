using LiteDB;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Labels;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>
/// A coordinator.db written by the coordinator before per-node rollout states were stored apart (store version 1):
/// three joined nodes, a token, a plan, and a rollout in progress (w1 succeeded, w2 running in kubelet-config, w3 pending).
/// </summary>
public sealed class LiteDbMigrationTests : IDisposable
{
    private const string RolloutId = "minimal-20300101-120000-4102";
    private readonly TempDir _dir = new();
    private readonly string _path;

    public LiteDbMigrationTests()
    {
        _path = _dir.File(LiteDbStore.FileName);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Coordinator", "Store", "testdata", "coordinator-v1-rollout-in-progress.db"), _path);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_version_1_database_opens_with_its_rollout_in_progress_intact()
    {
        await using (var store = new LiteDbStore(_path))
        {
            AssertRolloutInProgress(store);
            Assert.Equal(["w1", "w2", "w3"], store.Nodes.List(LabelSelector.Parse("role=worker")).Select(n => n.Name));
            Assert.Single(store.Tokens.List());
            Assert.Single(store.Plans.List());
            Assert.Contains(store.Events.Newest(new EventQuery(100)), e => e.Reason == "RolloutCreated" && e.Rollout == RolloutId);
            Assert.Equal(["w2"], store.Rollouts.ActiveMemberships(["w2"]).Select(m => m.Node));

            // It goes on: one node's progress, written and read back after a restart.
            var r = store.Rollouts.Get(RolloutId)!;
            r.Node("w2")!.State = RolloutNodeState.Succeeded;
            await store.WriteAsync(s => s.Rollouts.Update(r));
        }
        await using (var store = new LiteDbStore(_path))
        {
            var r = store.Rollouts.Get(RolloutId)!;
            Assert.Equal([RolloutNodeState.Succeeded, RolloutNodeState.Succeeded, RolloutNodeState.Pending], r.Nodes.Select(n => n.State));
        }

        // The layout on disk: the rollout document holds no nodes; each node has its own document.
        using var db = new LiteDatabase(new ConnectionString { Filename = _path, Connection = ConnectionType.Direct });
        Assert.False(db.GetCollection("rollouts").FindById(RolloutId).ContainsKey("Nodes"));
        Assert.Equal(3, db.GetCollection("rollout_nodes").Count());
        Assert.Equal(LiteDbSchema.Version, db.GetCollection("meta").FindById("schema")["Version"].AsInt32);
    }

    [Fact]
    public async Task A_rollout_stored_before_gates_existed_loads_with_none_and_keeps_gates_written_since()
    {
        await using (var store = new LiteDbStore(_path))
        {
            var r = store.Rollouts.Get(RolloutId)!;
            Assert.False(r.Gates.Any);
            Assert.Equal((-1, "", "", 0), (r.Gates.Wave, r.Gates.BlockingPods, r.Gates.PausedBy, r.Gates.MaxUnavailablePer.Count));
            Assert.All(r.Nodes, n => Assert.Equal(("", 0), (n.Held, n.Topology.Count)));
            r.Gates.SoakMs = 60_000;
            await store.WriteAsync(s => s.Rollouts.Update(r));
        }
        await using (var store = new LiteDbStore(_path))
            Assert.Equal(60_000, store.Rollouts.Get(RolloutId)!.Gates.SoakMs);
    }

    [Fact]
    public async Task A_database_written_by_a_newer_coordinator_is_refused_unchanged()
    {
        await (new LiteDbStore(_path)).DisposeAsync();
        using (var db = new LiteDatabase(new ConnectionString { Filename = _path, Connection = ConnectionType.Direct }))
            db.GetCollection("meta").Upsert(new BsonDocument { ["_id"] = "schema", ["Version"] = LiteDbSchema.Version + 1 });
        var e = Assert.Throws<InvalidDataException>(() => new LiteDbStore(_path));
        Assert.Contains(_path, e.Message);
        Assert.Contains($"written by a newer coordinator (store version {LiteDbSchema.Version + 1}", e.Message);
    }

    private static void AssertRolloutInProgress(ICoordinatorStore store)
    {
        var r = Assert.Single(store.Rollouts.ListActive());
        Assert.Equal((RolloutId, RolloutState.Rolling, 1, "minimal"), (r.Id, r.State, r.CurrentWave, r.PlanName));
        Assert.Equal(["w1", "w2", "w3"], r.Nodes.Select(n => n.Name));
        Assert.Equal([RolloutNodeState.Succeeded, RolloutNodeState.Running, RolloutNodeState.Pending], r.Nodes.Select(n => n.State));
        Assert.Equal(("run-w2", "kubelet-config"), (r.Node("w2")!.RunId, r.Node("w2")!.Phase));
        Assert.Equal([0, 1, 2], r.Nodes.Select(n => n.Wave));
        Assert.NotEmpty(r.Plan);
    }
}
