using LiteDB;
using NodeFleet.Coordinator.Rollouts;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>The layout of coordinator.db: the record mapping, its collections and indexes, and the migrations between versions.</summary>
public static class LiteDbSchema
{
    /// <summary>
    /// 1: rollouts held every node's state in their own document. 2: per-node states in rollout_nodes, one document
    /// each; leases; the version kept in meta. The kube_clusters collection came later without a new version: it is only
    /// added, and a coordinator that does not know it leaves it alone; so did revoked_certificates,
    /// operator_certificates, coordinators, rollout_reports, windows and the events' Actor field.
    /// </summary>
    public const int Version = 2;

    public const string TokensCollection = "tokens";
    public const string NodesCollection = "nodes";
    public const string PlansCollection = "plans";
    public const string RunsCollection = "runs";
    public const string EventsCollection = "events";
    public const string ClusterCollection = "cluster";
    public const string RolloutsCollection = "rollouts";
    public const string RolloutNodesCollection = "rollout_nodes";
    public const string LeasesCollection = "leases";
    public const string OutboxCollection = "outbox";
    public const string CountersCollection = "counters";
    public const string KubeClustersCollection = "kube_clusters";
    public const string RevokedCertificatesCollection = "revoked_certificates";
    public const string OperatorCertificatesCollection = "operator_certificates";
    public const string CoordinatorsCollection = "coordinators";
    public const string RolloutReportsCollection = "rollout_reports";
    public const string WindowsCollection = "windows";
    public const string AuthoritiesCollection = "certificate_authorities";
    public const string MetaCollection = "meta";

    /// <summary>
    /// The mapping of the stored records (ids and unmapped members named here, so the records themselves know nothing of
    /// LiteDB), each type mapped once on this thread before the database is shared: LiteDB 5.0.21 builds a mapping
    /// lazily and lets other threads use it half-built (litedb#2536).
    /// </summary>
    public static BsonMapper Mapper()
    {
        // The default mapper turns "" into null and trims strings; stored values must read back as written.
        var mapper = new BsonMapper { EmptyStringToNull = false, TrimWhitespace = false };
        mapper.Entity<TokenRecord>().Id(x => x.Id, autoId: false);
        mapper.Entity<NodeRecord>().Id(x => x.Name, autoId: false);
        mapper.Entity<PlanRecord>().Id(x => x.Name, autoId: false);
        mapper.Entity<RunHistoryRecord>().Id(x => x.Id, autoId: false).Ignore(x => x.AgentRunId);
        mapper.Entity<ClusterRecord>().Id(x => x.Id, autoId: false);
        mapper.Entity<KubeClusterRecord>().Id(x => x.Name, autoId: false);
        mapper.Entity<RevokedCertificateRecord>().Id(x => x.Serial, autoId: false);
        mapper.Entity<OperatorCertificateRecord>().Id(x => x.Serial, autoId: false);
        mapper.Entity<CoordinatorRecord>().Id(x => x.Id, autoId: false);
        mapper.Entity<Rollouts.Windows.WindowRecord>().Id(x => x.Name, autoId: false);
        mapper.Entity<CertificateAuthorityRecord>().Id(x => x.Generation, autoId: false);
        // The nodes of a rollout are documents of their own (rollout_nodes).
        mapper.Entity<RolloutRecord>().Id(x => x.Id, autoId: false).Ignore(x => x.Nodes);
        object[] samples =
        [
            new TokenRecord(), new NodeRecord { Labels = { ["k"] = "v" } }, new ClusterRecord(), new KubeClusterRecord(), new PlanRecord(),
            new RevokedCertificateRecord(), new OperatorCertificateRecord { RevokedAt = DateTime.UnixEpoch }, new CoordinatorRecord(),
            new CertificateAuthorityRecord(),
            new RunHistoryRecord { Steps = { new StepHistoryRecord() } }, new RolloutNodeRecord { Windows = { "w" } },
            new Rollouts.Windows.WindowRecord(),
            new RolloutRecord { PhaseDeadlinesMs = { ["p"] = 1 }, IgnorePreflightErrors = { "x" } },
        ];
        foreach (var sample in samples)
        {
            var doc = mapper.ToDocument(sample.GetType(), sample);
            _ = mapper.Deserialize(sample.GetType(), doc);
        }
        return mapper;
    }

    /// <summary>Creates what is missing and migrates an older file in place, in one transaction, before the database is shared.</summary>
    /// <param name="path">The file, for errors.</param>
    public static void Prepare(LiteDatabase db, string path)
    {
        db.UtcDate = true;
        CreateCollections(db);
        Migrate(db, path);
    }

    private static void CreateCollections(LiteDatabase db)
    {
        // Every collection exists before the database is shared. LiteDB 5 adds a new collection to its header page in
        // place, where a reader on another thread can see it before its first page is written ("page type must be
        // collection page"), and after that error the engine refuses every further call: a fresh coordinator whose
        // first joins arrive together would be left unable to write. An index creates its collection.
        db.GetCollection(NodesCollection).EnsureIndex(nameof(NodeRecord.Status));
        // Nodes held by another coordinator are looked for every few seconds: through this index, not every node's document.
        db.GetCollection(NodesCollection).EnsureIndex(nameof(NodeRecord.Coordinator));
        db.GetCollection(PlansCollection).EnsureIndex(nameof(PlanRecord.UpdatedAt));
        db.GetCollection(TokensCollection).EnsureIndex(nameof(TokenRecord.ExpiresAt));
        db.GetCollection(EventsCollection).EnsureIndex(nameof(EventRecord.Node));
        db.GetCollection(EventsCollection).EnsureIndex(nameof(EventRecord.Time));
        db.GetCollection(EventsCollection).EnsureIndex(nameof(EventRecord.Rollout));
        db.GetCollection(RunsCollection).EnsureIndex(nameof(RunHistoryRecord.Node));
        db.GetCollection(ClusterCollection).EnsureIndex(nameof(ClusterRecord.CreatedAt));
        // The rollout controller looks for active rollouts several times a second: through the State index, finished
        // rollouts are not read.
        db.GetCollection(RolloutsCollection).EnsureIndex(nameof(RolloutRecord.State));
        db.GetCollection(RolloutNodesCollection).EnsureIndex(LiteDbRollouts.RolloutIdField);
        // A new lease holder looks for rollouts over whose nodes' cluster work is unfinished: by their step.
        db.GetCollection(RolloutNodesCollection).EnsureIndex(nameof(RolloutNodeRecord.KubeStep));
        db.GetCollection(LeasesCollection).EnsureIndex(LiteDbLeases.HolderField);
        db.GetCollection(OutboxCollection).EnsureIndex(LiteDbOutbox.RecipientField);
        db.GetCollection(OutboxCollection).EnsureIndex(LiteDbOutbox.CreatedField);
        db.GetCollection(MetaCollection).EnsureIndex(VersionField);
        db.GetCollection(KubeClustersCollection).EnsureIndex(nameof(KubeClusterRecord.AddedAt));
        db.GetCollection(RevokedCertificatesCollection).EnsureIndex(nameof(RevokedCertificateRecord.NotAfter));
        db.GetCollection(OperatorCertificatesCollection).EnsureIndex(nameof(OperatorCertificateRecord.Name));
        db.GetCollection(WindowsCollection).EnsureIndex(nameof(Rollouts.Windows.WindowRecord.UpdatedAt));
        db.GetCollection(AuthoritiesCollection).EnsureIndex(nameof(CertificateAuthorityRecord.State));
    }

    private const string VersionField = "Version";
    private const string SchemaId = "schema";

    private static void Migrate(LiteDatabase db, string path)
    {
        var meta = db.GetCollection(MetaCollection);
        // A file without a version was written before versions were kept: version 1.
        var found = meta.FindById(SchemaId) is { } m && m[VersionField].IsNumber ? m[VersionField].AsInt32 : 1;
        if (found > Version)
            throw new InvalidDataException(
                $"{path} (the coordinator's database) was written by a newer coordinator (store version {found}; this one knows up to {Version}): " +
                "nothing was changed; run the newer version, or restore a backup");
        if (found == Version) return;
        db.BeginTrans();
        try
        {
            if (found < 2) MoveRolloutNodesApart(db);
            meta.Upsert(new BsonDocument { ["_id"] = SchemaId, [VersionField] = Version });
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }
    }

    /// <summary>Version 1 → 2: each rollout's Nodes array becomes one rollout_nodes document per node, in their order.</summary>
    private static void MoveRolloutNodesApart(LiteDatabase db)
    {
        var rollouts = db.GetCollection(RolloutsCollection);
        var nodes = db.GetCollection(RolloutNodesCollection);
        foreach (var doc in rollouts.FindAll().ToList())
        {
            if (!doc.TryGetValue(nameof(RolloutRecord.Nodes), out var list)) continue;
            var id = doc["_id"].AsString;
            if (list.IsArray)
            {
                var order = 0;
                foreach (var n in list.AsArray)
                {
                    if (n.IsDocument) nodes.Upsert(LiteDbRollouts.NodeDocument(id, order, n.AsDocument));
                    order++;
                }
            }
            doc.Remove(nameof(RolloutRecord.Nodes));
            rollouts.Update(doc);
        }
    }
}
