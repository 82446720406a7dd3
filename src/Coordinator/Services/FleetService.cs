using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The operator API: a thin adapter over tokens and the node registry.</summary>
public sealed class FleetService(TokenService tokens, NodeRegistry registry, Presence presence, HeartbeatPacer pacer, CertificateAuthority ca,
    ICoordinatorStore store, PlanService plans, PlanRecorder recorder, ClusterRegistry clusters,
    NodeFleet.Coordinator.Rollouts.RolloutService rollouts) : Fleet.FleetBase
{
    public override Task<ClusterInfo> GetClusterInfo(GetClusterInfoRequest request, ServerCallContext context) =>
        Task.FromResult(new ClusterInfo
        {
            AdvertiseAddress = store.Cluster.Get()?.AdvertiseAddress ?? "",
            CaCertHash = ca.JoinHash,
            Version = BuildInfo.Version,
            HeartbeatInterval = Duration.FromTimeSpan(pacer.Current),
        });

    public override async Task<CreateTokenResponse> CreateToken(CreateTokenRequest request, ServerCallContext context)
    {
        TimeSpan? ttl = request.TtlSet ? request.Ttl?.ToTimeSpan() ?? TimeSpan.Zero : null;
        var (token, record) = await tokens.CreateAsync(request.Token, ttl, (int)request.Usages, request.Description);
        return new CreateTokenResponse
        {
            Token = token.ToString(),
            Info = FactsMapping.ToMessage(record),
            CaCertHash = ca.JoinHash,
            AdvertiseAddress = store.Cluster.Get()?.AdvertiseAddress ?? "",
        };
    }

    public override Task<ListTokensResponse> ListTokens(ListTokensRequest request, ServerCallContext context)
    {
        var response = new ListTokensResponse();
        response.Tokens.AddRange(tokens.List().Select(FactsMapping.ToMessage));
        return Task.FromResult(response);
    }

    public override async Task<DeleteTokenResponse> DeleteToken(DeleteTokenRequest request, ServerCallContext context)
    {
        await tokens.DeleteAsync(request.Id);
        return new DeleteTokenResponse();
    }

    public override async Task<ListNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context)
    {
        LabelSelector selector;
        try { selector = LabelSelector.Parse(request.LabelSelector); }
        catch (FormatException e) { throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message)); }
        var size = Paging.Size(request.PageSize, DefaultNodesPage, MaxNodesPage, "page_size");
        var after = Paging.DecodeToken(request.PageToken);
        // Pages by name: a node added or removed between two pages neither repeats nor hides another.
        var page = registry.List(selector).Where(n => string.CompareOrdinal(n.Name, after) > 0).Take(size + 1).ToList();
        var response = new ListNodesResponse();
        var nodes = page.Take(size).ToList();
        response.Nodes.AddRange(nodes.Select(ToMessage));
        if (page.Count > size) response.NextPageToken = Paging.EncodeToken(page[size - 1].Name);
        if (request.Kubernetes)
            foreach (var (name, view) in await clusters.ViewsAsync(nodes, context.CancellationToken))
                response.Kubernetes[name] = ClustersService.ToMessage(view);
        return response;
    }

    /// <summary>Nodes in one ListNodes answer when the request does not say: 500 nodes are about 350 KiB.</summary>
    public const int DefaultNodesPage = 500;
    public const int MaxNodesPage = 5000;

    /// <summary>Runs a describe shows, newest first (each bounded by NodeLimits).</summary>
    public const int DescribeRuns = 5;

    public override Task<Node> GetNode(GetNodeRequest request, ServerCallContext context) =>
        Task.FromResult(ToMessage(registry.Get(request.Name)));

    public override async Task<NodeDescription> DescribeNode(GetNodeRequest request, ServerCallContext context)
    {
        var node = registry.Get(request.Name);
        var d = new NodeDescription { Node = ToMessage(node) };
        d.Events.AddRange(registry.Events(request.Name, 20).Select(FactsMapping.ToMessage));
        d.Runs.AddRange(recorder.History(request.Name, DescribeRuns));
        if ((await clusters.ViewsAsync([node], context.CancellationToken)).TryGetValue(node.Name, out var view))
            d.Kubernetes = ClustersService.ToMessage(view);
        return d;
    }

    public override async Task<ApplyPlanResponse> ApplyPlan(ApplyPlanRequest request, ServerCallContext context)
    {
        // A node in a cluster is cordoned, drained, applied, waited for and uncordoned: a rollout of that node alone.
        if (!request.Force && request.Plan is not null && await rollouts.ApplyToClusterNodeAsync(request) is { } rollout)
            return new ApplyPlanResponse { PlanName = rollout.PlanName, Generation = rollout.Generation, Node = request.Node, RolloutId = rollout.Id,
                Digest = NodeFleet.Plans.PlanCanonical.Digest(request.Plan) };
        return await plans.ApplyAsync(request);
    }

    public override Task<DryRunResult> DiffPlan(ApplyPlanRequest request, ServerCallContext context) =>
        plans.DiffAsync(request, context.CancellationToken);

    public override Task<CancelRunResponse> CancelRun(CancelRunRequest request, ServerCallContext context) => plans.CancelAsync(request);

    public override async Task<Node> LabelNode(LabelNodeRequest request, ServerCallContext context) =>
        ToMessage((await registry.LabelAsync(request.Name, request.Set, request.Remove, request.Overwrite)).Node);

    public override async Task<DeleteNodeResponse> DeleteNode(DeleteNodeRequest request, ServerCallContext context)
    {
        await registry.DeleteAsync(request.Name);
        presence.Kick(request.Name);
        return new DeleteNodeResponse();
    }

    public override async Task Backup(BackupRequest request, IServerStreamWriter<BackupChunk> responseStream, ServerCallContext context)
    {
        if (store is not Store.LiteDb.LiteDbStore lite)
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                "the coordinator keeps its state in PostgreSQL: back it up with pg_dump (see the README)"));
        var (copy, checkpoint) = await lite.BackupAsync();
        try
        {
            await using var file = new FileStream(copy, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var buffer = new byte[1 << 20];
            var first = new BackupChunk { Size = file.Length, Checkpoint = checkpoint };
            int read;
            while ((read = await file.ReadAsync(buffer, context.CancellationToken)) > 0)
            {
                var chunk = first ?? new BackupChunk();
                first = null;
                chunk.Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, read);
                await responseStream.WriteAsync(chunk, context.CancellationToken);
            }
            if (first is not null) await responseStream.WriteAsync(first, context.CancellationToken);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    public override async Task<RevokeNodeResponse> RevokeNode(RevokeNodeRequest request, ServerCallContext context)
    {
        var serials = await registry.RevokeAsync(request.Name, request.Reason);
        // Its stream ends now (the stream's own close is no longer the node's, so the status is set here); the reconnect
        // is refused at the handshake.
        presence.Kick(request.Name);
        await registry.MarkOfflineAsync(request.Name, "revoked", null, force: true);
        return new RevokeNodeResponse { Serials = { serials } };
    }

    /// <summary>The stored node with its live last-seen time, which is flushed to disk only periodically.</summary>
    private Node ToMessage(NodeRecord record)
    {
        var m = FactsMapping.ToMessage(record);
        var live = presence.Get(record.Name);
        if (live is { Connected: true } && (record.LastSeen is null || live.LastSeen > record.LastSeen))
            m.LastSeen = FactsMapping.Ts(live.LastSeen);
        return m;
    }
}
