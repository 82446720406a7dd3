using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>How a NodeFleet node names its cluster and its Kubernetes Node: two labels and one fact.</summary>
public static class ClusterLabels
{
    /// <summary>The cluster a node belongs to (set by `nodefleet-agent join --cluster NAME` or `node label`).</summary>
    public const string Cluster = "nodefleet.io/cluster";

    /// <summary>The node's name in Kubernetes, when it is neither the kubelet's --hostname-override nor the NodeFleet name.</summary>
    public const string KubeNodeName = "nodefleet.io/kubernetes-node-name";

    /// <summary>The node's cluster, or null when it names none.</summary>
    public static string? ClusterOf(NodeRecord node) =>
        node.Labels.TryGetValue(Cluster, out var name) && name.Length > 0 ? name : null;

    /// <summary>
    /// The node's Kubernetes Node name, in order: the label, the kubelet's --hostname-override as the agent reported it,
    /// the NodeFleet name (a kubelet without the flag names its Node after the host, which the agent's name defaults to).
    /// </summary>
    public static string KubeNodeNameOf(NodeRecord node)
    {
        if (node.Labels.TryGetValue(KubeNodeName, out var label) && label.Length > 0) return label;
        // The kubelet lower-cases the override, as it does the hostname (util/node.GetHostname).
        var over = node.Facts.KubeletHostnameOverride.Trim();
        return over.Length > 0 ? over.ToLowerInvariant() : node.Name;
    }
}
