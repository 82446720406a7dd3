using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Runs in two tables: runs (the run's own fields as jsonb; its node and start as columns) and run_steps (one row per
/// step: the run, the step's place in the run, its fields as json). A run is read with its steps in one statement; an
/// update writes the run's row and, in the same statement, only the steps that differ from what was last read or
/// written: a report of one step rewrites that step, not the run's whole list.
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
        // The run's row is this transaction's until it commits: no other write can change it before its steps.
        if (Changed(run, all: true) is not { } steps) return;
        db.Defer(db.Command(
                "INSERT INTO run_steps (run_id, ord, doc) SELECT @id, s.ord, s.doc::json FROM unnest(@ords, @docs) AS s(ord, doc)")
            .With("id", run.Id).With("ords", steps.Orders).With("docs", steps.Docs));
        Remember(steps);
    }

    public void Update(RunHistoryRecord run)
    {
        if (Changed(run) is not { } steps)
        {
            _rows.Update(run.Id, run.Revision, PgJson.Write(run), Columns(run));
            run.Revision++;
            return;
        }
        // One statement: the steps are written from the rows the compare-and-swap of the run updated, so a run changed
        // or deleted meanwhile gets none of them, even when a lambda catches the conflict and goes on.
        var expected = run.Revision;
        var cmd = db.Command(
                "WITH u AS (UPDATE runs SET revision = revision + 1, doc = @doc, node = @node, started_at = @started_at " +
                "WHERE id = @id AND revision = @expected RETURNING id) " +
                "INSERT INTO run_steps (run_id, ord, doc) SELECT u.id, s.ord, s.doc::json FROM u, unnest(@ords, @docs) AS s(ord, doc) " +
                "ON CONFLICT (run_id, ord) DO UPDATE SET doc = EXCLUDED.doc")
            .With("id", run.Id).With("expected", expected).WithJson("doc", PgJson.Write(run))
            .With("ords", steps.Orders).With("docs", steps.Docs);
        cmd.Parameters.AddRange(Columns(run));
        // Each step is inserted or updated once when the run was; none when it was not.
        db.Defer(cmd, rows =>
        {
            if (rows != steps.Orders.Length) _rows.Conflict(run.Id, expected);
        });
        run.Revision++;
        Remember(steps);
    }

    // The steps go with the run's row (run_steps references it, deleting on cascade).
    public bool Delete(string id) => _rows.Delete(id);

    public int DeleteBeyond(string node, int keep, IReadOnlySet<string> keepRollouts) => db.Execute(db.Command(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE node = @node ORDER BY started_at DESC, id DESC OFFSET @keep) " +
            "AND NOT (coalesce(doc->>'RolloutId', '') = ANY(@rollouts))")
        .With("node", node).With("keep", keep).With("rollouts", keepRollouts.ToArray()));

    private static NpgsqlParameter[] Columns(RunHistoryRecord run) => [Rows.Column("node", run.Node), Rows.Time("started_at", run.StartedAt)];

    private List<RunHistoryRecord> Select(string where, Action<NpgsqlCommand> bind)
    {
        var cmd = db.Command(WithSteps + where);
        bind(cmd);
        return db.WithRows<RunHistoryRecord, StepHistoryRecord>(cmd, (run, revision, steps) => (run.Revision, run.Steps) = (revision, steps),
            step => step.Saved = step.Copy());
    }

    /// <summary>Steps to write: their places in the run, their docs, and copies to remember once committed.</summary>
    private sealed record Steps(int[] Orders, string[] Docs, List<(StepHistoryRecord Step, StepHistoryRecord Saved)> Written);

    // Every step when the run is new here: a memory of a stored step may come from another store (a copy between stores).
    private static Steps? Changed(RunHistoryRecord run, bool all = false)
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
        return orders.Count == 0 ? null : new Steps([.. orders], [.. docs], written);
    }

    // Remembered once committed: after a rollback the steps must be written again next time.
    private void Remember(Steps steps)
    {
        void Remember()
        {
            foreach (var (step, saved) in steps.Written) step.Saved = saved;
        }
        if (onCommitted is null) Remember();
        else onCommitted(Remember);
    }
}
