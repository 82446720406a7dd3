using k8s;
using k8s.Models;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// What a cordon did, for the caller to persist with the node's upgrade: whether the node was schedulable before,
/// hence whether NodeFleet owns the cordon. Only a cordon NodeFleet made is undone.
/// </summary>
public sealed record CordonRecord(string Node, bool WasSchedulable, DateTimeOffset At)
{
    public bool CordonedByUs => WasSchedulable;
}

/// <summary>The outcome of an uncordon: done, or left alone with the reason.</summary>
public sealed record UncordonResult(string Node, bool Uncordoned, string Reason);

/// <summary>Marks Nodes unschedulable and back, as `kubectl cordon` and `uncordon` do (a merge patch of spec.unschedulable).</summary>
public static class Cordon
{
    /// <summary>
    /// Cordons the node. Re-run with the record of an earlier call (after a crash), it keeps that record's answer:
    /// the node is cordoned by then, and it was NodeFleet's cordon if it was then.
    /// </summary>
    public static async Task<CordonRecord> CordonAsync(IKubernetes client, string node, TimeProvider time,
        CordonRecord? earlier = null, CancellationToken ct = default)
    {
        var view = await NodeView.ReadAsync(client, node, ct)
            ?? throw new KubeNodeNotFoundException(node);
        var record = earlier is { } e && e.Node == node ? e : new CordonRecord(node, view.Schedulable, time.GetUtcNow());
        if (view.Schedulable) await PatchUnschedulableAsync(client, node, true, ct);
        return record;
    }

    /// <summary>Uncordons the node only when <paramref name="record"/> says NodeFleet cordoned it.</summary>
    public static async Task<UncordonResult> UncordonAsync(IKubernetes client, CordonRecord record, CancellationToken ct = default)
    {
        if (!record.CordonedByUs)
            return new UncordonResult(record.Node, false, "it was cordoned before NodeFleet cordoned it; left cordoned");
        var view = await NodeView.ReadAsync(client, record.Node, ct)
            ?? throw new KubeNodeNotFoundException(record.Node);
        if (view.Schedulable) return new UncordonResult(record.Node, false, "already schedulable");
        await PatchUnschedulableAsync(client, record.Node, false, ct);
        return new UncordonResult(record.Node, true, "uncordoned");
    }

    private static Task PatchUnschedulableAsync(IKubernetes client, string node, bool unschedulable, CancellationToken ct)
    {
        // null rather than false on uncordon, so the field is removed as kubectl leaves it.
        var body = unschedulable ? "{\"spec\":{\"unschedulable\":true}}" : "{\"spec\":{\"unschedulable\":null}}";
        return client.CoreV1.PatchNodeAsync(new V1Patch(body, V1Patch.PatchType.MergePatch), node, cancellationToken: ct);
    }
}

/// <summary>The cluster has no Node of the name NodeFleet knows the node by.</summary>
public sealed class KubeNodeNotFoundException(string node)
    : Exception($"the cluster has no Node named {node}")
{
    public string Node { get; } = node;
}
