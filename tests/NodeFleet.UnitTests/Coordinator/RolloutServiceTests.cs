using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Operator actions on rollouts over a real LiteDB store: what is refused, and that a refusal stores nothing.</summary>
public sealed class RolloutServiceTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private RolloutService _service = null!;

    public async Task InitializeAsync()
    {
        var presence = new Presence(_rig.Time);
        var plans = new PlanService(_rig.Store, _rig.Registry, presence, _rig.Time);
        var controller = new RolloutController(_rig.Store, presence, _rig.Events, new RolloutMetrics(Prometheus.Metrics.NewCustomRegistry()),
            _rig.Time, NullLogger<RolloutController>.Instance);
        _service = new RolloutService(_rig.Store, plans, _rig.Registry, controller, _rig.Events, _rig.Time);
        var token = await _rig.CreateTokenAsync();
        foreach (var name in new[] { "w1", "w2" }) (await _rig.JoinAsync(token, name, new Dictionary<string, string> { ["role"] = "worker" })).Key.Dispose();
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static StartRolloutRequest Start(string selector, bool dryRun = false) => new()
    {
        Plan = PlanTestData.Load("valid-minimal.yaml").Plan, Selector = selector, DryRun = dryRun,
        Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "1", MaxFailures = "1" },
    };

    private async Task<string> RolloutInAsync(RolloutState state)
    {
        var r = await _service.StartAsync(Start("role=worker"));
        await _rig.Store.WriteAsync(s =>
        {
            var record = s.Rollouts.FindById(r.Id)!;
            record.State = state;
            s.Rollouts.Update(record);
        });
        return r.Id;
    }

    // Resume used to move a PREPARING rollout to ROLLING, skipping the rest of the preparation, and answer OK.
    [Theory]
    [InlineData(RolloutState.Pending, "PENDING")]
    [InlineData(RolloutState.Preparing, "PREPARING")]
    [InlineData(RolloutState.Rolling, "ROLLING")]
    [InlineData(RolloutState.Succeeded, "SUCCEEDED")]
    [InlineData(RolloutState.Aborted, "ABORTED")]
    public async Task Resume_applies_only_to_a_paused_rollout(RolloutState state, string name)
    {
        var id = await RolloutInAsync(state);
        var e = await Assert.ThrowsAsync<RpcException>(() => _service.ResumeAsync(id, ""));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"rollout {id} is {name}, not paused", e.Status.Detail);
        Assert.Equal(state, _rig.Store.Rollouts.FindById(id)!.State);
    }

    [Theory]
    [InlineData(RolloutState.Preparing, RolloutState.Preparing)]
    [InlineData(RolloutState.Rolling, RolloutState.Rolling)]
    public async Task Resume_of_a_paused_rollout_goes_back_to_what_the_pause_interrupted(RolloutState interrupted, RolloutState expected)
    {
        var id = await RolloutInAsync(interrupted);
        await _service.PauseAsync(id, "");
        await _service.ResumeAsync(id, "");
        Assert.Equal(expected, _rig.Store.Rollouts.FindById(id)!.State);
    }

    [Fact]
    public async Task Refusals_name_states_as_the_cli_shows_them()
    {
        var id = await RolloutInAsync(RolloutState.Aborted);
        var pause = await Assert.ThrowsAsync<RpcException>(() => _service.PauseAsync(id, ""));
        Assert.Equal($"rollout {id} is ABORTED; it cannot become PAUSED", pause.Status.Detail);
        var abort = await Assert.ThrowsAsync<RpcException>(() => _service.AbortAsync(id, ""));
        Assert.Equal($"rollout {id} is already ABORTED", abort.Status.Detail);
        var rolling = await RolloutInAsync(RolloutState.Rolling);
        var rollback = await Assert.ThrowsAsync<RpcException>(() => _service.RollbackAsync(rolling, ""));
        Assert.Equal($"rollout {rolling} is ROLLING; it cannot become ROLLING_BACK; pause or abort it first", rollback.Status.Detail);
    }

    // A selector that matched nothing used to be stored as a rollout "SUCCEEDED: no nodes selected".
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_selector_that_matches_no_node_is_refused_and_nothing_is_stored(bool dryRun)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _service.StartAsync(Start("nomatch=x", dryRun)));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("selector nomatch=x matches no node", e.Status.Detail);
        Assert.Empty(_rig.Store.Rollouts.FindAll());
        Assert.Empty(_rig.Store.Plans.FindAll());
    }

    [Fact]
    public async Task A_selector_that_matches_nodes_starts_a_rollout()
    {
        var r = await _service.StartAsync(Start("role=worker"));
        Assert.Equal(["w1", "w2"], r.Nodes.Select(n => n.Name));
        Assert.Single(_rig.Store.Rollouts.FindAll());
    }
}
