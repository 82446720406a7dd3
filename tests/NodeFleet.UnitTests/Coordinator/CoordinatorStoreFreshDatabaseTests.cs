using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// A fresh coordinator's first joins arrive together: the first write to a collection must not be able to race a
/// reader of it (LiteDB 5 publishes a new collection in its header before the collection's first page exists, and a
/// reader that sees it fails with "page type must be collection page", after which the engine refuses every call).
/// </summary>
public sealed class CoordinatorStoreFreshDatabaseTests
{
    private static readonly string[] Collections = ["nodes", "plans", "tokens", "events", "runs", "rollouts"];

    [Fact]
    public async Task Every_collection_exists_as_soon_as_the_store_is_open()
    {
        using var dir = new TempDir();
        var path = dir.File(LiteDbStore.FileName);
        await (new LiteDbStore(path)).DisposeAsync();

        using var db = new LiteDB.LiteDatabase(path);
        foreach (var name in Collections) Assert.True(db.CollectionExists(name), $"collection {name} missing");
    }

    [Fact]
    public async Task First_writes_to_a_fresh_database_while_others_read_the_same_collections_all_succeed()
    {
        for (var round = 0; round < 10; round++)
        {
            using var dir = new TempDir();
            await using var store = new LiteDbStore(dir.File(LiteDbStore.FileName));
            using var stop = new CancellationTokenSource();
            var readers = Enumerable.Range(0, 4).Select(r => Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    store.Nodes.Get($"node-{r}");
                    store.Plans.Get("plan");
                    store.Runs.Get("run");
                }
            })).ToList();
            var writes = Enumerable.Range(0, 32).Select(i => store.WriteAsync(s =>
            {
                s.Nodes.Insert(new NodeRecord { Name = $"node-{i}" });
                s.Plans.Insert(new PlanRecord { Name = $"plan-{i}" });
                s.Runs.Insert(new RunHistoryRecord { Id = $"run-{i}", Node = $"node-{i}" });
            })).ToList();
            await Task.WhenAll(writes);
            stop.Cancel();
            await Task.WhenAll(readers);
            Assert.Equal(32, store.Nodes.Count());
            Assert.True(store.IsOpen);
        }
    }
}
