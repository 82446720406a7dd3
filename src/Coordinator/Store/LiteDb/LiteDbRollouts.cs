using LiteDB;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Rollouts;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// Rollouts in two collections: the rollout's own fields in rollouts, each node's state in rollout_nodes (keyed
/// ROLLOUT:NODE, with the rollout's id and the node's place in its list). An update rewrites the rollout's small
/// document and only the nodes whose fields differ from what was last read or written.
/// </summary>
internal sealed class LiteDbRollouts(LiteDatabase db) : IRollouts
{
    public const string RolloutIdField = "RolloutId";
    private const string OrderField = "Order";

    private static readonly BsonValue[] ActiveStates = Enum.GetValues<RolloutState>()
        .Where(RolloutTransitions.IsActive).Select(s => new BsonValue(s.ToString())).ToArray();

    private ILiteCollection<RolloutRecord> Rollouts => db.GetCollection<RolloutRecord>(LiteDbSchema.RolloutsCollection);
    private ILiteCollection<BsonDocument> Nodes => db.GetCollection(LiteDbSchema.RolloutNodesCollection);

    public RolloutRecord? Get(string id) => Rollouts.FindById(id) is { } r ? WithNodes(r) : null;

    public IReadOnlyList<RolloutRecord> ListActive() => ActiveHeaders().Select(WithNodes).ToList();

    public IReadOnlyList<RolloutRecord> ListAll() => Rollouts.FindAll().ToList().Select(WithNodes).ToList();

    public IReadOnlyList<RolloutMembership> ActiveMemberships(IReadOnlyCollection<string> nodes)
    {
        var wanted = nodes as IReadOnlySet<string> ?? nodes.ToHashSet(StringComparer.Ordinal);
        var found = new List<RolloutMembership>();
        foreach (var r in ActiveHeaders())
        {
            foreach (var doc in NodeDocuments(r.Id))
            {
                var name = doc[nameof(RolloutNodeRecord.Name)].AsString;
                if (wanted.Contains(name)) found.Add(new RolloutMembership(name, r.Id, r.State));
            }
        }
        return found;
    }

    public IReadOnlyList<(string Id, long Revision)> ActiveRevisions() =>
        db.GetCollection(LiteDbSchema.RolloutsCollection).Find(Query.In(nameof(RolloutRecord.State), ActiveStates))
            .Select(d => (d["_id"].AsString, Revisions.Of(d))).ToList();

    public IReadOnlyList<string> OverWithClusterWorkUnfinished()
    {
        // Through the KubeStep index: only the nodes with cluster work under way are read, then their rollouts' state.
        var ids = Nodes.Find(Query.In(nameof(RolloutNodeRecord.KubeStep), KubeSteps.UnfinishedSteps.Select(x => new BsonValue(x)).ToArray()))
            .Where(d => d[nameof(RolloutNodeRecord.Cluster)] is { IsString: true } c && c.AsString.Length > 0)
            .Select(d => d[RolloutIdField].AsString).Distinct(StringComparer.Ordinal).ToList();
        var rollouts = db.GetCollection(LiteDbSchema.RolloutsCollection);
        return ids.Where(id => rollouts.FindById(id) is { } r && r[nameof(RolloutRecord.State)] is { IsString: true } st
                && Enum.TryParse<RolloutState>(st.AsString, out var state) && !RolloutTransitions.IsActive(state))
            .Order(StringComparer.Ordinal).ToList();
    }

    public void Insert(RolloutRecord rollout)
    {
        Revisions.Insert(db, LiteDbSchema.RolloutsCollection, "rollout", rollout.Id, rollout, r => rollout.Revision = r);
        WriteNodes(rollout, all: true);
    }

    public void Update(RolloutRecord rollout)
    {
        Revisions.Update(db, LiteDbSchema.RolloutsCollection, "rollout", rollout.Id, rollout, rollout.Revision, r => rollout.Revision = r);
        WriteNodes(rollout);
    }

    private List<RolloutRecord> ActiveHeaders() =>
        Rollouts.Find(Query.In(nameof(RolloutRecord.State), ActiveStates)).ToList();

    private IEnumerable<BsonDocument> NodeDocuments(string rolloutId) =>
        Nodes.Find(Query.EQ(RolloutIdField, rolloutId)).OrderBy(d => d[OrderField].AsInt32);

    private RolloutRecord WithNodes(RolloutRecord r)
    {
        var mapper = db.Mapper;
        r.Nodes = NodeDocuments(r.Id).Select(doc =>
        {
            var node = mapper.ToObject<RolloutNodeRecord>(doc);
            node.Saved = node.Copy();
            return node;
        }).ToList();
        return r;
    }

    // Every node when the rollout is new here: a memory of a stored node may come from another store (a copy between stores).
    private void WriteNodes(RolloutRecord rollout, bool all = false)
    {
        var mapper = db.Mapper;
        for (var i = 0; i < rollout.Nodes.Count; i++)
        {
            var node = rollout.Nodes[i];
            if (!all && node.Saved is { } saved && node.SameFields(saved)) continue;
            Nodes.Upsert(NodeDocument(rollout.Id, i, mapper.ToDocument(node)));
            node.Saved = node.Copy();
        }
    }

    /// <summary>A node's stored document: its fields, its key, its rollout and its place in the rollout's list.</summary>
    public static BsonDocument NodeDocument(string rolloutId, int order, BsonDocument fields)
    {
        var doc = new BsonDocument { ["_id"] = $"{rolloutId}:{fields[nameof(RolloutNodeRecord.Name)].AsString}" };
        foreach (var (k, v) in fields) if (k != "_id") doc[k] = v;
        doc[RolloutIdField] = rolloutId;
        doc[OrderField] = order;
        return doc;
    }
}
