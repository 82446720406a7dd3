using k8s;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// Places a rollout's nodes in their clusters when it starts: the Node of each, whether it is a control-plane node
/// (its Node's role, or the NodeFleet label node-role.kubernetes.io/control-plane), and the version skew policy checked
/// per cluster against its API server, before anything runs.
/// </summary>
public static class RolloutClusters
{
    /// <summary>The NodeFleet label that marks a control-plane node when its Node does not say so.</summary>
    public const string ControlPlaneLabel = "node-role.kubernetes.io/control-plane";

    /// <summary>The nodes in a cluster, by name; refuses (naming node, rule and reason) what the skew policy forbids.</summary>
    public static async Task<IReadOnlyDictionary<string, NodeInCluster>> PlaceAsync(INodeClusters? clusters, NodeRegistry registry,
        IReadOnlyList<string> nodes, NodePlan plan, CancellationToken ct = default)
    {
        var placed = new Dictionary<string, NodeInCluster>(StringComparer.Ordinal);
        if (clusters is null or NoNodeClusters) return placed;
        var found = new List<(string Node, NodeCluster Cluster)>();
        foreach (var node in nodes)
            if (await clusters.ForNodeAsync(node, ct) is { } c) found.Add((node, c));
        var problems = new List<string>();
        foreach (var group in found.GroupBy(f => f.Cluster.Cluster))
        {
            var client = group.First().Cluster.Connection.Client;
            string apiServer;
            try
            {
                apiServer = (await client.Version.GetCodeAsync(ct)).GitVersion;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                problems.Add($"cluster {group.Key}: the API server did not answer: {KubeErrors.Describe(e)}");
                continue;
            }
            var skew = new List<SkewNode>();
            foreach (var (node, c) in group)
            {
                NodeView? view;
                try { view = await NodeView.ReadAsync(client, c.KubeNodeName, ct); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    problems.Add($"{node}: cluster {group.Key}: {KubeErrors.Describe(e)}");
                    continue;
                }
                if (view is null)
                {
                    problems.Add($"{node}: cluster {group.Key} has no Node named {c.KubeNodeName}");
                    continue;
                }
                var controlPlane = view.IsControlPlane || registry.Get(node).Labels.ContainsKey(ControlPlaneLabel);
                placed[node] = new NodeInCluster(group.Key, c.KubeNodeName, controlPlane, view.KubeletVersion ?? "");
                skew.Add(new SkewNode(node, controlPlane, view.KubeletVersion ?? ""));
            }
            // A control-plane node outside the rollout already at the version moved the control plane: no upgrade-apply.
            if (plan.Spec.Kubeadm?.Mode == NodeFleet.Plans.PlanKubeadm.ModeUpgrade)
            {
                var inRollout = group.Select(g => g.Cluster.KubeNodeName).ToHashSet(StringComparer.Ordinal);
                List<NodeView> all;
                try { all = (await client.CoreV1.ListNodeAsync(cancellationToken: ct)).Items.Select(NodeView.From).ToList(); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    problems.Add($"cluster {group.Key}: listing its Nodes failed: {KubeErrors.Describe(e)}");
                    continue;
                }
                if (KubeadmActionChoice.ControlPlaneReached(all, inRollout, plan.Spec.KubernetesVersion))
                    foreach (var (node, _) in group)
                        if (placed.TryGetValue(node, out var p)) placed[node] = p with { ControlPlaneReached = true };
            }
            foreach (var v in VersionSkew.CheckUpgrade(apiServer, plan.Spec.KubernetesVersion, skew))
                problems.Add($"cluster {group.Key} (API server {apiServer}): {v}");
        }
        if (problems.Count > 0)
            throw new FailedPreconditionException($"the upgrade to {plan.Spec.KubernetesVersion} cannot start (version skew policy, cluster nodes):\n" +
                string.Join('\n', problems.Take(20)) + (problems.Count > 20 ? $"\nand {problems.Count - 20} more" : ""));
        return placed;
    }
}
