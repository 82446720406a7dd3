using System.Threading.Channels;
using LiteDB;

namespace NodeFleet.Coordinator.Store;

/// <summary>
/// The coordinator's LiteDB file. Reads go straight to the database; every write goes through one writer task,
/// which commits a batch of queued writes in one transaction and only then completes their tasks, so a caller
/// acknowledges nothing that is not on disk.
/// </summary>
public sealed class CoordinatorStore : IAsyncDisposable, IDisposable
{
    public const string FileName = "coordinator.db";

    private readonly LiteDatabase _db;
    private readonly Channel<IWrite> _writes = Channel.CreateUnbounded<IWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private int _disposed;

    public CoordinatorStore(string path)
    {
        // The default mapper turns "" into null and trims strings; stored values must read back as written.
        var mapper = NodeFleet.IO.LiteDbMapping.Create(
            new TokenRecord(), new NodeRecord { Labels = { ["k"] = "v" } }, new EventRecord(), new ClusterRecord(),
            new PlanRecord(), new RunHistoryRecord { Steps = { new StepHistoryRecord() } });
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
        _db.UtcDate = true;
        Tokens.EnsureIndex(t => t.ExpiresAt);
        Events.EnsureIndex(e => e.Node);
        Events.EnsureIndex(e => e.Time);
        Runs.EnsureIndex(r => r.Node);
        _writer = Task.Run(WriteLoop);
    }

    public ILiteCollection<TokenRecord> Tokens => _db.GetCollection<TokenRecord>("tokens");
    public ILiteCollection<NodeRecord> Nodes => _db.GetCollection<NodeRecord>("nodes");
    public ILiteCollection<EventRecord> Events => _db.GetCollection<EventRecord>("events");
    public ILiteCollection<ClusterRecord> Cluster => _db.GetCollection<ClusterRecord>("cluster");
    public ILiteCollection<PlanRecord> Plans => _db.GetCollection<PlanRecord>("plans");
    public ILiteCollection<RunHistoryRecord> Runs => _db.GetCollection<RunHistoryRecord>("runs");

    /// <summary>Runs <paramref name="write"/> on the writer and completes once it is committed.</summary>
    public Task<T> WriteAsync<T>(Func<CoordinatorStore, T> write)
    {
        var w = new Write<T>(write);
        if (!_writes.Writer.TryWrite(w)) throw new ObjectDisposedException(nameof(CoordinatorStore));
        return w.Completion.Task;
    }

    public Task WriteAsync(Action<CoordinatorStore> write) => WriteAsync(s => { write(s); return true; });

    private async Task WriteLoop()
    {
        var batch = new List<IWrite>(256);
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < 512 && _writes.Reader.TryRead(out var w)) batch.Add(w);
            _db.BeginTrans();
            foreach (var w in batch) w.Run(this);
            try
            {
                _db.Commit();
                foreach (var w in batch) w.Complete();
            }
            catch (Exception e)
            {
                try { _db.Rollback(); } catch (LiteException) { }
                foreach (var w in batch) w.Fail(e);
            }
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _writes.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        _db.Dispose();
    }

    private interface IWrite
    {
        void Run(CoordinatorStore store);
        void Complete();
        void Fail(Exception e);
    }

    /// <summary>
    /// A queued write. A write that throws is reported to its caller alone; writes validate before they
    /// change anything, so the rest of its batch still commits.
    /// </summary>
    private sealed class Write<T>(Func<CoordinatorStore, T> run) : IWrite
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T _result = default!;
        private Exception? _error;

        public void Run(CoordinatorStore store)
        {
            try { _result = run(store); }
            catch (Exception e) { _error = e; }
        }

        public void Complete()
        {
            if (_error is null) Completion.TrySetResult(_result);
            else Completion.TrySetException(_error);
        }

        public void Fail(Exception e) => Completion.TrySetException(e);
    }
}
