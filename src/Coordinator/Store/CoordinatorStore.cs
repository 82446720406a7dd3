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
    // Set only while the writer runs a batch's writes; read and changed on the writer alone.
    private List<Action>? _afterCommit;
    private int _writerThread;

    public CoordinatorStore(string path)
    {
        // The default mapper turns "" into null and trims strings; stored values must read back as written.
        var mapper = NodeFleet.IO.LiteDbMapping.Create(
            new TokenRecord(), new NodeRecord { Labels = { ["k"] = "v" } }, new EventRecord(), new ClusterRecord(),
            new PlanRecord(), new RunHistoryRecord { Steps = { new StepHistoryRecord() } },
            new NodeFleet.Coordinator.Rollouts.RolloutRecord { Nodes = { new() }, PhaseDeadlinesMs = { ["p"] = 1 }, IgnorePreflightErrors = { "x" } });
        _db = NodeFleet.IO.LiteDbFiles.Open(path, "the coordinator's database", () =>
        {
            var db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
            try
            {
                CreateCollections(db);
                return db;
            }
            catch
            {
                db.Dispose();
                throw;
            }
        });
        _writer = Task.Run(WriteLoop);
    }

    private static void CreateCollections(LiteDatabase db)
    {
        db.UtcDate = true;
        // Every collection exists before the database is shared. LiteDB 5 adds a new collection to its header page in
        // place, where a reader on another thread can see it before its first page is written ("page type must be
        // collection page"), and after that error the engine refuses every further call: a fresh coordinator whose
        // first joins arrive together would be left unable to write. An index creates its collection.
        db.GetCollection<NodeRecord>("nodes").EnsureIndex(n => n.Status);
        db.GetCollection<PlanRecord>("plans").EnsureIndex(p => p.UpdatedAt);
        db.GetCollection<TokenRecord>("tokens").EnsureIndex(t => t.ExpiresAt);
        db.GetCollection<EventRecord>("events").EnsureIndex(e => e.Node);
        db.GetCollection<EventRecord>("events").EnsureIndex(e => e.Time);
        db.GetCollection<EventRecord>("events").EnsureIndex(e => e.Rollout);
        db.GetCollection<RunHistoryRecord>("runs").EnsureIndex(r => r.Node);
        // The rollout controller looks for active rollouts four times a second; a rollout record holds every node of
        // it, so without an index each look would read every finished rollout in full.
        db.GetCollection<NodeFleet.Coordinator.Rollouts.RolloutRecord>("rollouts").EnsureIndex(r => r.State);
    }

    public ILiteCollection<TokenRecord> Tokens => _db.GetCollection<TokenRecord>("tokens");
    public ILiteCollection<NodeRecord> Nodes => _db.GetCollection<NodeRecord>("nodes");
    /// <summary>The same collection as <see cref="Nodes"/>, as documents: for writes that change a field or two on a hot path.</summary>
    public ILiteCollection<BsonDocument> NodeDocuments => _db.GetCollection("nodes");
    public ILiteCollection<EventRecord> Events => _db.GetCollection<EventRecord>("events");
    public ILiteCollection<ClusterRecord> Cluster => _db.GetCollection<ClusterRecord>("cluster");
    public ILiteCollection<PlanRecord> Plans => _db.GetCollection<PlanRecord>("plans");
    public ILiteCollection<RunHistoryRecord> Runs => _db.GetCollection<RunHistoryRecord>("runs");
    public ILiteCollection<NodeFleet.Coordinator.Rollouts.RolloutRecord> Rollouts =>
        _db.GetCollection<NodeFleet.Coordinator.Rollouts.RolloutRecord>("rollouts");

    private static readonly BsonValue[] ActiveRolloutStates = Enum.GetValues<NodeFleet.Coordinator.Rollouts.RolloutState>()
        .Where(NodeFleet.Coordinator.Rollouts.RolloutTransitions.IsActive).Select(s => new BsonValue(s.ToString())).ToArray();

    /// <summary>Rollouts not yet over, through the State index (finished records are not read).</summary>
    public List<NodeFleet.Coordinator.Rollouts.RolloutRecord> ActiveRollouts() =>
        Rollouts.Find(Query.In(nameof(NodeFleet.Coordinator.Rollouts.RolloutRecord.State), ActiveRolloutStates)).ToList();

    /// <summary>Runs <paramref name="write"/> on the writer and completes once it is committed.</summary>
    public Task<T> WriteAsync<T>(Func<CoordinatorStore, T> write)
    {
        var w = new Write<T>(write);
        if (!_writes.Writer.TryWrite(w)) throw new ObjectDisposedException(nameof(CoordinatorStore));
        return w.Completion.Task;
    }

    public Task WriteAsync(Action<CoordinatorStore> write) => WriteAsync(s => { write(s); return true; });

    /// <summary>
    /// Called (once, on the writer) when the database engine has stopped itself and nothing more can be written; the
    /// host stops the process so that its supervisor restarts it.
    /// </summary>
    public Action<Exception>? Fatal { get; set; }

    /// <summary>False once the store is disposed or its writer has stopped: nothing more can be written.</summary>
    public bool IsOpen => Volatile.Read(ref _disposed) == 0 && !_writer.IsCompleted;

    /// <summary>
    /// Called from inside a <see cref="WriteAsync{T}"/> lambda: runs <paramref name="action"/> once the batch holding
    /// that write has committed (on the writer, before the write's task completes), and never if the batch is rolled
    /// back. This is how something observed outside the database — an event on the bus, a metric — follows only
    /// what is on disk. Actions must be quick and must not write to the store.
    /// </summary>
    public void OnCommitted(Action action)
    {
        if (_afterCommit is null || Environment.CurrentManagedThreadId != Volatile.Read(ref _writerThread))
            throw new InvalidOperationException("OnCommitted can only be called inside a WriteAsync lambda");
        _afterCommit.Add(action);
    }

    private async Task WriteLoop()
    {
        var batch = new List<IWrite>(256);
        var afterCommit = new List<Action>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            afterCommit.Clear();
            while (batch.Count < 512 && _writes.Reader.TryRead(out var w)) batch.Add(w);
            _db.BeginTrans();
            Volatile.Write(ref _writerThread, Environment.CurrentManagedThreadId);
            _afterCommit = afterCommit;
            try
            {
                foreach (var w in batch) w.Run(this);
            }
            finally
            {
                _afterCommit = null;
                Volatile.Write(ref _writerThread, 0);
            }
            try
            {
                _db.Commit();
                // Changes a write made before it threw are committed too, so its actions run like the others.
                foreach (var action in afterCommit) RunAfterCommit(action);
                foreach (var w in batch) w.Complete();
            }
            catch (Exception e)
            {
                try { _db.Rollback(); }
                catch (LiteException broken)
                {
                    // The engine refuses even a rollback: it has stopped itself after an inconsistency and will refuse
                    // every call from now on. Nothing more can be written; the process must restart (the write-ahead
                    // log keeps what was committed).
                    foreach (var w in batch) w.Fail(e);
                    _writes.Writer.TryComplete(broken);
                    Fatal?.Invoke(broken);
                    return;
                }
                foreach (var w in batch) w.Fail(e);
            }
        }
    }

    private static void RunAfterCommit(Action action)
    {
        // The data is committed whatever an observer does; one that throws must not fail the writes or stop the writer.
        try { action(); }
        catch (Exception e) { System.Diagnostics.Trace.TraceError($"after-commit action failed: {e}"); }
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
