using Grpc.Core;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The rollout operator API: a thin adapter over <see cref="RolloutService"/>.</summary>
public sealed class RolloutsService(RolloutService rollouts) : Protocol.V1.Rollouts.RolloutsBase
{
    public override Task<Rollout> Start(StartRolloutRequest request, ServerCallContext context) => rollouts.StartAsync(request);

    public const int DefaultPage = 100;
    public const int MaxPage = 1000;

    public override Task<Rollout> Get(GetRolloutRequest request, ServerCallContext context) => Task.FromResult(rollouts.Get(request.Id));

    public override Task<ListRolloutsResponse> List(ListRolloutsRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize, DefaultPage, MaxPage, "page_size");
        // Newest first; the token is the id of the last rollout of the previous page.
        var all = rollouts.List(request.IncludeFinished);
        var after = Paging.DecodeToken(request.PageToken);
        var start = 0;
        if (after.Length > 0)
        {
            var at = all.ToList().FindIndex(r => r.Id == after);
            start = at < 0 ? all.Count : at + 1;
        }
        var page = all.Skip(start).Take(size + 1).ToList();
        var response = new ListRolloutsResponse();
        response.Rollouts.AddRange(page.Take(size));
        if (page.Count > size) response.NextPageToken = Paging.EncodeToken(page[size - 1].Id);
        return Task.FromResult(response);
    }

    public override Task<Rollout> Pause(RolloutActionRequest request, ServerCallContext context) => rollouts.PauseAsync(request.Id, request.Reason);
    public override Task<Rollout> Resume(RolloutActionRequest request, ServerCallContext context) => rollouts.ResumeAsync(request.Id, request.Reason, request.AcceptFailures);
    public override Task<Rollout> Abort(RolloutActionRequest request, ServerCallContext context) => rollouts.AbortAsync(request.Id, request.Reason);
    public override Task<Rollout> Rollback(RolloutActionRequest request, ServerCallContext context) => rollouts.RollbackAsync(request.Id, request.Reason);
    public override Task<Rollout> Skip(RolloutActionRequest request, ServerCallContext context) => rollouts.SkipAsync(request.Id, request.Node, request.Reason);
}
