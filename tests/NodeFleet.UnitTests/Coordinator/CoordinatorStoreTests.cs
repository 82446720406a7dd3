using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class CoordinatorStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string DbPath => _dir.File(LiteDbStore.FileName);

    private static TokenRecord Token(string id) => new() { Id = id, SecretHash = "h", UsagesLimit = 1 };

    [Fact]
    public async Task Write_returns_its_result_once_committed_and_survives_reopening()
    {
        await using (var store = new LiteDbStore(DbPath))
        {
            var inserted = await store.WriteAsync(s => { var t = Token("aaaaaa"); s.Tokens.Insert(t); return t.Id; });
            Assert.Equal("aaaaaa", inserted);
            Assert.NotNull(store.Tokens.Get("aaaaaa"));
        }
        await using (var store = new LiteDbStore(DbPath))
        {
            Assert.Equal(1, store.Tokens.Get("aaaaaa")!.UsagesLimit);
        }
    }

    [Fact]
    public async Task Failing_write_is_reported_to_its_caller_alone_and_the_batch_commits()
    {
        await using var store = new LiteDbStore(DbPath);
        using var gate = new ManualResetEventSlim();
        // Hold the writer so the following writes queue up and run as one batch.
        var blocker = store.WriteAsync(_ => gate.Wait(TimeSpan.FromSeconds(10)));
        var a = store.WriteAsync(s => s.Tokens.Insert(Token("aaaaaa")));
        var bad = store.WriteAsync(new Func<IStoreWriter, int>(_ => throw new InvalidOperationException("refused")));
        var b = store.WriteAsync(s => s.Tokens.Insert(Token("bbbbbb")));
        gate.Set();

        Assert.True(await blocker);
        await a;
        await b;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => bad);
        Assert.Equal("refused", e.Message);
        Assert.Equal(2, store.Tokens.List().Count);
    }

    [Fact]
    public async Task Dispose_completes_queued_writes_first()
    {
        var store = new LiteDbStore(DbPath);
        var writes = Enumerable.Range(0, 100)
            .Select(i => store.WriteAsync(s => s.Events.Add(new EventRecord { Node = "n", Reason = $"r{i}", Time = DateTime.UtcNow })))
            .ToList();
        await store.DisposeAsync();
        Assert.All(writes, w => Assert.True(w.IsCompletedSuccessfully));

        await using var reopened = new LiteDbStore(DbPath);
        Assert.Equal(100, reopened.Events.Newest(new EventQuery(1000)).Count);
    }

    [Fact]
    public async Task Write_after_dispose_is_refused()
    {
        var store = new LiteDbStore(DbPath);
        await store.DisposeAsync();
        await store.DisposeAsync(); // idempotent
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.WriteAsync(_ => 1));
    }

    [Fact]
    public async Task Writes_complete_in_order()
    {
        await using var store = new LiteDbStore(DbPath);
        var order = new List<int>();
        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => store.WriteAsync(_ => order.Add(i))));
        Assert.Equal(Enumerable.Range(0, 50), order);
    }
}
