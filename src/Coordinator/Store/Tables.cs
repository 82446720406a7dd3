using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Store;

// One pair of interfaces per record: the reads (on the store, and inside a write) and the writes (inside a write only).
// Insert fails with AlreadyExistsException when the key is taken; Update is a compare-and-swap on the record's Revision
// (ConflictException when the stored record has another revision or is gone) and moves the revision on by one.

/// <summary>Bootstrap tokens, by id.</summary>
public interface ITokenReads
{
    TokenRecord? Get(string id);
    /// <summary>Every token, oldest first.</summary>
    IReadOnlyList<TokenRecord> List();
}

public interface ITokens : ITokenReads
{
    void Insert(TokenRecord token);
    void Update(TokenRecord token);
    bool Delete(string id);
    /// <summary>Deletes the tokens that expired before <paramref name="cutoff"/>; returns how many.</summary>
    int DeleteExpiredBefore(DateTime cutoff);
}

/// <summary>Joined nodes, by name.</summary>
public interface INodeReads
{
    NodeRecord? Get(string name);
    /// <summary>The nodes whose labels match, by name.</summary>
    IReadOnlyList<NodeRecord> List(LabelSelector selector);
    IReadOnlyList<NodeRecord> ListByStatus(NodeState status);
    /// <summary>
    /// The online nodes whose stream a coordinator other than <paramref name="coordinator"/> holds: name and coordinator
    /// only (the lease holder's rollout controller asks every few seconds).
    /// </summary>
    IReadOnlyList<(string Name, string Coordinator)> OnlineElsewhere(string coordinator);
    /// <summary>How many nodes are in each status and phase (for the gauges), without reading whole records.</summary>
    IReadOnlyDictionary<(NodeState Status, string Phase), int> CountByStatusAndPhase();
    int Count();
    /// <summary>Nodes whose current certificate expires before <paramref name="cutoff"/> (revoked nodes not counted).</summary>
    int CountCertificatesExpiringBefore(DateTime cutoff);
}

public interface INodes : INodeReads
{
    void Insert(NodeRecord node);
    void Update(NodeRecord node);
    bool Delete(string name);
    /// <summary>The two fields every step report changes, read without the rest of the record (null: no such node).</summary>
    NodeProgress? GetProgress(string name);
    /// <summary>Writes only the report sequence and phase (a hot path: one per step report).</summary>
    void SetProgress(string name, NodeProgress progress);
    /// <summary>
    /// Writes the node's progress if it is still <paramref name="expected"/> (a compare-and-swap of the three fields,
    /// so that a writer that remembers the progress need not read it first). When another write changed it, or the node
    /// is gone, the write fails with a <see cref="Errors.ConflictException"/>: here, or at the end of the write.
    /// </summary>
    void SetProgressIf(string name, NodeProgress expected, NodeProgress progress);
    /// <summary>Moves the node's last-seen time forward (never back); false when the node is gone or already later.</summary>
    bool SetLastSeen(string name, DateTime lastSeen);
}

/// <summary>
/// What a node's reports move: the highest sequence recorded, the phase it is in, and the epoch of the agent journal
/// that numbered the sequence.
/// </summary>
public readonly record struct NodeProgress(long LastReportSequence, string Phase, string ReportEpoch = "");

/// <summary>Stored plans, by name.</summary>
public interface IPlanReads
{
    PlanRecord? Get(string name);
    /// <summary>Every stored plan, by name.</summary>
    IReadOnlyList<PlanRecord> List();
}

public interface IPlans : IPlanReads
{
    void Insert(PlanRecord plan);
    void Update(PlanRecord plan);
}

/// <summary>Plan runs as reported, by <see cref="RunHistoryRecord.Id"/>.</summary>
public interface IRunReads
{
    RunHistoryRecord? Get(string id);
    /// <summary>The node's newest <paramref name="max"/> runs by start time, newest first.</summary>
    IReadOnlyList<RunHistoryRecord> ListByNode(string node, int max);
}

public interface IRuns : IRunReads
{
    void Insert(RunHistoryRecord run);
    void Update(RunHistoryRecord run);
    bool Delete(string id);
    /// <summary>
    /// Retention: deletes the node's runs beyond its newest <paramref name="keep"/> (by start time), except those of the
    /// rollouts in <paramref name="keepRollouts"/>; returns how many.
    /// </summary>
    int DeleteBeyond(string node, int keep, IReadOnlySet<string> keepRollouts);
}

/// <summary>
/// Rollouts with their per-node states. The per-node states are stored apart from the rollout: an update writes the
/// rollout's own fields and only the nodes that changed since they were read, so one node's progress is one small write.
/// </summary>
public interface IRolloutReads
{
    RolloutRecord? Get(string id);
    /// <summary>Rollouts not yet over (their state is active), with their nodes.</summary>
    IReadOnlyList<RolloutRecord> ListActive();
    /// <summary>Every rollout, finished ones included, with their nodes.</summary>
    IReadOnlyList<RolloutRecord> ListAll();
    /// <summary>Which of <paramref name="nodes"/> belong to an active rollout, and to which.</summary>
    IReadOnlyList<RolloutMembership> ActiveMemberships(IReadOnlyCollection<string> nodes);
    /// <summary>
    /// The id and revision of every active rollout, without their nodes: what a reader holding rollouts in memory
    /// compares with to see which changed (any update moves the revision).
    /// </summary>
    IReadOnlyList<(string Id, long Revision)> ActiveRevisions();
    /// <summary>
    /// The ids of the rollouts that are over (not active) and still have a node in a cluster whose cluster work is
    /// unfinished (<see cref="Rollouts.KubeSteps.Unfinished"/>), in order.
    /// </summary>
    IReadOnlyList<string> OverWithClusterWorkUnfinished();
}

/// <summary>A node in an active rollout.</summary>
public sealed record RolloutMembership(string Node, string RolloutId, RolloutState State);

public interface IRollouts : IRolloutReads
{
    /// <summary>Stores a new rollout and all its nodes.</summary>
    void Insert(RolloutRecord rollout);
    /// <summary>Compare-and-swap of the rollout's fields; writes the nodes that changed (or were added) since read.</summary>
    void Update(RolloutRecord rollout);
}

/// <summary>Which events to read: the newest <see cref="Limit"/> matching, older than <see cref="Before"/> when set.</summary>
public sealed record EventQuery(int Limit, string Node = "", string Rollout = "", string Before = "");

/// <summary>Events, in the order they were committed (their ids sort that way).</summary>
public interface IEventReads
{
    /// <summary>The newest events matching <paramref name="query"/>, oldest first; page back with the first one's id.</summary>
    IReadOnlyList<EventRecord> Newest(EventQuery query);
}

public interface IEvents : IEventReads
{
    /// <summary>Appends the event, giving it its id (ordered after every event committed before).</summary>
    void Add(EventRecord e);
    /// <summary>Retention: deletes at most <paramref name="max"/> of the events older than <paramref name="cutoff"/>; returns how many.</summary>
    int DeleteOlderThan(DateTime cutoff, int max);
}

/// <summary>Cluster-wide settings (one record).</summary>
public interface IClusterReads
{
    ClusterRecord? Get();
}

public interface ICluster : IClusterReads
{
    void Put(ClusterRecord cluster);
}

/// <summary>Kubernetes clusters the coordinator holds credentials for, by name.</summary>
public interface IKubeClusterReads
{
    KubeClusterRecord? Get(string name);
    /// <summary>Every cluster, by name.</summary>
    IReadOnlyList<KubeClusterRecord> List();
}

public interface IKubeClusters : IKubeClusterReads
{
    void Insert(KubeClusterRecord cluster);
    void Update(KubeClusterRecord cluster);
    bool Delete(string name);
}

/// <summary>Maintenance windows (`nodefleet window set`), by name.</summary>
public interface IWindowReads
{
    NodeFleet.Coordinator.Rollouts.Windows.WindowRecord? Get(string name);
    /// <summary>Every window, by name.</summary>
    IReadOnlyList<NodeFleet.Coordinator.Rollouts.Windows.WindowRecord> List();
}

public interface IWindows : IWindowReads
{
    void Insert(NodeFleet.Coordinator.Rollouts.Windows.WindowRecord window);
    void Update(NodeFleet.Coordinator.Rollouts.Windows.WindowRecord window);
    bool Delete(string name);
}

/// <summary>The fleet's certificate authorities, by generation.</summary>
public interface ICertificateAuthorityReads
{
    /// <summary>Every CA kept, oldest generation first.</summary>
    IReadOnlyList<CertificateAuthorityRecord> List();
}

public interface ICertificateAuthorities : ICertificateAuthorityReads
{
    void Insert(CertificateAuthorityRecord ca);
    void Update(CertificateAuthorityRecord ca);
    bool Delete(int generation);
}

/// <summary>The certificate deny list, by serial.</summary>
public interface IOperatorCertificateReads
{
    /// <summary>Every operator certificate recorded, oldest first.</summary>
    IReadOnlyList<OperatorCertificateRecord> List();
    /// <summary>The certificates issued under <paramref name="name"/>, oldest first.</summary>
    IReadOnlyList<OperatorCertificateRecord> Named(string name);
}

public interface IOperatorCertificates : IOperatorCertificateReads
{
    /// <summary>Adds the certificate, or replaces the one with its serial (to mark it revoked).</summary>
    void Put(OperatorCertificateRecord certificate);
}

public interface IRevocationReads
{
    RevokedCertificateRecord? Get(string serial);
    /// <summary>Every listed certificate, by serial.</summary>
    IReadOnlyList<RevokedCertificateRecord> List();
}

public interface IRevocations : IRevocationReads
{
    /// <summary>Lists the certificate; false (and nothing changed) when its serial is already listed.</summary>
    bool Add(RevokedCertificateRecord revoked);
    /// <summary>Removes the entries of certificates that expired before <paramref name="cutoff"/>; returns how many.</summary>
    int DeleteExpiredBefore(DateTime cutoff);
}

/// <summary>The coordinators serving the store, by id (each writes its own record in its heartbeat).</summary>
public interface ICoordinatorReads
{
    /// <summary>Every coordinator recorded, by id.</summary>
    IReadOnlyList<CoordinatorRecord> List();
}

public interface ICoordinators : ICoordinatorReads
{
    /// <summary>Adds the coordinator's record or replaces it (no revision: only the coordinator itself writes it).</summary>
    void Put(CoordinatorRecord coordinator);
    /// <summary>Deletes the records last seen before <paramref name="cutoff"/>; returns how many.</summary>
    int DeleteSeenBefore(DateTime cutoff);
}

/// <summary>Rollout reports queued for the lease holder's rollout controller (writes only: queued, then taken once).</summary>
public interface IRolloutReports
{
    /// <summary>Queues the report, giving it its id (ordered after every one queued before).</summary>
    void Add(RolloutReportRecord report);
    /// <summary>Removes and returns the oldest <paramref name="max"/> queued reports, oldest first; final once this write commits.</summary>
    IReadOnlyList<RolloutReportRecord> Take(int max);
}

/// <summary>
/// Named leases with a time to live. Whoever holds one may act for it until it expires; a new holder gets a larger
/// fencing token than every holder before, which its writes carry (<see cref="IStoreWriter.RequireLease"/>) so that a
/// holder that lost its lease without knowing can no longer write.
/// </summary>
public interface ILeases
{
    /// <summary>The lease, when it is free, expired, or already held by <paramref name="holder"/>; null when another holds it.</summary>
    Task<Lease?> TryAcquireAsync(string name, string holder, TimeSpan ttl);
    /// <summary>Extends a held lease; null when it was lost (expired, or taken over).</summary>
    Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl);
    /// <summary>Gives the lease up at once (nothing happens when it is no longer held).</summary>
    Task ReleaseAsync(Lease lease);
}

/// <summary>A held lease: its fencing token grows with every new holder.</summary>
public sealed record Lease(string Name, string Holder, long Token, DateTime ExpiresAt);

/// <summary>
/// Messages kept until they are delivered: to a node (a plan, a dry run, a cancel, an undo), which whichever coordinator
/// holds the node's stream delivers and removes once the agent acknowledges it; and replies to the coordinator that asked
/// (a dry run's result), addressed by request. Ids grow in the order messages are enqueued and are never reused, but
/// with several writers one may commit after a larger one: a reader takes every pending message, not those after an id.
/// </summary>
public interface IOutbox
{
    /// <summary>Stores <paramref name="payload"/> for <paramref name="recipient"/>; completes once durable, with its id.</summary>
    Task<long> EnqueueAsync(string recipient, byte[] payload);
    /// <summary>The recipient's messages not removed yet, oldest first, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<OutboxMessage>> PendingAsync(string recipient, int max);
    /// <summary>Removes a message of the recipient (delivered); false when it was gone already.</summary>
    Task<bool> RemoveAsync(string recipient, long id);
    /// <summary>Every recipient with a message pending, in one read (what a poller wakes).</summary>
    Task<IReadOnlyList<string>> RecipientsWithPendingAsync();
    /// <summary>Retention: removes messages enqueued before <paramref name="cutoff"/>, delivered or not; returns how many.</summary>
    Task<int> RemoveOlderThanAsync(DateTime cutoff);

    /// <summary>
    /// Raised with the recipient when a message for it was enqueued: at once for this process's own, and for other
    /// coordinators' as soon as the store hears of them (PostgreSQL: LISTEN/NOTIFY), which may be late or never if the
    /// connection drops, so a reader polls as well. Handlers must be quick and must not throw.
    /// </summary>
    event Action<string>? Enqueued;
}

/// <summary>One pending message of the outbox.</summary>
public sealed record OutboxMessage(long Id, string Recipient, byte[] Payload, DateTime CreatedAt);
