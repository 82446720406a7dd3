using NodeFleet.Cli.Commands;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

/// <summary>`plan apply --wait` on a node of a cluster: the output follows what happened, whatever order the answers came in.</summary>
public class ClusterPlanWaitTests
{
    private static readonly ApplyPlanResponse Applied = new() { PlanName = "upgrade-1.31", Generation = 3, Node = "cp-1", RolloutId = "r-1" };

    private static Rollout At(string kubeStep, RolloutNodeState state = RolloutNodeState.Running) =>
        new() { Id = "r-1", Nodes = { new RolloutNode { Name = "cp-1", KubeStep = kubeStep, State = state, RunId = "run-1" } } };

    private static Event E(string reason) => new() { Node = "cp-1", Reason = reason, Message = reason.ToLowerInvariant() };

    private static NodeDescription Described(RunState state)
    {
        var run = new RunHistory { RunId = "run-1", PlanName = "upgrade-1.31", Generation = 3, State = state, StartedAt = SecondsAgo(10) };
        if (state == RunState.Succeeded) run.FinishedAt = SecondsAgo(1);
        run.Steps.Add(Step("kubeadm", "upgrade-apply", StepState.Succeeded, 9, 8, "applied", changed: true));
        var d = new NodeDescription { Node = new Node { Name = "cp-1" } };
        d.Runs.Add(run);
        return d;
    }

    [Fact]
    public void Events_after_the_run_wait_for_its_steps_and_the_drain_comes_before_them()
    {
        var wait = new ClusterPlanWait(Applied, []);
        // One answer already holds the drain, the whole run, and what followed it.
        Event[] events = [E("NodeCordoned"), E("NodeDrained"), E("PlanApplied"), E("NodeApplied"), E("NodeReady")];
        var (first, done) = wait.Observe(At("wait-ready"), events.Take(2).Append(events[2]).ToList(), Described(RunState.Running));
        Assert.Null(done);
        Assert.True(first.IndexOf("NodeDrained", StringComparison.Ordinal) < first.IndexOf("kubeadm/upgrade-apply", StringComparison.Ordinal), first);
        Assert.DoesNotContain("PlanApplied", first);

        var (second, _) = wait.Observe(At("uncordon"), events, Described(RunState.Succeeded));
        Assert.True(second.IndexOf("PlanApplied", StringComparison.Ordinal) < second.IndexOf("NodeReady", StringComparison.Ordinal), second);
        Assert.DoesNotContain("NodeDrained", second);

        var (last, outcome) = wait.Observe(At("done", RolloutNodeState.Succeeded), [.. events, E("NodeUncordoned"), E("NodeSucceeded")], null);
        Assert.True(outcome);
        Assert.Equal("NodeUncordoned: nodeuncordoned\nNodeSucceeded: nodesucceeded\n", last);
    }

    [Fact]
    public void A_node_that_failed_before_its_run_shows_every_event_at_the_end()
    {
        var wait = new ClusterPlanWait(Applied, []);
        var (text, outcome) = wait.Observe(At("done", RolloutNodeState.Failed), [E("NodeCordoned"), E("DrainBlocked"), E("NodeFailed")], Described(RunState.Running));
        Assert.False(outcome);
        Assert.Contains("NodeFailed", text);
    }
}
