using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Runs in two tables: runs (the run's own fields as jsonb; its node and start as columns) and run_steps (one row per
/// step: the run, the step's place in the run, its fields as json). A run is read with its steps in one statement; an
/// update writes the run's row and, in one more statement sent with it, only the steps that differ from what was last
/// read or written: a report of one step rewrites that step, not the run's whole list.
/// </summary>
internal sealed class PgRuns(PgSession db, Action<Action>? onCommitted) : IRuns
{
    private readonly Rows _rows = new(db, "runs", "run");

    private const string WithSteps =
        "SELECT r.revision, r.doc, ARRAY(SELECT s.doc::text FROM run_steps s WHERE s.run_id = r.id ORDER BY s.ord) " +
        "FROM runs r ";

    public RunHistoryRecord? Get(string id) => Select("WHERE r.id = @id", c => c.With("id", id)).FirstOrDefault();

    public IReadOnlyList<RunHistoryRecord> ListByNode(string node, int max) =>
        max <= 0 ? [] : Select("WHERE r.node = @node ORDER BY r.started_at DESC, r.id DESC LIMIT @max",
            c => c.With("node", node).With("max", max));

    public void Insert(RunHistoryRecord run)
    {
        _rows.Insert(run.Id, PgJson.Write(run), Columns(run));
        run.Revision = 1;
        WriteSteps(run, all: true);
    }

    public void Update(RunHistoryRecord run)
    {
        _rows.Update(run.Id, run.Revision, PgJson.Write(run), Columns(run));
        run.Revision++;
        WriteSteps(run);
    }

    // The steps go with the run's row (run_steps references it, deleting on cascade).
    public bool Delete(string id) => _rows.Delete(id);

    public int DeleteBeyond(string node, int keep, IReadOnlySet<string> keepRollouts) => db.Execute(db.Command(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE node = @node ORDER BY started_at DESC, id DESC OFFSET @keep) " +
            "AND NOT (coalesce(doc->>'RolloutId', '') = ANY(@rollouts))")
        .With("node", node).With("keep", keep).With("rollouts", keepRollouts.ToArray()));

    private const string Written = "WHERE EXISTS (SELECT 1 FROM runs WHERE id = @id AND revision = @revision)";

    private static NpgsqlParameter[] Columns(RunHistoryRecord run) => [Rows.Column("node", run.Node), Rows.Time("started_at", run.StartedAt)];

    private List<RunHistoryRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command(WithSteps + where);
        bind(cmd);
        return db.WithRows<RunHistoryRecord, StepHistoryRecord>(cmd, (run, revision, steps) => (run.Revision, run.Steps) = (revision, steps),
            step => step.Saved = step.Copy());
    }

    // Every step when the run is new here: a memory of a stored step may come from another store (a copy between stores).
    private void WriteSteps(RunHistoryRecord run, bool all = false)
    {
        var orders = new List<int>();
        var docs = new List<string>();
        var written = new List<(StepHistoryRecord Step, StepHistoryRecord Saved)>();
        for (var i = 0; i < run.Steps.Count; i++)
        {
            var step = run.Steps[i];
            if (!all && step.Saved is { } saved && step.SameFields(saved)) continue;
            orders.Add(i);
            docs.Add(PgJson.Write(step));
            written.Add((step, step.Copy()));
        }
        if (orders.Count == 0) return;
        // Sent with the run's row (or the write's next statement): the step rows need no answer. Written only if the
        // run's row is the one just written, so that a run changed or deleted meanwhile fails as the conflict its
        // row's compare-and-swap finds (not as a step without its run).
        db.Defer(orders.Count == 1
            ? db.Command(
                    "INSERT INTO run_steps (run_id, ord, doc) SELECT @id, @ord, @doc::json " +
                    $"{Written} ON CONFLICT (run_id, ord) DO UPDATE SET doc = EXCLUDED.doc")
                .With("id", run.Id).With("revision", run.Revision).With("ord", orders[0]).With("doc", docs[0])
            : db.Command(
                    "INSERT INTO run_steps (run_id, ord, doc) " +
                    $"SELECT @id, s.ord, s.doc::json FROM unnest(@ords, @docs) AS s(ord, doc) {Written} " +
                    "ON CONFLICT (run_id, ord) DO UPDATE SET doc = EXCLUDED.doc")
                .With("id", run.Id).With("revision", run.Revision).With("ords", orders.ToArray()).With("docs", docs.ToArray()));
        // Remembered once committed: after a rollback the steps must be written again next time.
        void Remember()
        {
            foreach (var (step, saved) in written) step.Saved = saved;
        }
        if (onCommitted is null) Remember();
        else onCommitted(Remember);
    }
}
