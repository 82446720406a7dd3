using System.Net.Sockets;
using System.Security.Authentication;
using System.Threading.Channels;
using Npgsql;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// The coordinator's store on PostgreSQL, which several coordinators may share. Reads take a pooled connection per
/// statement and see what is committed. Writes are queued to a few writers; each writer commits what queued while it
/// was busy in one transaction on one connection (READ COMMITTED), as the LiteDB writer does: one commit and one flush
/// of the log for many writes, which is what a burst of reports needs. A lambda's statements run in that transaction
/// (inside a savepoint of its own when it shares it), a compare-and-swap is an UPDATE … WHERE revision = the one read,
/// and the task completes once the transaction has committed; a lambda that throws rolls back all it did, and the
/// error goes to that caller alone. Nothing outside this folder sees an Npgsql type: a database failure is an
/// IOException that names the store without its password.
/// </summary>
public sealed partial class PostgresStore : ICoordinatorStore
{
    /// <summary>
    /// Write transactions open at once: each holds a connection and, while its lambdas run, a thread. Two, not more: a
    /// writer that is busy makes the next group larger (fewer commits, fewer database backends woken per write), and a
    /// burst of reports on one core was answered sooner with two than with four (BENCHMARKS.md, "Report burst on
    /// PostgreSQL: steps as rows…").
    /// </summary>
    internal const int Writers = 2;

    /// <summary>
    /// Writes committed together at most: what queued while the writers were busy goes in one transaction (one commit,
    /// one flush of the log). Each is a subtransaction; PostgreSQL keeps up to 64 of a transaction in shared memory.
    /// </summary>
    internal const int MaxBatch = 32;

    private readonly NpgsqlDataSource _source;
    private readonly TimeProvider? _clock;
    // A writer waiting for work is woken by the caller that queues it, on the caller's thread (see WaitForWrites).
    private readonly Channel<QueuedWrite> _queue =
        Channel.CreateUnbounded<QueuedWrite>(new UnboundedChannelOptions { AllowSynchronousContinuations = true });
    private readonly Task[] _writers;
    private int _disposed;
    private readonly PgSession _reads;

    /// <summary>pg_database_size of the database: the coordinator's tables and whatever else it holds.</summary>
    public long SizeBytes() => _reads.Rows(_reads.Command("SELECT pg_database_size(current_database())"), r => r.GetInt64(0))[0];

    private PostgresStore(NpgsqlDataSource source, TimeProvider? clock, string display)
    {
        _source = source;
        _clock = clock;
        Display = display;
        var reads = new PgSession(source, display);
        _reads = reads;
        Tokens = new PgTokens(reads);
        Nodes = new PgNodes(reads);
        Plans = new PgPlans(reads);
        Runs = new PgRuns(reads, null);
        Rollouts = new PgRollouts(reads, null);
        Events = new PgEvents(reads);
        Cluster = new PgCluster(reads);
        KubeClusters = new PgKubeClusters(reads);
        Revocations = new PgRevocations(reads);
        OperatorCertificates = new PgOperatorCertificates(reads);
        Windows = new PgWindows(reads);
        Authorities = new PgAuthorities(reads);
        Leases = new PgLeases(source, clock, display);
        Coordinators = new PgCoordinators(reads);
        _outbox = new PgOutbox(source, clock, display);
        // Threads of their own: a writer blocks on its statements, which must not take the thread pool's threads from the
        // streams and calls (on a small machine the pool then waits to grow, and every call waits with it).
        _writers = Enumerable.Range(0, Writers)
            .Select(_ => Task.Factory.StartNew(WriteLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
    }

    private readonly PgOutbox _outbox;
    public IOutbox Outbox => _outbox;

    /// <summary>
    /// Connects to the database <paramref name="setting"/> names (a postgres:// URL or an Npgsql key=value string, see
    /// <see cref="PostgresConnection"/>) and brings its schema to this coordinator's version.
    /// </summary>
    /// <param name="leaseClock">
    /// The clock of leases; null (in production) for the database's own, so that the coordinators' clocks may differ.
    /// Tests that move time by hand give theirs.
    /// </param>
    /// <exception cref="FormatException">The setting cannot be read.</exception>
    /// <exception cref="IOException">The database cannot be reached or refused us (the message names it, without password).</exception>
    /// <exception cref="InvalidDataException">The schema is newer than this coordinator's.</exception>
    public static async Task<PostgresStore> OpenAsync(string setting, TimeProvider? leaseClock = null, CancellationToken ct = default)
    {
        var connection = PostgresConnection.Parse(setting);
        var source = new NpgsqlDataSourceBuilder(connection.Builder.ConnectionString).Build();
        try
        {
            await PostgresSchema.MigrateAsync(source, connection.Display, ct).ConfigureAwait(false);
            return new PostgresStore(source, leaseClock, connection.Display);
        }
        catch (Exception e)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            if (e is NpgsqlException db) throw new IOException($"{connection.Display}: {Reason(db)}", e);
            throw;
        }
    }

    /// <summary>Where the store is, for messages (no password).</summary>
    public string Display { get; }

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

    public bool IsOpen => Volatile.Read(ref _disposed) == 0;

    /// <summary>Never called: a lost connection is not the end of the store; the next write connects again.</summary>
    public Action<Exception>? Fatal { get; set; }

    public Task<T> WriteAsync<T>(Func<IStoreWriter, T> write)
    {
        ObjectDisposedException.ThrowIf(!IsOpen, this);
        var w = new QueuedWrite<T>(write);
        if (!_queue.Writer.TryWrite(w)) throw new ObjectDisposedException(nameof(PostgresStore));
        return w.Completion.Task;
    }

    private void WriteLoop()
    {
        var batch = new List<QueuedWrite>(MaxBatch);
        using var woken = new ManualResetEventSlim(false, spinCount: 0);
        while (WaitForWrites(woken))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var w)) batch.Add(w);
            if (batch.Count > 0) Commit(batch);
        }
    }

    /// <summary>
    /// Blocks the writer until a write is queued (false: the store is closing), without spinning first: on a machine of
    /// one or two cores, where the coordinator shares them with PostgreSQL, a writer that spins or yields before it
    /// sleeps takes the core from the processes that would give it work.
    /// </summary>
    private bool WaitForWrites(ManualResetEventSlim woken)
    {
        var wait = _queue.Reader.WaitToReadAsync();
        if (wait.IsCompleted) return wait.Result;
        woken.Reset();
        var awaiter = wait.GetAwaiter();
        awaiter.UnsafeOnCompleted(woken.Set);
        woken.Wait();
        return awaiter.GetResult();
    }

    /// <summary>
    /// Runs the writes of <paramref name="batch"/> in one transaction and completes their callers once it has committed.
    /// With several, each runs inside a savepoint: one that throws, or leaves the transaction failed, is rolled back to
    /// it and fails alone, and the others still commit.
    /// </summary>
    private void Commit(List<QueuedWrite> batch)
    {
        try
        {
            using (var conn = _source.OpenConnection())
            using (var tx = conn.BeginTransaction())
            {
                var db = new PgSession(conn, tx);
                // Alone, a write that fails is undone by not committing; its caller gets its own error below.
                if (batch.Count == 1)
                {
                    if (batch[0].Run(new Writer(db, batch[0].AfterCommit, _clock))) Finish(db, batch[0]);
                }
                else
                {
                    for (var i = 0; i < batch.Count; i++)
                    {
                        var w = batch[i];
                        // Sent with the write's first statement: the write before it is over (checked), its savepoint
                        // released, and this one's set.
                        db.Mark();
                        if (i > 0) db.Defer(db.Command("RELEASE SAVEPOINT w"));
                        db.Defer(db.Command("SAVEPOINT w"));
                        if (w.Run(new Writer(db, w.AfterCommit, _clock))) Finish(db, w);
                        if (w.Error is not null) Undo(db, w);
                    }
                }
                if (batch.Any(w => w.Error is null)) tx.Commit();
            }
        }
        catch (Exception e)
        {
            // Nothing committed: each caller gets its own error, or the one that stopped the transaction.
            var error = Mapped(e);
            foreach (var w in batch) w.Error ??= error;
        }
        foreach (var w in batch)
        {
            if (w.Error is null) foreach (var action in w.AfterCommit) RunAfterCommit(action);
            else w.Error = Mapped(w.Error);
        }
        foreach (var w in batch) w.Complete();
    }

    /// <summary>
    /// Sends what the write queued to be sent at its end and runs their checks; a failure there (a conflict, say), or
    /// a statement of the write that failed under a lambda that caught it, is the write's.
    /// </summary>
    private static void Finish(PgSession db, QueuedWrite w)
    {
        try
        {
            if (db.Failed)
                throw new IOException("a statement of this write failed and the write caught it; nothing of it was committed");
            db.Flush();
        }
        catch (Exception e)
        {
            w.Error = e;
        }
    }

    /// <summary>Rolls the transaction back to before <paramref name="w"/>, which failed: nothing of it is committed.</summary>
    private static void Undo(PgSession db, QueuedWrite w)
    {
        w.AfterCommit.Clear();
        db.Discard();
        // Nothing of it reached the database when its savepoint was still waiting to be sent.
        if (!db.SentSinceMark) return;
        db.Execute(db.Command("ROLLBACK TO SAVEPOINT w"));
        db.Recovered();
    }

    /// <summary>A database failure as the caller sees it: a conflict to read again and retry, or an IOException naming the store.</summary>
    private Exception Mapped(Exception e) => e switch
    {
        PostgresException pg when pg.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected =>
            new ConflictException($"a concurrent write to the same records won ({pg.MessageText}); read them again"),
        NpgsqlException db => new IOException($"the store {Display}: {Reason(db)}", db),
        _ => e,
    };

    public Task WriteAsync(Action<IStoreWriter> write) => WriteAsync(s => { write(s); return true; });

    private static void RunAfterCommit(Action action)
    {
        // The data is committed whatever an observer does; one that throws must not fail the write.
        try { action(); }
        catch (Exception e) { System.Diagnostics.Trace.TraceError($"after-commit action failed: {e}"); }
    }

    /// <summary>What went wrong, in words an operator can act on; never the password.</summary>
    internal static string Reason(NpgsqlException e)
    {
        if (e is PostgresException pg)
        {
            return pg.SqlState switch
            {
                PostgresErrorCodes.InvalidPassword => $"authentication failed: {pg.MessageText}",
                PostgresErrorCodes.InvalidAuthorizationSpecification => $"connection refused by the server: {pg.MessageText}",
                PostgresErrorCodes.InvalidCatalogName => pg.MessageText,
                _ => $"{pg.MessageText} (SQLSTATE {pg.SqlState})",
            };
        }
        for (Exception? x = e.InnerException; x is not null; x = x.InnerException)
        {
            if (x is SocketException s) return $"cannot connect: {s.Message}";
            if (x is AuthenticationException a) return $"TLS: {a.Message}";
            if (x is TimeoutException) return "timed out connecting";
        }
        return e.Message;
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        // Writes queued or under way finish (and complete their callers) before the connections go.
        _queue.Writer.TryComplete();
        await Task.WhenAll(_writers).ConfigureAwait(false);
        await _outbox.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>What a write lambda is given: the tables on the write's own transaction.</summary>
    private sealed class Writer(PgSession db, List<Action> afterCommit, TimeProvider? clock) : IStoreWriter
    {
        public ITokens Tokens { get; } = new PgTokens(db);
        public INodes Nodes { get; } = new PgNodes(db);
        public IPlans Plans { get; } = new PgPlans(db);
        public IRuns Runs { get; } = new PgRuns(db, afterCommit.Add);
        public IRollouts Rollouts { get; } = new PgRollouts(db, afterCommit.Add);
        public IEvents Events { get; } = new PgEvents(db);
        public ICluster Cluster { get; } = new PgCluster(db);
        public IKubeClusters KubeClusters { get; } = new PgKubeClusters(db);
        public IRevocations Revocations { get; } = new PgRevocations(db);
        public IOperatorCertificates OperatorCertificates { get; } = new PgOperatorCertificates(db);
        public ICoordinators Coordinators { get; } = new PgCoordinators(db);
        public IRolloutReports RolloutReports { get; } = new PgRolloutReports(db);
        public IWindows Windows { get; } = new PgWindows(db);
        public ICertificateAuthorities Authorities { get; } = new PgAuthorities(db);
        public void OnCommitted(Action action) => afterCommit.Add(action);
        public void RequireLease(Lease lease) => PgLeases.Require(db, clock, lease);
    }
}
