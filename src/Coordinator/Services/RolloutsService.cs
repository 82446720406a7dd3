using Grpc.Core;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The rollout operator API: a thin adapter over <see cref="RolloutService"/>.</summary>
public sealed class RolloutsService(RolloutService rollouts) : Protocol.V1.Rollouts.RolloutsBase
{
    public override Task<Rollout> Start(StartRolloutRequest request, ServerCallContext context) => rollouts.StartAsync(request);

    public override Task<Rollout> Get(GetRolloutRequest request, ServerCallContext context) => Task.FromResult(rollouts.Get(request.Id));

    public override Task<ListRolloutsResponse> List(ListRolloutsRequest request, ServerCallContext context)
    {
        var response = new ListRolloutsResponse();
        response.Rollouts.AddRange(rollouts.List(request.IncludeFinished));
        return Task.FromResult(response);
    }

    public override Task<Rollout> Pause(RolloutActionRequest request, ServerCallContext context) => rollouts.PauseAsync(request.Id, request.Reason);
    public override Task<Rollout> Resume(RolloutActionRequest request, ServerCallContext context) => rollouts.ResumeAsync(request.Id, request.Reason, request.AcceptFailures);
    public override Task<Rollout> Abort(RolloutActionRequest request, ServerCallContext context) => rollouts.AbortAsync(request.Id, request.Reason);
    public override Task<Rollout> Rollback(RolloutActionRequest request, ServerCallContext context) => rollouts.RollbackAsync(request.Id, request.Reason);
}
