using System.Threading.Channels;
using LiteDB;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// The coordinator's store in one LiteDB file. Reads go straight to the database; every write goes through one writer
/// task, which commits a batch of queued writes in one transaction and only then completes their tasks, so a caller
/// acknowledges nothing that is not on disk. One process holds the file (the data directory's lock), so leases are
/// trivially this process's, but they are kept with their expiry and fencing tokens like any other store's.
/// </summary>
public sealed partial class LiteDbStore : ICoordinatorStore
{
    public const string FileName = "coordinator.db";

    private readonly LiteDatabase _db;
    private readonly Channel<QueuedWrite> _writes = Channel.CreateUnbounded<QueuedWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private readonly Writer _tx;
    private int _disposed;
    // Set only while the writer runs a batch's writes; read and changed on the writer alone.
    private List<Action>? _afterCommit;
    private int _writerThread;

    /// <param name="time">The clock of leases.</param>
    public LiteDbStore(string path, TimeProvider? time = null)
    {
        var mapper = LiteDbSchema.Mapper();
        _path = Path.GetFullPath(path);
        _logSync = new NodeFleet.IO.LiteDbLogSync(path);
        _db = NodeFleet.IO.LiteDbFiles.Open(path, "the coordinator's database", () =>
        {
            var db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
            try
            {
                LiteDbSchema.Prepare(db, path);
                return db;
            }
            catch
            {
                db.Dispose();
                throw;
            }
        }, db => CheckCheckpoint(db, path));
        // LiteDB copies its log into the database every 1,000 pages (8 MiB) by default; half that keeps the log, which
        // a copy of the database alone would miss, smaller. The timer (StartCheckpoints) bounds it in time.
        _db.CheckpointSize = 500;
        MarkInUse();
        var tables = new Tables(_db);
        Tokens = tables.Tokens;
        Nodes = tables.Nodes;
        Plans = tables.Plans;
        Runs = tables.Runs;
        Rollouts = tables.Rollouts;
        Events = tables.Events;
        Cluster = tables.Cluster;
        KubeClusters = tables.KubeClusters;
        Revocations = tables.Revocations;
        OperatorCertificates = tables.OperatorCertificates;
        Coordinators = tables.Coordinators;
        Windows = tables.Windows;
        Authorities = tables.Authorities;
        var leases = new LiteDbLeases(this, _db.GetCollection(LiteDbSchema.LeasesCollection), time ?? TimeProvider.System);
        Leases = leases;
        Outbox = new LiteDbOutbox(this, _db.GetCollection(LiteDbSchema.OutboxCollection), _db.GetCollection(LiteDbSchema.CountersCollection),
            time ?? TimeProvider.System);
        _tx = new Writer(this, tables, leases);
        _writer = Task.Run(WriteLoop);
    }

    /// <summary>
    /// Opens the file, turning the engine's own errors into I/O errors (a file locked by another process, say) so that
    /// callers outside the store need not know LiteDB.
    /// </summary>
    public static LiteDbStore Open(string path, TimeProvider? time = null)
    {
        try { return new LiteDbStore(path, time); }
        catch (LiteException e) { throw new IOException(e.Message, e); }
    }

    public ITokenReads Tokens { get; }
    public INodeReads Nodes { get; }
    public IPlanReads Plans { get; }
    public IRunReads Runs { get; }
    public IRolloutReads Rollouts { get; }
    public IEventReads Events { get; }
    public IClusterReads Cluster { get; }
    public IKubeClusterReads KubeClusters { get; }
    public IRevocationReads Revocations { get; }
    public IOperatorCertificateReads OperatorCertificates { get; }
    public IWindowReads Windows { get; }
    public ICertificateAuthorityReads Authorities { get; }
    public ILeases Leases { get; }
    public ICoordinatorReads Coordinators { get; }
    public IOutbox Outbox { get; }

    /// <summary>Runs <paramref name="write"/> on the writer and completes once it is committed.</summary>
    public Task<T> WriteAsync<T>(Func<IStoreWriter, T> write)
    {
        var w = new QueuedWrite<T>(write);
        if (!_writes.Writer.TryWrite(w)) throw new ObjectDisposedException(nameof(LiteDbStore));
        return w.Completion.Task;
    }

    public Task WriteAsync(Action<IStoreWriter> write) => WriteAsync(s => { write(s); return true; });

    /// <summary>
    /// Called (once, on the writer) when the database engine has stopped itself and nothing more can be written; the
    /// host stops the process so that its supervisor restarts it.
    /// </summary>
    public Action<Exception>? Fatal { get; set; }

    /// <summary>False once the store is disposed or its writer has stopped: nothing more can be written.</summary>
    public bool IsOpen => Volatile.Read(ref _disposed) == 0 && !_writer.IsCompleted;

    /// <summary>
    /// Runs <paramref name="action"/> once the batch holding the current write has committed (on the writer, before
    /// the write's task completes), and never if the batch is rolled back.
    /// </summary>
    private void OnCommitted(Action action)
    {
        if (_afterCommit is null || Environment.CurrentManagedThreadId != Volatile.Read(ref _writerThread))
            throw new InvalidOperationException("OnCommitted can only be called inside a WriteAsync lambda");
        _afterCommit.Add(action);
    }

    private async Task WriteLoop()
    {
        var batch = new List<QueuedWrite>(256);
        var afterCommit = new List<Action>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            afterCommit.Clear();
            while (batch.Count < 512 && _writes.Reader.TryRead(out var w)) batch.Add(w);
            _checkpoint = null;
            _db.BeginTrans();
            Volatile.Write(ref _writerThread, Environment.CurrentManagedThreadId);
            _afterCommit = afterCommit;
            try
            {
                foreach (var w in batch) w.Run(_tx);
            }
            finally
            {
                _afterCommit = null;
                Volatile.Write(ref _writerThread, 0);
            }
            try
            {
                _db.Commit();
                // On the disk, not only in the operating system's cache, before anything is acknowledged.
                SyncLog();
                if (_checkpoint is { } checkpoint) RunCheckpoint(checkpoint);
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
        StopCheckpoints();
        // A last checkpoint: the database file alone then holds everything committed.
        if (!_writer.IsCompleted)
        {
            try { await CloseCheckpointAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is LiteException or IOException or ObjectDisposedException or ChannelClosedException) { }
        }
        _writes.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        _db.Dispose();
        _logSync.Dispose();
    }

    /// <summary>The tables, shared by reads and writes (writes reach them only through the writer).</summary>
    private sealed class Tables(LiteDatabase db)
    {
        public LiteDbTokens Tokens { get; } = new(db);
        public LiteDbNodes Nodes { get; } = new(db);
        public LiteDbPlans Plans { get; } = new(db);
        public LiteDbRuns Runs { get; } = new(db);
        public LiteDbRollouts Rollouts { get; } = new(db);
        public LiteDbEvents Events { get; } = new(db);
        public LiteDbCluster Cluster { get; } = new(db);
        public LiteDbKubeClusters KubeClusters { get; } = new(db);
        public LiteDbRevocations Revocations { get; } = new(db);
        public LiteDbOperatorCertificates OperatorCertificates { get; } = new(db);
        public LiteDbCoordinators Coordinators { get; } = new(db);
        public LiteDbRolloutReports RolloutReports { get; } = new(db);
        public LiteDbWindows Windows { get; } = new(db);
        public LiteDbAuthorities Authorities { get; } = new(db);
    }

    /// <summary>What a write lambda is given: runs only on the writer, inside its batch's transaction.</summary>
    private sealed class Writer(LiteDbStore store, Tables tables, LiteDbLeases leases) : IStoreWriter
    {
        public ITokens Tokens => tables.Tokens;
        public INodes Nodes => tables.Nodes;
        public IPlans Plans => tables.Plans;
        public IRuns Runs => tables.Runs;
        public IRollouts Rollouts => tables.Rollouts;
        public IEvents Events => tables.Events;
        public ICluster Cluster => tables.Cluster;
        public IKubeClusters KubeClusters => tables.KubeClusters;
        public IRevocations Revocations => tables.Revocations;
        public IOperatorCertificates OperatorCertificates => tables.OperatorCertificates;
        public ICoordinators Coordinators => tables.Coordinators;
        public IRolloutReports RolloutReports => tables.RolloutReports;
        public IWindows Windows => tables.Windows;
        public ICertificateAuthorities Authorities => tables.Authorities;
        public void OnCommitted(Action action) => store.OnCommitted(action);
        public void RequireLease(Lease lease) => leases.Require(lease);
    }
}
