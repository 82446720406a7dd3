using System.Net.Sockets;
using System.Security.Authentication;
using Npgsql;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// The coordinator's store on PostgreSQL, which several coordinators may share. Reads take a pooled connection per
/// statement and see what is committed. Each WriteAsync is one transaction of its own on one connection (READ
/// COMMITTED): its lambda's statements run in it, a compare-and-swap is an UPDATE … WHERE revision = the one read, and
/// the task completes once the transaction has committed; a lambda that throws rolls back all it did, and the error
/// goes to that caller alone. Nothing outside this folder sees an Npgsql type: a database failure is an IOException
/// that names the store without its password.
/// </summary>
public sealed partial class PostgresStore : ICoordinatorStore
{
    /// <summary>Write transactions open at once: each holds a connection and, while its lambda runs, a thread.</summary>
    private const int MaxConcurrentWrites = 16;

    private readonly NpgsqlDataSource _source;
    private readonly TimeProvider? _clock;
    private readonly SemaphoreSlim _writes = new(MaxConcurrentWrites, MaxConcurrentWrites);
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
        Runs = new PgRuns(reads);
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

    public async Task<T> WriteAsync<T>(Func<IStoreWriter, T> write)
    {
        ObjectDisposedException.ThrowIf(!IsOpen, this);
        await _writes.WaitAsync().ConfigureAwait(false);
        try
        {
            var afterCommit = new List<Action>();
            T result;
            await using (var conn = await _source.OpenConnectionAsync().ConfigureAwait(false))
            await using (var tx = await conn.BeginTransactionAsync().ConfigureAwait(false))
            {
                result = write(new Writer(new PgSession(conn, tx), afterCommit, _clock));
                await tx.CommitAsync().ConfigureAwait(false);
            }
            foreach (var action in afterCommit) RunAfterCommit(action);
            return result;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
        {
            throw new ConflictException($"a concurrent write to the same records won ({e.MessageText}); read them again");
        }
        catch (NpgsqlException e)
        {
            throw new IOException($"the store {Display}: {Reason(e)}", e);
        }
        finally
        {
            _writes.Release();
        }
    }

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
        // Writes under way finish (and complete their callers) before the connections go.
        for (var i = 0; i < MaxConcurrentWrites; i++) await _writes.WaitAsync().ConfigureAwait(false);
        await _outbox.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>What a write lambda is given: the tables on the write's own transaction.</summary>
    private sealed class Writer(PgSession db, List<Action> afterCommit, TimeProvider? clock) : IStoreWriter
    {
        public ITokens Tokens { get; } = new PgTokens(db);
        public INodes Nodes { get; } = new PgNodes(db);
        public IPlans Plans { get; } = new PgPlans(db);
        public IRuns Runs { get; } = new PgRuns(db);
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
