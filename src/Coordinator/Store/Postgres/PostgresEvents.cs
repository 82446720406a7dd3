using System.Globalization;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// Events ordered so that a reader never misses one. A sequence alone would not do: with several writers (or several
/// coordinators) a transaction that took number 7 may commit after one that took 8, and a reader that already went
/// past 8 would never see 7. So each event row keeps the id of the transaction that wrote it (xact, from
/// pg_current_xact_id()) and its place in that transaction (seq), and sorts by (xact, seq); and a reader is shown only
/// the events of transactions older than its snapshot's xmin, which have all ended, so that no event can ever appear
/// below what a reader has seen. The order is that of transaction ids, which is the order in which events become
/// visible to readers; an event shows up once every transaction that began writing before its own has ended (in
/// practice milliseconds after its commit). The text id is both numbers in fixed-width hex, so ids sort as text too.
/// </summary>
internal sealed class PgEvents(PgSession db) : IEvents
{
    // Transactions that have all ended: every event row with an older xact is final, and none can be added there.
    private const string Final = "xact < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

    public IReadOnlyList<EventRecord> Newest(EventQuery query)
    {
        if (query.Limit <= 0) return [];
        var where = Final;
        if (query.Node.Length > 0) where += " AND node = @node";
        if (query.Rollout.Length > 0) where += " AND rollout = @rollout";
        if (query.Before.Length > 0) where += " AND (xact, seq) < (@bx, @bs)";
        var cmd = db.Command(
            $"SELECT xact, seq, time, type, reason, node, rollout, message, actor FROM events WHERE {where} " +
            "ORDER BY xact DESC, seq DESC LIMIT @limit").With("limit", query.Limit);
        if (query.Node.Length > 0) cmd.With("node", query.Node);
        if (query.Rollout.Length > 0) cmd.With("rollout", query.Rollout);
        if (query.Before.Length > 0)
        {
            var (xact, seq) = ParseId(query.Before);
            cmd.With("bx", xact).With("bs", seq);
        }
        var newest = db.Rows(cmd, r => new EventRecord
        {
            Id = Id(r.GetInt64(0), r.GetInt64(1)),
            Time = r.GetFieldValue<DateTime>(2),
            Type = r.GetString(3),
            Reason = r.GetString(4),
            Node = r.GetString(5),
            Rollout = r.GetString(6),
            Message = r.GetString(7),
            Actor = r.GetString(8),
        });
        newest.Reverse();
        return newest;
    }

    public void Add(EventRecord e)
    {
        var (xact, seq) = db.Rows(db.Command(
                "INSERT INTO events (time, type, reason, node, rollout, message, actor) " +
                "VALUES (@time, @type, @reason, @node, @rollout, @message, @actor) RETURNING xact, seq")
            .WithTime("time", e.Time).With("type", e.Type).With("reason", e.Reason).With("node", e.Node)
            .With("rollout", e.Rollout).With("message", e.Message).With("actor", e.Actor), r => (r.GetInt64(0), r.GetInt64(1)))[0];
        e.Id = Id(xact, seq);
    }

    public int DeleteOlderThan(DateTime cutoff, int max) => max <= 0 ? 0 : db.Execute(db.Command(
            "DELETE FROM events WHERE (xact, seq) IN (SELECT xact, seq FROM events WHERE time < @cutoff LIMIT @max)")
        .WithTime("cutoff", cutoff).With("max", max));

    private static string Id(long xact, long seq) => $"{xact:x16}{seq:x16}";

    private static (long Xact, long Seq) ParseId(string id)
    {
        if (id.Length == 32
            && long.TryParse(id.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var xact)
            && long.TryParse(id.AsSpan(16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var seq))
            return (xact, seq);
        throw new InvalidArgumentException($"'{id}' is not an event id (32 hex digits, as events are listed)");
    }
}
