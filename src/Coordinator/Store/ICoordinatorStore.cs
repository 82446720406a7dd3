namespace NodeFleet.Coordinator.Store;

/// <summary>
/// The coordinator's durable state, typed per record. Reads see committed data. Every change goes through
/// <see cref="WriteAsync{T}"/>: the lambda runs inside one transaction and its task completes only once that transaction
/// is committed, so nothing is acknowledged that is not durable. Each record carries a revision: an update names the
/// revision it read and fails with <see cref="Errors.ConflictException"/> when the stored one has moved on, which is
/// what keeps several coordinators on one database from overwriting each other. Implementations: LiteDB (embedded,
/// <c>Store/LiteDb</c>); the contract tests say what any other must do.
/// </summary>
public interface ICoordinatorStore : IAsyncDisposable, IDisposable
{
    ITokenReads Tokens { get; }
    INodeReads Nodes { get; }
    IPlanReads Plans { get; }
    IRunReads Runs { get; }
    IRolloutReads Rollouts { get; }
    IEventReads Events { get; }
    IClusterReads Cluster { get; }
    /// <summary>Kubernetes clusters and their kubeconfigs (not <see cref="Cluster"/>, the fleet's own settings).</summary>
    IKubeClusterReads KubeClusters { get; }
    /// <summary>The certificate deny list.</summary>
    IRevocationReads Revocations { get; }
    /// <summary>The operator certificates issued (`nodefleet admin`).</summary>
    IOperatorCertificateReads OperatorCertificates { get; }
    /// <summary>Maintenance windows for rollouts.</summary>
    IWindowReads Windows { get; }
    /// <summary>The fleet's certificate authorities, keys included.</summary>
    ICertificateAuthorityReads Authorities { get; }
    /// <summary>Leases for work that must run on one coordinator at a time.</summary>
    ILeases Leases { get; }
    /// <summary>The coordinators serving this store (`nodefleet coordinators`).</summary>
    ICoordinatorReads Coordinators { get; }
    /// <summary>Messages to nodes and replies to coordinators, kept until delivered.</summary>
    IOutbox Outbox { get; }

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction and completes once it is committed. The lambda is synchronous and
    /// must not block on anything but the store. An exception it throws is rethrown here, to this caller alone; a write
    /// checks everything before it changes anything, since a store may commit it together with other writes.
    /// </summary>
    Task<T> WriteAsync<T>(Func<IStoreWriter, T> write);

    Task WriteAsync(Action<IStoreWriter> write);

    /// <summary>The space the state takes, in bytes (LiteDB: its files; PostgreSQL: the database), for a gauge.</summary>
    long SizeBytes();

    /// <summary>False once the store is closed or can write no more.</summary>
    bool IsOpen { get; }

    /// <summary>
    /// Called once when the store can never write again (its engine stopped itself): the host stops the process so that
    /// its supervisor restarts it on what was committed.
    /// </summary>
    Action<Exception>? Fatal { get; set; }
}

/// <summary>The operations of one write transaction: each table's reads (inside the transaction) and writes.</summary>
public interface IStoreWriter
{
    ITokens Tokens { get; }
    INodes Nodes { get; }
    IPlans Plans { get; }
    IRuns Runs { get; }
    IRollouts Rollouts { get; }
    IEvents Events { get; }
    ICluster Cluster { get; }
    IKubeClusters KubeClusters { get; }
    IRevocations Revocations { get; }
    IOperatorCertificates OperatorCertificates { get; }
    ICoordinators Coordinators { get; }
    IRolloutReports RolloutReports { get; }
    IWindows Windows { get; }
    ICertificateAuthorities Authorities { get; }

    /// <summary>
    /// Runs <paramref name="action"/> once this transaction has committed (never if it rolls back): how something seen
    /// outside the store (an event on the bus, a metric) follows only what is durable. Actions must be quick and must
    /// not write to the store.
    /// </summary>
    void OnCommitted(Action action);

    /// <summary>
    /// Fencing: fails this transaction with <see cref="Errors.LeaseLostException"/> unless <paramref name="lease"/> is
    /// still held, unexpired, with the same token. Work done under a lease checks it in every write it makes.
    /// </summary>
    void RequireLease(Lease lease);
}
