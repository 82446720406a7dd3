using Grpc.Core;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The cluster operator API: a thin adapter over <see cref="ClusterRegistry"/>. No answer carries a kubeconfig.</summary>
public sealed class ClustersService(ClusterRegistry clusters) : Protocol.V1.Clusters.ClustersBase
{
    public override async Task<KubeCluster> Add(AddClusterRequest request, ServerCallContext context) =>
        ToMessage(await clusters.AddAsync(request.Name, request.Kubeconfig.Memory, request.Context, context.CancellationToken));

    public override async Task<ListClustersResponse> List(ListClustersRequest request, ServerCallContext context)
    {
        var response = new ListClustersResponse();
        response.Clusters.AddRange((await clusters.ListAsync(context.CancellationToken)).Select(ToMessage));
        return response;
    }

    public override async Task<RemoveClusterResponse> Remove(RemoveClusterRequest request, ServerCallContext context)
    {
        var response = new RemoveClusterResponse();
        response.LinkedNodes.AddRange(await clusters.RemoveAsync(request.Name, request.Force));
        return response;
    }

    private static KubeCluster ToMessage(ClusterSummary c) => new()
    {
        Name = c.Record.Name,
        Context = c.Record.Context,
        Server = c.Record.Server,
        AddedAt = FactsMapping.Ts(c.Record.AddedAt),
        Reachable = c.Status.Reachable,
        ServerVersion = c.Status.ServerVersion ?? "",
        NodeCount = c.Status.NodeCount ?? 0,
        Error = c.Status.Error ?? "",
        LinkedNodes = c.LinkedNodes,
    };

    /// <summary>The wire form of a node's Kubernetes view (shared with the node list and describe).</summary>
    public static KubeNodeView ToMessage(NodeKubeView v)
    {
        var m = new KubeNodeView
        {
            Cluster = v.Cluster, KubeNodeName = v.KubeNodeName, Reachable = v.Reachable, Error = v.Error ?? "", Found = v.Node is not null,
        };
        if (v.Node is { } n)
        {
            m.Ready = n.Ready ?? "";
            m.KubeletVersion = n.KubeletVersion ?? "";
            m.Schedulable = n.Schedulable;
            m.Roles.AddRange(n.Roles);
        }
        return m;
    }
}
