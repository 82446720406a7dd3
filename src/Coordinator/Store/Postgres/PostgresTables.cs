using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// A record as a row: its key (id), its revision, the record as jsonb (doc), and the columns its queries filter, sort
/// or change alone. Insert and compare-and-swap are the same for every table; a refused one fails the write with a
/// domain error and no database error, so the transaction stays usable for a lambda that catches it.
/// </summary>
internal sealed class Rows(PgSession db, string table, string what)
{
    public static NpgsqlParameter Column(string name, object? value) => new(name, value ?? DBNull.Value);
    public static NpgsqlParameter Time(string name, DateTime? value) =>
        new(name, NpgsqlDbType.TimestampTz) { Value = value is { } t ? Pg.Utc(t) : DBNull.Value };
    public static NpgsqlParameter Json(string name, string json) => new(name, NpgsqlDbType.Jsonb) { Value = json };

    public void Insert(string id, string doc, params NpgsqlParameter[] columns)
    {
        var names = string.Concat(columns.Select(c => ", " + c.ParameterName));
        var values = string.Concat(columns.Select(c => ", @" + c.ParameterName));
        var cmd = db.Command($"INSERT INTO {table} (id, revision, doc{names}) VALUES (@id, 1, @doc{values}) ON CONFLICT (id) DO NOTHING")
            .With("id", id).WithJson("doc", doc);
        cmd.Parameters.AddRange(columns);
        if (db.Execute(cmd) == 0) throw new AlreadyExistsException($"{what} {id} already exists");
    }

    /// <summary>Writes the row if its revision is still <paramref name="expected"/>, moving it on by one.</summary>
    public void Update(string id, long expected, string doc, params NpgsqlParameter[] columns)
    {
        var sets = string.Concat(columns.Select(c => $", {c.ParameterName} = @{c.ParameterName}"));
        var cmd = db.Command($"UPDATE {table} SET revision = revision + 1, doc = @doc{sets} WHERE id = @id AND revision = @expected")
            .With("id", id).With("expected", expected).WithJson("doc", doc);
        cmd.Parameters.AddRange(columns);
        // Inside a write, sent with its next statement: a conflict fails the write then, or at its end.
        db.Defer(cmd, rows =>
        {
            if (rows != 1) Conflict(id, expected);
        });
    }

    /// <summary>Throws the conflict of a compare-and-swap of row <paramref name="id"/> made on <paramref name="expected"/> that found it changed.</summary>
    public void Conflict(string id, long expected)
    {
        var stored = db.Rows(db.Command($"SELECT revision FROM {table} WHERE id = @id").With("id", id), r => r.GetInt64(0));
        if (stored.Count == 0) throw new ConflictException($"{what} {id} was deleted meanwhile");
        throw new ConflictException($"{what} {id} was changed meanwhile (revision {stored[0]}, this change was made on {expected}); read it again");
    }

    public bool Delete(string id) => db.Execute(db.Command($"DELETE FROM {table} WHERE id = @id").With("id", id)) > 0;

    /// <summary>The records of <c>SELECT revision, doc … FROM table</c> + <paramref name="where"/>.</summary>
    public List<T> Select<T>(string where, Action<NpgsqlCommand> bind, Action<T, long> setRevision)
    {
        var cmd = db.Command($"SELECT revision, doc FROM {table} {where}");
        bind(cmd);
        return db.Rows(cmd, r =>
        {
            var record = PgJson.Read<T>(r.GetString(1));
            setRevision(record, r.GetInt64(0));
            return record;
        });
    }

    public T? Get<T>(string id, Action<T, long> setRevision) where T : class =>
        Select("WHERE id = @id", c => c.With("id", id), setRevision).FirstOrDefault();
}

internal sealed class PgTokens(PgSession db) : PgRevisioned<TokenRecord, string>(db, "tokens", "token", t => t.Id, "ORDER BY created_at, id",
    t => [Rows.Time("created_at", t.CreatedAt), Rows.Time("expires_at", t.ExpiresAt)]), ITokens
{
    public int DeleteExpiredBefore(DateTime cutoff) =>
        Db.Execute(Db.Command("DELETE FROM tokens WHERE expires_at < @cutoff").WithTime("cutoff", cutoff));
}

/// <summary>
/// Nodes: the record as jsonb, and as columns what is queried (status, phase, labels) and what the hot paths change
/// alone (report sequence, phase, last seen); a read takes those from their columns.
/// </summary>
internal sealed class PgNodes(PgSession db) : INodes
{
    private readonly Rows _rows = new(db, "nodes", "node");
    private const string Fields = "revision, doc, status, phase, last_report_sequence, last_seen, report_epoch";

    public NodeRecord? Get(string name) => Select("WHERE id = @id", c => c.With("id", name)).FirstOrDefault();

    public IReadOnlyList<NodeRecord> List(LabelSelector selector)
    {
        var (where, bind) = SelectorSql.Where(selector);
        return Select(where + " ORDER BY id", bind);
    }

    public IReadOnlyList<NodeRecord> ListByStatus(NodeState status) =>
        Select("WHERE status = @status ORDER BY id", c => c.With("status", (int)status));

    public IReadOnlyList<(string Name, string Coordinator)> OnlineElsewhere(string coordinator) =>
        db.Rows(db.Command(
                "SELECT id, coalesce(doc->>'Coordinator', '') FROM nodes " +
                "WHERE status = @status AND coalesce(doc->>'Coordinator', '') <> @me ORDER BY id")
            .With("status", (int)NodeState.Online).With("me", coordinator),
            r => (r.GetString(0), r.GetString(1)));

    public IReadOnlyDictionary<(NodeState Status, string Phase), int> CountByStatusAndPhase() =>
        db.Rows(db.Command("SELECT status, phase, count(*) FROM nodes GROUP BY status, phase"),
                r => ((NodeState)r.GetInt32(0), r.GetString(1), (int)r.GetInt64(2)))
            .ToDictionary(x => (x.Item1, x.Item2), x => x.Item3);

    public int Count() => (int)db.Rows(db.Command("SELECT count(*) FROM nodes"), r => r.GetInt64(0))[0];

    // The expiry is written in the doc as ISO 8601 UTC ("...Z"), which the cast reads whatever the session's time zone.
    public int CountCertificatesExpiringBefore(DateTime cutoff) => (int)db.Rows(db.Command(
            "SELECT count(*) FROM nodes WHERE doc->>'CertificateSerial' <> '' AND doc->>'RevokedAt' IS NULL " +
            "AND (doc->>'CertificateNotAfter')::timestamptz < @cutoff").WithTime("cutoff", cutoff),
        r => r.GetInt64(0))[0];

    public void Insert(NodeRecord n)
    {
        _rows.Insert(n.Name, PgJson.Write(n), Columns(n));
        n.Revision = 1;
    }

    public void Update(NodeRecord n)
    {
        _rows.Update(n.Name, n.Revision, PgJson.Write(n), Columns(n));
        n.Revision++;
    }

    public bool Delete(string name) => _rows.Delete(name);

    public NodeProgress? GetProgress(string name) =>
        db.Rows(db.Command("SELECT last_report_sequence, phase, report_epoch FROM nodes WHERE id = @id").With("id", name),
            r => new NodeProgress(r.GetInt64(0), r.GetString(1), r.GetString(2))) is [var p] ? p : null;

    public void SetProgress(string name, NodeProgress progress) => db.Defer(ProgressUpdate(name, progress, ""));

    public void SetProgressIf(string name, NodeProgress expected, NodeProgress progress) => db.Defer(
        ProgressUpdate(name, progress, " AND last_report_sequence = @was_seq AND phase = @was_phase AND report_epoch = @was_epoch")
            .With("was_seq", expected.LastReportSequence).With("was_phase", expected.Phase).With("was_epoch", expected.ReportEpoch),
        rows =>
        {
            if (rows != 1) throw new ConflictException($"node {name}: its report progress was changed meanwhile, or the node deleted; read it again");
        });

    /// <summary>The update of a node's report progress, on the condition <paramref name="and"/> (" AND …", or "").</summary>
    private NpgsqlCommand ProgressUpdate(string name, NodeProgress progress, string and) => db.Command(
            "UPDATE nodes SET revision = revision + 1, last_report_sequence = @seq, phase = @phase, report_epoch = @epoch " +
            "WHERE id = @id" + and)
        .With("id", name).With("seq", progress.LastReportSequence).With("phase", progress.Phase).With("epoch", progress.ReportEpoch);

    public bool SetLastSeen(string name, DateTime lastSeen) => db.Execute(db.Command(
            "UPDATE nodes SET revision = revision + 1, last_seen = @seen WHERE id = @id AND (last_seen IS NULL OR last_seen < @seen)")
        .With("id", name).WithTime("seen", lastSeen)) == 1;

    private static NpgsqlParameter[] Columns(NodeRecord n) =>
    [
        Rows.Column("status", (int)n.Status), Rows.Column("phase", n.Phase), Rows.Column("last_report_sequence", n.LastReportSequence),
        Rows.Column("report_epoch", n.ReportEpoch),
        Rows.Time("last_seen", n.LastSeen), Rows.Json("labels", JsonSerializer.Serialize(n.Labels)),
    ];

    private List<NodeRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command($"SELECT {Fields} FROM nodes {where}");
        bind(cmd);
        return db.Rows(cmd, r =>
        {
            var n = PgJson.Read<NodeRecord>(r.GetString(1));
            n.Revision = r.GetInt64(0);
            n.Status = (NodeState)r.GetInt32(2);
            n.Phase = r.GetString(3);
            n.LastReportSequence = r.GetInt64(4);
            n.LastSeen = r.TimeOrNull(5);
            n.ReportEpoch = r.GetString(6);
            return n;
        });
    }
}

internal sealed class PgPlans(PgSession db) : PgRevisioned<PlanRecord, string>(db, "plans", "plan", p => p.Name), IPlans;

internal sealed class PgCluster(PgSession db) : ICluster
{
    public ClusterRecord? Get() => new Rows(db, "cluster", "cluster").Get<ClusterRecord>("1", (c, r) => c.Revision = r);

    public void Put(ClusterRecord cluster)
    {
        cluster.Id = 1;
        cluster.Revision = db.Rows(db.Command(
                "INSERT INTO cluster (id, revision, doc) VALUES ('1', 1, @doc) " +
                "ON CONFLICT (id) DO UPDATE SET revision = cluster.revision + 1, doc = EXCLUDED.doc RETURNING revision")
            .WithJson("doc", PgJson.Write(cluster)), r => r.GetInt64(0))[0];
    }
}

internal sealed class PgKubeClusters(PgSession db)
    : PgRevisioned<KubeClusterRecord, string>(db, "kube_clusters", "cluster", c => c.Name), IKubeClusters;

internal sealed class PgWindows(PgSession db)
    : PgRevisioned<Rollouts.Windows.WindowRecord, string>(db, "windows", "window", w => w.Name), IWindows;

/// <summary>The deny list: one row per serial, its columns those of the record.</summary>
internal sealed class PgRevocations(PgSession db) : IRevocations
{
    private const string Fields = "serial, subject, role, revoked_at, not_after, reason";

    public RevokedCertificateRecord? Get(string serial) => Select("WHERE serial = @serial", c => c.With("serial", serial)).FirstOrDefault();
    public IReadOnlyList<RevokedCertificateRecord> List() => Select("ORDER BY serial", _ => { });

    public bool Add(RevokedCertificateRecord r) => db.Execute(db.Command(
            $"INSERT INTO revoked_certificates ({Fields}) VALUES (@serial, @subject, @role, @revoked, @notAfter, @reason) " +
            "ON CONFLICT (serial) DO NOTHING")
        .With("serial", r.Serial).With("subject", r.Subject).With("role", r.Role).WithTime("revoked", r.RevokedAt)
        .WithTime("notAfter", r.NotAfter).With("reason", r.Reason)) == 1;

    public int DeleteExpiredBefore(DateTime cutoff) =>
        db.Execute(db.Command("DELETE FROM revoked_certificates WHERE not_after < @cutoff").WithTime("cutoff", cutoff));

    private List<RevokedCertificateRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command($"SELECT {Fields} FROM revoked_certificates {where}");
        bind(cmd);
        return db.Rows(cmd, r => new RevokedCertificateRecord
        {
            Serial = r.GetString(0), Subject = r.GetString(1), Role = r.GetString(2),
            RevokedAt = r.TimeOrNull(3) ?? default, NotAfter = r.TimeOrNull(4) ?? default, Reason = r.GetString(5),
        });
    }
}

/// <summary>The operator certificates: one row per serial, its columns those of the record.</summary>
internal sealed class PgOperatorCertificates(PgSession db) : IOperatorCertificates
{
    private const string Fields = "serial, name, role, issued_at, expires_at, revoked_at, issued_by, ca_generation";

    public IReadOnlyList<OperatorCertificateRecord> List() => Select("ORDER BY issued_at, serial", _ => { });
    public IReadOnlyList<OperatorCertificateRecord> Named(string name) =>
        Select("WHERE name = @name ORDER BY issued_at, serial", c => c.With("name", name));

    public void Put(OperatorCertificateRecord c) => db.Execute(db.Command(
            $"INSERT INTO operator_certificates ({Fields}) VALUES (@serial, @name, @role, @issued, @expires, @revoked, @by, @generation) " +
            "ON CONFLICT (serial) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, issued_at = EXCLUDED.issued_at, " +
            "expires_at = EXCLUDED.expires_at, revoked_at = EXCLUDED.revoked_at, issued_by = EXCLUDED.issued_by, " +
            "ca_generation = EXCLUDED.ca_generation")
        .With("serial", c.Serial).With("name", c.Name).With("role", c.Role).WithTime("issued", c.IssuedAt)
        .WithTime("expires", c.ExpiresAt).WithTime("revoked", c.RevokedAt).With("by", c.IssuedBy).With("generation", c.CaGeneration));

    private List<OperatorCertificateRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command($"SELECT {Fields} FROM operator_certificates {where}");
        bind(cmd);
        return db.Rows(cmd, r => new OperatorCertificateRecord
        {
            Serial = r.GetString(0), Name = r.GetString(1), Role = r.GetString(2),
            IssuedAt = r.TimeOrNull(3) ?? default, ExpiresAt = r.TimeOrNull(4) ?? default, RevokedAt = r.TimeOrNull(5),
            IssuedBy = r.GetString(6), CaGeneration = r.GetInt32(7),
        });
    }
}

/// <summary>The coordinators serving the database: one row per coordinator, rewritten by its heartbeat.</summary>
internal sealed class PgCoordinators(PgSession db) : ICoordinators
{
    private const string Fields = "id, address, version, connected_agents, lease_held, started_at, last_seen";

    public IReadOnlyList<CoordinatorRecord> List() => db.Rows(db.Command($"SELECT {Fields} FROM coordinators ORDER BY id"), r => new CoordinatorRecord
    {
        Id = r.GetString(0), Address = r.GetString(1), Version = r.GetString(2), ConnectedAgents = r.GetInt32(3),
        LeaseHeld = r.GetBoolean(4), StartedAt = r.TimeOrNull(5) ?? default, LastSeen = r.TimeOrNull(6) ?? default,
    });

    public void Put(CoordinatorRecord c) => db.Execute(db.Command(
            $"INSERT INTO coordinators ({Fields}) VALUES (@id, @address, @version, @agents, @lease, @started, @seen) " +
            "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, version = EXCLUDED.version, " +
            "connected_agents = EXCLUDED.connected_agents, lease_held = EXCLUDED.lease_held, started_at = EXCLUDED.started_at, " +
            "last_seen = EXCLUDED.last_seen")
        .With("id", c.Id).With("address", c.Address).With("version", c.Version).With("agents", c.ConnectedAgents)
        .With("lease", c.LeaseHeld).WithTime("started", c.StartedAt).WithTime("seen", c.LastSeen));

    public int DeleteSeenBefore(DateTime cutoff) =>
        db.Execute(db.Command("DELETE FROM coordinators WHERE last_seen < @cutoff").WithTime("cutoff", cutoff));
}

/// <summary>Queued rollout reports: an identity column orders them; Take deletes and returns in one statement.</summary>
internal sealed class PgRolloutReports(PgSession db) : IRolloutReports
{
    public void Add(RolloutReportRecord r) => r.Id = db.Rows(db.Command(
            "INSERT INTO rollout_reports (node, rollout_id, report, queued_at) VALUES (@node, @rollout, @report, @queued) RETURNING id")
        .With("node", r.Node).With("rollout", r.RolloutId).With("report", r.Report).WithTime("queued", r.QueuedAt), x => x.GetInt64(0))[0];

    // SKIP LOCKED: a holder about to lose its lease (its write will fail) does not make the next one wait for its rows.
    public IReadOnlyList<RolloutReportRecord> Take(int max) => db.Rows(db.Command(
            "DELETE FROM rollout_reports WHERE id IN (SELECT id FROM rollout_reports ORDER BY id LIMIT @max FOR UPDATE SKIP LOCKED) " +
            "RETURNING id, node, rollout_id, report, queued_at")
        .With("max", max), x => new RolloutReportRecord
        {
            Id = x.GetInt64(0), Node = x.GetString(1), RolloutId = x.GetString(2), Report = x.GetFieldValue<byte[]>(3),
            QueuedAt = x.TimeOrNull(4) ?? default,
        }).OrderBy(r => r.Id).ToList();
}

/// <summary>The fleet's CAs: one row per generation (the key inside the row's doc, readable by the database's owner only).</summary>
internal sealed class PgAuthorities(PgSession db) : PgRevisioned<CertificateAuthorityRecord, int>(db, "certificate_authorities",
    "certificate authority", c => c.Generation, "ORDER BY generation", c => [Rows.Column("generation", c.Generation)]), ICertificateAuthorities;
