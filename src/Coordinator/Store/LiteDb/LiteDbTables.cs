using NodeFleet.Coordinator.Rollouts.Windows;
using LiteDB;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>Insert and compare-and-swap over a LiteDB collection, the same for every record with a revision.</summary>
internal static class Revisions
{
    public const string Field = "Revision";

    /// <summary>The stored revision of the document with <paramref name="id"/>, or null when there is none.</summary>
    public static long? Stored(LiteDatabase db, string collection, BsonValue id) =>
        db.GetCollection(collection).FindById(id) is { } doc ? Of(doc) : null;

    /// <summary>A document's revision; one stored before revisions were kept has none and counts as 0.</summary>
    public static long Of(BsonDocument doc) => doc.TryGetValue(Field, out var r) && r.IsNumber ? r.AsInt64 : 0;

    public static void Insert<T>(LiteDatabase db, string collection, string what, BsonValue id, T record, Action<long> setRevision)
    {
        if (db.GetCollection(collection).FindById(id) is not null) throw new AlreadyExistsException($"{what} {id.RawValue} already exists");
        setRevision(1);
        db.GetCollection<T>(collection).Insert(record);
    }

    /// <summary>Writes <paramref name="record"/> if the stored revision is still <paramref name="expected"/>, and moves it on.</summary>
    public static void Update<T>(LiteDatabase db, string collection, string what, BsonValue id, T record, long expected, Action<long> setRevision)
    {
        Check(Stored(db, collection, id), what, id, expected);
        setRevision(expected + 1);
        db.GetCollection<T>(collection).Update(record);
    }

    public static void Check(long? stored, string what, BsonValue id, long expected)
    {
        if (stored is null) throw new ConflictException($"{what} {id.RawValue} was deleted meanwhile");
        if (stored != expected)
            throw new ConflictException($"{what} {id.RawValue} was changed meanwhile (revision {stored}, this change was made on {expected}); read it again");
    }
}

internal sealed class LiteDbTokens(LiteDatabase db)
    : LiteDbRevisioned<TokenRecord, string>(db, LiteDbSchema.TokensCollection, "token", t => t.Id, StringComparer.Ordinal), ITokens
{
    public override IReadOnlyList<TokenRecord> List() => Records.FindAll().OrderBy(t => t.CreatedAt).ToList();
    public int DeleteExpiredBefore(DateTime cutoff) => Records.DeleteMany(t => t.ExpiresAt != null && t.ExpiresAt < cutoff);
}

internal sealed class LiteDbNodes(LiteDatabase db) : INodes
{
    private ILiteCollection<NodeRecord> Nodes => db.GetCollection<NodeRecord>(LiteDbSchema.NodesCollection);
    // The same collection as documents: for writes that change a field or two on a hot path, where mapping the whole
    // record (labels, facts) both ways would cost more than the write itself.
    private ILiteCollection<BsonDocument> Documents => db.GetCollection(LiteDbSchema.NodesCollection);
    // The document GetProgress last read, for the SetProgress that follows it in the same write (the writer is one thread).
    private BsonDocument? _progress;

    public NodeRecord? Get(string name) => Nodes.FindById(name);

    // Embedded, reading every node and matching in memory is the fastest way; a database server would match in its query.
    public IReadOnlyList<NodeRecord> List(LabelSelector selector) =>
        Nodes.FindAll().Where(n => selector.Matches(n.Labels)).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public IReadOnlyList<NodeRecord> ListByStatus(NodeState status) => Nodes.Find(n => n.Status == status).ToList();

    // Through the Coordinator index: only the documents of nodes whose stream another coordinator opened are read
    // (none, when this is the only one), not every node's.
    public IReadOnlyList<(string Name, string Coordinator)> OnlineElsewhere(string coordinator) =>
        Nodes.Find(Query.Not(nameof(NodeRecord.Coordinator), coordinator)).Where(n => n.Status == NodeState.Online)
            .Select(n => (n.Name, n.Coordinator ?? "")).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public IReadOnlyDictionary<(NodeState Status, string Phase), int> CountByStatusAndPhase()
    {
        var counts = new Dictionary<(NodeState, string), int>();
        foreach (var n in Nodes.Query().Select(x => new { x.Status, x.Phase }).ToEnumerable())
        {
            var key = (n.Status, n.Phase ?? "");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }

    public int Count() => Nodes.Count();

    public int CountCertificatesExpiringBefore(DateTime cutoff) =>
        Nodes.Query().Select(x => new { x.CertificateSerial, x.CertificateNotAfter, x.RevokedAt }).ToEnumerable()
            .Count(n => n.CertificateSerial.Length > 0 && n.RevokedAt is null && n.CertificateNotAfter < cutoff);

    public void Insert(NodeRecord n) => Revisions.Insert(db, LiteDbSchema.NodesCollection, "node", n.Name, n, r => n.Revision = r);
    public void Update(NodeRecord n) => Revisions.Update(db, LiteDbSchema.NodesCollection, "node", n.Name, n, n.Revision, r => n.Revision = r);
    public bool Delete(string name) => Nodes.Delete(name);

    public NodeProgress? GetProgress(string name)
    {
        var doc = Documents.FindById(name);
        _progress = doc;
        if (doc is null) return null;
        var sequence = doc.TryGetValue(nameof(NodeRecord.LastReportSequence), out var s) && s.IsNumber ? s.AsInt64 : 0;
        var phase = doc.TryGetValue(nameof(NodeRecord.Phase), out var p) && p.IsString ? p.AsString : "";
        var epoch = doc.TryGetValue(nameof(NodeRecord.ReportEpoch), out var e) && e.IsString ? e.AsString : "";
        return new NodeProgress(sequence, phase, epoch);
    }

    public void SetProgress(string name, NodeProgress progress)
    {
        var doc = _progress is { } cached && cached["_id"] == name ? cached : Documents.FindById(name);
        _progress = null;
        if (doc is null) return;
        doc[nameof(NodeRecord.LastReportSequence)] = progress.LastReportSequence;
        doc[nameof(NodeRecord.Phase)] = progress.Phase;
        doc[nameof(NodeRecord.ReportEpoch)] = progress.ReportEpoch;
        doc[Revisions.Field] = Revisions.Of(doc) + 1;
        Documents.Update(doc);
    }

    public void SetProgressIf(string name, NodeProgress expected, NodeProgress progress)
    {
        if (GetProgress(name) != expected)
            throw new ConflictException($"node {name}: its report progress was changed meanwhile, or the node deleted; read it again");
        SetProgress(name, progress);
    }

    public bool SetLastSeen(string name, DateTime lastSeen)
    {
        var doc = Documents.FindById(name);
        if (doc is null) return false;
        if (doc.TryGetValue(nameof(NodeRecord.LastSeen), out var seen) && seen.IsDateTime && seen.AsDateTime >= lastSeen) return false;
        doc[nameof(NodeRecord.LastSeen)] = lastSeen;
        doc[Revisions.Field] = Revisions.Of(doc) + 1;
        return Documents.Update(doc);
    }
}

internal sealed class LiteDbPlans(LiteDatabase db)
    : LiteDbRevisioned<PlanRecord, string>(db, LiteDbSchema.PlansCollection, "plan", p => p.Name, StringComparer.Ordinal), IPlans;

internal sealed class LiteDbRuns(LiteDatabase db)
    : LiteDbRevisioned<RunHistoryRecord, string>(db, LiteDbSchema.RunsCollection, "run", r => r.Id, StringComparer.Ordinal), IRuns
{
    public IReadOnlyList<RunHistoryRecord> ListByNode(string node, int max) =>
        Records.Find(r => r.Node == node).OrderByDescending(r => r.StartedAt).Take(max).ToList();

    public int DeleteBeyond(string node, int keep, IReadOnlySet<string> keepRollouts)
    {
        var old = Records.Find(r => r.Node == node).OrderByDescending(r => r.StartedAt).Skip(keep)
            .Where(r => !keepRollouts.Contains(r.RolloutId)).Select(r => r.Id).ToList();
        foreach (var id in old) Records.Delete(id);
        return old.Count;
    }
}

internal sealed class LiteDbCluster(LiteDatabase db) : ICluster
{
    private ILiteCollection<ClusterRecord> Cluster => db.GetCollection<ClusterRecord>(LiteDbSchema.ClusterCollection);
    public ClusterRecord? Get() => Cluster.FindById(1);

    public void Put(ClusterRecord cluster)
    {
        cluster.Id = 1;
        cluster.Revision = (Revisions.Stored(db, LiteDbSchema.ClusterCollection, 1) ?? 0) + 1;
        Cluster.Upsert(cluster);
    }
}

internal sealed class LiteDbKubeClusters(LiteDatabase db)
    : LiteDbRevisioned<KubeClusterRecord, string>(db, LiteDbSchema.KubeClustersCollection, "cluster", c => c.Name, StringComparer.Ordinal),
        IKubeClusters;

internal sealed class LiteDbWindows(LiteDatabase db)
    : LiteDbRevisioned<WindowRecord, string>(db, LiteDbSchema.WindowsCollection, "window", w => w.Name, StringComparer.Ordinal), IWindows;

internal sealed class LiteDbRevocations(LiteDatabase db) : IRevocations
{
    private ILiteCollection<RevokedCertificateRecord> Revoked =>
        db.GetCollection<RevokedCertificateRecord>(LiteDbSchema.RevokedCertificatesCollection);
    public RevokedCertificateRecord? Get(string serial) => Revoked.FindById(serial);
    public IReadOnlyList<RevokedCertificateRecord> List() => Revoked.FindAll().OrderBy(r => r.Serial, StringComparer.Ordinal).ToList();
    public bool Add(RevokedCertificateRecord r) => Revoked.FindById(r.Serial) is null && Revoked.Insert(r) is not null;
    public int DeleteExpiredBefore(DateTime cutoff) => Revoked.DeleteMany(r => r.NotAfter < cutoff);
}

internal sealed class LiteDbOperatorCertificates(LiteDatabase db) : IOperatorCertificates
{
    private ILiteCollection<OperatorCertificateRecord> Certificates =>
        db.GetCollection<OperatorCertificateRecord>(LiteDbSchema.OperatorCertificatesCollection);
    public IReadOnlyList<OperatorCertificateRecord> List() =>
        Certificates.FindAll().OrderBy(c => c.IssuedAt).ThenBy(c => c.Serial, StringComparer.Ordinal).ToList();
    public IReadOnlyList<OperatorCertificateRecord> Named(string name) =>
        Certificates.Find(Query.EQ(nameof(OperatorCertificateRecord.Name), name)).OrderBy(c => c.IssuedAt).ToList();
    public void Put(OperatorCertificateRecord c) => Certificates.Upsert(c);
}

internal sealed class LiteDbCoordinators(LiteDatabase db) : ICoordinators
{
    private ILiteCollection<CoordinatorRecord> Coordinators =>
        db.GetCollection<CoordinatorRecord>(LiteDbSchema.CoordinatorsCollection);
    public IReadOnlyList<CoordinatorRecord> List() => Coordinators.FindAll().OrderBy(c => c.Id, StringComparer.Ordinal).ToList();
    public void Put(CoordinatorRecord c) => Coordinators.Upsert(c);
    public int DeleteSeenBefore(DateTime cutoff) => Coordinators.DeleteMany(c => c.LastSeen < cutoff);
}

/// <summary>Queued rollout reports as documents with an increasing Int64 id (the queue's order).</summary>
internal sealed class LiteDbRolloutReports(LiteDatabase db) : IRolloutReports
{
    private ILiteCollection<BsonDocument> Reports => db.GetCollection(LiteDbSchema.RolloutReportsCollection, BsonAutoId.Int64);

    public void Add(RolloutReportRecord r)
    {
        var id = Reports.Insert(new BsonDocument
        {
            ["Node"] = r.Node, ["RolloutId"] = r.RolloutId, ["Report"] = r.Report, ["QueuedAt"] = r.QueuedAt,
        });
        r.Id = id.AsInt64;
    }

    public IReadOnlyList<RolloutReportRecord> Take(int max)
    {
        var taken = Reports.Find(Query.All(Query.Ascending), limit: max).Select(d => new RolloutReportRecord
        {
            Id = d["_id"].AsInt64, Node = d["Node"].AsString, RolloutId = d["RolloutId"].AsString, Report = d["Report"].AsBinary,
            QueuedAt = d["QueuedAt"].AsDateTime,
        }).ToList();
        foreach (var r in taken) Reports.Delete(r.Id);
        return taken;
    }
}

internal sealed class LiteDbAuthorities(LiteDatabase db)
    : LiteDbRevisioned<CertificateAuthorityRecord, int>(db, LiteDbSchema.AuthoritiesCollection, "certificate authority", c => c.Generation,
        Comparer<int>.Default), ICertificateAuthorities;
