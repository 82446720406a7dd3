using System.Text.Json;
using Npgsql;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// A label selector as a WHERE clause on the nodes' labels column (jsonb, GIN-indexed): k=v is containment (@>), k an
/// existence test (?), k in (a,b) containment of either, and the negations their NOT. The database matches; no node is
/// read to be dropped.
/// </summary>
internal static class SelectorSql
{
    public static (string Where, Action<NpgsqlCommand> Bind) Where(LabelSelector selector)
    {
        if (selector.IsEmpty) return ("", _ => { });
        var clauses = new List<string>();
        var parameters = new List<NpgsqlParameter>();
        string Param(object value, bool json)
        {
            var name = $"l{parameters.Count}";
            parameters.Add(json ? Rows.Json(name, (string)value) : Rows.Column(name, value));
            return "@" + name;
        }
        string Has(string key, string value) =>
            $"labels @> {Param(JsonSerializer.Serialize(new Dictionary<string, string> { [key] = value }), json: true)}";
        string AnyOf(string key, IReadOnlyList<string> values) =>
            values.Count == 0 ? "false" : "(" + string.Join(" OR ", values.Select(v => Has(key, v))) + ")";

        foreach (var r in selector.Requirements)
        {
            clauses.Add(r.Op switch
            {
                LabelSelector.Op.Equals => Has(r.Key, r.Values[0]),
                LabelSelector.Op.NotEquals => $"NOT {Has(r.Key, r.Values[0])}",
                LabelSelector.Op.Exists => $"labels ? {Param(r.Key, json: false)}",
                LabelSelector.Op.NotExists => $"NOT labels ? {Param(r.Key, json: false)}",
                LabelSelector.Op.In => AnyOf(r.Key, r.Values),
                LabelSelector.Op.NotIn => $"NOT {AnyOf(r.Key, r.Values)}",
                _ => throw new ArgumentOutOfRangeException(nameof(selector), r.Op, "unknown selector operator"),
            });
        }
        return ("WHERE " + string.Join(" AND ", clauses), c => c.Parameters.AddRange(parameters.ToArray()));
    }
}
