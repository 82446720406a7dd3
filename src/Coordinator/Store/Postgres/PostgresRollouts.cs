using Npgsql;
using NodeFleet.Coordinator.Rollouts;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Rollouts in two tables: rollouts (the rollout's own fields as jsonb, its state as a column) and rollout_nodes (one
/// row per node: the rollout, the node, its place in the list, its fields as json). A rollout is read with its nodes
/// in one statement, so both come from one snapshot; an update writes the rollout's row and, in one more statement,
/// only the nodes whose fields differ from what was last read or written.
/// </summary>
internal sealed class PgRollouts(PgSession db, Action<Action>? onCommitted) : IRollouts
{
    private static readonly string[] ActiveStates = Enum.GetValues<RolloutState>()
        .Where(RolloutTransitions.IsActive).Select(s => s.ToString()).ToArray();

    private readonly Rows _rows = new(db, "rollouts", "rollout");

    private const string WithNodes =
        "SELECT r.revision, r.doc, ARRAY(SELECT n.doc::text FROM rollout_nodes n WHERE n.rollout_id = r.id ORDER BY n.ord) " +
        "FROM rollouts r ";

    public RolloutRecord? Get(string id) => Select("WHERE r.id = @id", c => c.With("id", id)).FirstOrDefault();

    public IReadOnlyList<RolloutRecord> ListActive() =>
        Select("WHERE r.state = ANY(@states) ORDER BY r.id", c => c.With("states", ActiveStates));

    public IReadOnlyList<RolloutRecord> ListAll() => Select("ORDER BY r.id", _ => { });

    public IReadOnlyList<RolloutMembership> ActiveMemberships(IReadOnlyCollection<string> nodes) =>
        nodes.Count == 0 ? [] : db.Rows(db.Command(
                "SELECT n.name, r.id, r.state FROM rollout_nodes n JOIN rollouts r ON r.id = n.rollout_id " +
                "WHERE n.name = ANY(@names) AND r.state = ANY(@states) ORDER BY r.id, n.ord")
            .With("names", nodes.ToArray()).With("states", ActiveStates),
            r => new RolloutMembership(r.GetString(0), r.GetString(1), Enum.Parse<RolloutState>(r.GetString(2))));

    public IReadOnlyList<(string Id, long Revision)> ActiveRevisions() =>
        db.Rows(db.Command("SELECT id, revision FROM rollouts WHERE state = ANY(@states) ORDER BY id").With("states", ActiveStates),
            r => (r.GetString(0), r.GetInt64(1)));

    // Through the partial index rollout_nodes_kube_unfinished: only the nodes with cluster work under way are looked at.
    // The condition on the step is the index's own predicate, word for word, which is how PostgreSQL knows it may use it
    // (a list of steps given as a parameter is not: it read every node of every rollout).
    public IReadOnlyList<string> OverWithClusterWorkUnfinished() =>
        db.Rows(db.Command(
                "SELECT DISTINCT r.id FROM rollout_nodes n JOIN rollouts r ON r.id = n.rollout_id " +
                $"WHERE {PostgresSchema.KubeStepUnfinished("n")} AND coalesce(n.doc->>'Cluster', '') <> '' " +
                "AND NOT (r.state = ANY(@states)) ORDER BY r.id")
            .With("states", ActiveStates),
            r => r.GetString(0));

    public void Insert(RolloutRecord rollout)
    {
        _rows.Insert(rollout.Id, PgJson.Write(rollout), Rows.Column("state", rollout.State.ToString()));
        rollout.Revision = 1;
        WriteNodes(rollout, all: true);
    }

    public void Update(RolloutRecord rollout)
    {
        _rows.Update(rollout.Id, rollout.Revision, PgJson.Write(rollout), Rows.Column("state", rollout.State.ToString()));
        rollout.Revision++;
        WriteNodes(rollout);
    }

    private List<RolloutRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command(WithNodes + where);
        bind(cmd);
        return db.WithRows<RolloutRecord, RolloutNodeRecord>(cmd, (rollout, revision, nodes) => (rollout.Revision, rollout.Nodes) = (revision, nodes),
            node => node.Saved = node.Copy());
    }

    // Every node when the rollout is new here: a memory of a stored node may come from another store (a copy between stores).
    private void WriteNodes(RolloutRecord rollout, bool all = false)
    {
        var names = new List<string>();
        var orders = new List<int>();
        var docs = new List<string>();
        var written = new List<(RolloutNodeRecord Node, RolloutNodeRecord Saved)>();
        // One row per name: a name listed twice is stored once, at its last place (one statement may not write a row twice).
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < rollout.Nodes.Count; i++) last[rollout.Nodes[i].Name] = i;
        for (var i = 0; i < rollout.Nodes.Count; i++)
        {
            var node = rollout.Nodes[i];
            if (last[node.Name] != i) continue;
            if (!all && node.Saved is { } saved && node.SameFields(saved)) continue;
            names.Add(node.Name);
            orders.Add(i);
            docs.Add(PgJson.Write(node));
            written.Add((node, node.Copy()));
        }
        if (names.Count == 0) return;
        db.Execute(db.Command(
                "INSERT INTO rollout_nodes (rollout_id, name, ord, doc) " +
                "SELECT @id, n.name, n.ord, n.doc::json FROM unnest(@names, @orders, @docs) AS n(name, ord, doc) " +
                "ON CONFLICT (rollout_id, name) DO UPDATE SET ord = EXCLUDED.ord, doc = EXCLUDED.doc")
            .With("id", rollout.Id).With("names", names.ToArray()).With("orders", orders.ToArray()).With("docs", docs.ToArray()));
        // Remembered once committed: after a rollback the nodes must be written again next time.
        void Remember()
        {
            foreach (var (node, saved) in written) node.Saved = saved;
        }
        if (onCommitted is null) Remember();
        else onCommitted(Remember);
    }
}
