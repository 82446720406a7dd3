namespace NodeFleet.Coordinator.Store;

/// <summary>
/// Copies every record of one store into another through the store interface, table by table (leases aside: they
/// belong to running coordinators). Events keep their order: they are added oldest first, and the target gives them
/// ids in that order. What each table holds is then compared by count, on each engine's own terms.
/// </summary>
public static class StoreCopy
{
    /// <summary>The tables copied, by the name both stores give them.</summary>
    public static readonly IReadOnlyList<string> Tables =
    [
        "tokens", "nodes", "plans", "runs", "cluster", "rollouts", "rollout_nodes", "events", "kube_clusters",
        "revoked_certificates", "operator_certificates", "certificate_authorities", "windows", "outbox",
    ];

    private const int EventPage = 1000;

    /// <summary>
    /// Copies <paramref name="from"/> into <paramref name="to"/>; <paramref name="runNodes"/> are the nodes whose runs to
    /// copy (every node that has runs, deleted ones included). Reports progress per table on <paramref name="output"/>.
    /// </summary>
    public static async Task CopyAsync(ICoordinatorStore from, IReadOnlyList<string> runNodes, ICoordinatorStore to, TextWriter output)
    {
        if (from.Cluster.Get() is { } cluster) await to.WriteAsync(s => s.Cluster.Put(cluster));
        var tokens = from.Tokens.List();
        await to.WriteAsync(s => { foreach (var t in tokens) s.Tokens.Insert(t); });
        var nodes = from.Nodes.List(NodeFleet.Labels.LabelSelector.Everything);
        var progress = await from.WriteAsync(s => nodes.Select(n => (n.Name, Progress: s.Nodes.GetProgress(n.Name))).ToList());
        await to.WriteAsync(s =>
        {
            foreach (var n in nodes) s.Nodes.Insert(n);
            foreach (var (name, p) in progress)
                if (p is { } value) s.Nodes.SetProgress(name, value);
        });
        var plans = from.Plans.List();
        await to.WriteAsync(s => { foreach (var p in plans) s.Plans.Insert(p); });
        foreach (var node in runNodes)
        {
            var runs = from.Runs.ListByNode(node, int.MaxValue);
            await to.WriteAsync(s => { foreach (var r in runs) s.Runs.Insert(r); });
        }
        var rollouts = from.Rollouts.ListAll();
        foreach (var rollout in rollouts) await to.WriteAsync(s => s.Rollouts.Insert(rollout));
        var kube = from.KubeClusters.List();
        await to.WriteAsync(s => { foreach (var k in kube) s.KubeClusters.Insert(k); });
        var revoked = from.Revocations.List();
        await to.WriteAsync(s => { foreach (var r in revoked) s.Revocations.Add(r); });
        var operators = from.OperatorCertificates.List();
        await to.WriteAsync(s => { foreach (var o in operators) s.OperatorCertificates.Put(o); });
        var authorities = from.Authorities.List();
        await to.WriteAsync(s => { foreach (var a in authorities) s.Authorities.Insert(a); });
        var windows = from.Windows.List();
        await to.WriteAsync(s => { foreach (var w in windows) s.Windows.Insert(w); });
        // Messages not delivered yet (to nodes offline now), in their order per node.
        var pending = 0;
        foreach (var recipient in await from.Outbox.RecipientsWithPendingAsync())
            foreach (var m in await from.Outbox.PendingAsync(recipient, int.MaxValue))
            {
                await to.Outbox.EnqueueAsync(m.Recipient, m.Payload);
                pending++;
            }

        // Newest page first, read back to the oldest; added oldest first.
        var pages = new List<IReadOnlyList<EventRecord>>();
        var before = "";
        while (true)
        {
            var page = from.Events.Newest(new EventQuery(EventPage, Before: before));
            if (page.Count == 0) break;
            pages.Add(page);
            before = page[0].Id;
            if (page.Count < EventPage) break;
        }
        for (var i = pages.Count - 1; i >= 0; i--)
        {
            var page = pages[i];
            await to.WriteAsync(s => { foreach (var e in page) s.Events.Add(new EventRecord
            {
                Time = e.Time, Type = e.Type, Reason = e.Reason, Node = e.Node, Rollout = e.Rollout, Message = e.Message, Actor = e.Actor,
            }); });
        }
        await output.WriteLineAsync($"copied {tokens.Count} token(s), {nodes.Count} node(s), {plans.Count} plan(s), the runs of {runNodes.Count} node(s), " +
            $"{rollouts.Count} rollout(s), {pages.Sum(p => p.Count)} event(s), {kube.Count} cluster(s), {revoked.Count} revoked and {operators.Count} operator certificate(s), " +
            $"{authorities.Count} CA(s), {windows.Count} maintenance window(s) and {pending} undelivered message(s)");
    }
}
