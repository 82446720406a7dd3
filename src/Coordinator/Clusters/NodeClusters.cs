namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// The cluster a NodeFleet node belongs to, as an upgrade needs it: the cluster's name, the node's name in Kubernetes
/// (its NodeFleet name unless the agent reported the kubelet's --hostname-override or a label overrides it), and the
/// connection to the cluster's API server. The connection is shared and owned by whoever resolved it: never disposed by the caller.
/// </summary>
public sealed record NodeCluster(string Cluster, string KubeNodeName, ClusterConnection Connection);

/// <summary>Finds the cluster of a node; the seam between the cluster registry and what drives upgrades.</summary>
public interface INodeClusters
{
    /// <summary>The node's cluster, or null when the node belongs to none (host-only plans keep today's behaviour).</summary>
    Task<NodeCluster?> ForNodeAsync(string node, CancellationToken ct = default);
}

/// <summary>No node belongs to a cluster: what the coordinator does until clusters are registered.</summary>
public sealed class NoNodeClusters : INodeClusters
{
    public Task<NodeCluster?> ForNodeAsync(string node, CancellationToken ct = default) => Task.FromResult<NodeCluster?>(null);
}
