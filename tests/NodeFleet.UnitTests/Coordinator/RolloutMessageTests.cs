using NodeFleet.Coordinator.Rollouts;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>The rollout as sent to the CLI carries the coordinator's own decisions (final, held by failures).</summary>
public class RolloutMessageTests
{
    private static readonly DateTime T0 = new(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static RolloutRecord Rollout(int nodes, int maxFailures = 1)
    {
        var r = new RolloutRecord
        {
            Id = "r1", PlanName = "p", Canary = 1, MaxUnavailable = 1, MaxFailures = maxFailures,
            PrepareConcurrency = 50, State = RolloutState.Pending, CreatedAt = T0, UpdatedAt = T0,
        };
        RolloutEngine.PlanWaves(r, Enumerable.Range(1, nodes).Select(i => $"n{i:00}"));
        return r;
    }

    [Theory]
    [InlineData(RolloutState.Pending, false)]
    [InlineData(RolloutState.Preparing, false)]
    [InlineData(RolloutState.Rolling, false)]
    [InlineData(RolloutState.Paused, false)]
    [InlineData(RolloutState.RollingBack, false)]
    [InlineData(RolloutState.Succeeded, true)]
    [InlineData(RolloutState.Failed, true)]
    [InlineData(RolloutState.Aborted, true)]
    [InlineData(RolloutState.RolledBack, true)]
    public void Final_is_the_coordinators_rule(RolloutState state, bool final)
    {
        var r = Rollout(3);
        r.State = state;
        Assert.Equal(final, RolloutViews.ToMessage(r, T0).Final);
    }

    [Fact]
    public void A_paused_rollout_is_held_by_a_failed_canary_at_wave_0_until_the_failure_is_accepted()
    {
        var r = Rollout(3, maxFailures: 2);
        r.State = RolloutState.Paused;
        r.CurrentWave = 0;
        Assert.False(RolloutViews.ToMessage(r, T0).HeldByFailures);
        r.Nodes[0].State = RolloutNodeState.Failed;
        r.Failures = 1;
        Assert.True(RolloutViews.ToMessage(r, T0).HeldByFailures);
        // While preparing ahead (wave -1) a failed canary holds nothing: the other nodes go on preparing.
        r.CurrentWave = -1;
        Assert.False(RolloutViews.ToMessage(r, T0).HeldByFailures);
        r.CurrentWave = 0;
        r.Nodes[0].FailureAccepted = true;
        r.AcceptedFailures = 1;
        Assert.False(RolloutViews.ToMessage(r, T0).HeldByFailures);
    }

    [Fact]
    public void A_paused_rollout_is_held_once_its_error_budget_is_spent_and_only_while_paused()
    {
        var r = Rollout(5, maxFailures: 2);
        r.State = RolloutState.Paused;
        r.CurrentWave = 2;
        r.Failures = 1;
        Assert.False(RolloutViews.ToMessage(r, T0).HeldByFailures);
        r.Failures = 2;
        Assert.True(RolloutViews.ToMessage(r, T0).HeldByFailures);
        r.State = RolloutState.Failed;
        Assert.False(RolloutViews.ToMessage(r, T0).HeldByFailures);
    }
}
