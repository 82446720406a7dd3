using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// The engine's decisions for nodes in a cluster, as pure values: control-plane nodes first in waves of their own,
/// cordon → drain → apply → wait-ready → uncordon holding the node's max-unavailable place, failures recovering
/// (undo, Ready again, uncordoned) and the kubeadm action of each node.
/// </summary>
public class RolloutEngineClusterTests
{
    private static readonly DateTime T0 = new(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>cp1 (control plane) and w1..w3 in cluster c1, h1 in none.</summary>
    private static RolloutRecord Rollout(int maxUnavailable = 2, int maxFailures = 1, string[]? nodes = null)
    {
        var r = new RolloutRecord
        {
            Id = "r1", PlanName = "p", Canary = 1, MaxUnavailable = maxUnavailable, MaxFailures = maxFailures,
            PrepareAhead = false, PrepareConcurrency = 50, State = RolloutState.Pending, CreatedAt = T0, UpdatedAt = T0,
        };
        var placed = new Dictionary<string, NodeInCluster>
        {
            ["cp1"] = new("c1", "k-cp1", true, "v1.31.4"),
            ["w1"] = new("c1", "k-w1", false, "v1.31.4"),
            ["w2"] = new("c1", "k-w2", false, "v1.31.4"),
            ["w3"] = new("c1", "k-w3", false, "v1.31.4"),
        };
        RolloutEngine.PlanWaves(r, nodes ?? ["w1", "w2", "w3", "cp1"], placed);
        return r;
    }

    /// <summary>The engine's next decision; a pending rollout first becomes ROLLING (a decision of its own).</summary>
    private static List<RolloutAction> Decide(RolloutRecord r, DateTime? now = null)
    {
        if (r.State == RolloutState.Pending) RolloutEngine.Decide(r, _ => true, now ?? T0);
        return RolloutEngine.Decide(r, _ => true, now ?? T0).Actions;
    }

    private static StepReport RunEnd(NodeFleet.Protocol.V1.RunState state, string runId = "run1", string message = "") =>
        new() { RolloutId = "r1", Stage = RolloutEngine.StageApply, RunState = state, RunId = runId, Message = message };

    /// <summary>Takes the node from cordon to the agent's run: cordoned (schedulable before) and drained.</summary>
    private static void CordonAndDrain(RolloutRecord r, string node, bool wasSchedulable = true)
    {
        RolloutEngine.OnKube(r, new KubeReport.Cordoned(node, wasSchedulable, T0), T0);
        RolloutEngine.OnKube(r, new KubeReport.DrainStarted(node, T0), T0);
        RolloutEngine.OnKube(r, new KubeReport.Drained(node, true, "drained: 2 evicted"), T0);
    }

    [Fact]
    public void Control_plane_nodes_lead_each_in_a_wave_of_its_own_then_the_workers_in_waves_of_max_unavailable()
    {
        var r = Rollout(maxUnavailable: 2, nodes: ["w1", "w2", "w3", "cp1", "cp2"]);
        // cp2 is not placed: it is a node outside any cluster, a worker as far as order goes.
        Assert.Equal(["cp1", "cp2", "w1", "w2", "w3"], r.Nodes.Select(n => n.Name));
        Assert.Equal([0, 1, 1, 2, 2], r.Nodes.Select(n => n.Wave));
        Assert.True(r.Nodes[0].ControlPlane);
        Assert.Equal(("c1", "k-cp1"), (r.Nodes[0].Cluster, r.Nodes[0].KubeNodeName));
        Assert.Equal("", r.Nodes[1].Cluster);

        var two = new RolloutRecord { MaxUnavailable = 3, Canary = 1 };
        RolloutEngine.PlanWaves(two, ["a", "b", "c", "d"], new Dictionary<string, NodeInCluster>
        {
            ["c"] = new("c1", "c", true, "v1.31.4"), ["d"] = new("c1", "d", true, "v1.31.4"), ["a"] = new("c1", "a", false, "v1.31.4"),
        });
        Assert.Equal([("c", 0), ("d", 1), ("a", 2), ("b", 2)], two.Nodes.Select(n => (n.Name, n.Wave)));
        Assert.Equal(3, two.WaveCount);
    }

    [Fact]
    public void A_node_in_a_cluster_is_cordoned_drained_applied_waited_for_and_uncordoned_keeping_its_place_throughout()
    {
        var r = Rollout(maxUnavailable: 1);
        var actions = Decide(r);
        // The control-plane node starts alone, with a cordon rather than the agent's request.
        Assert.Equal([new RolloutAction.Cordon("cp1")], actions);
        var cp = r.Node("cp1")!;
        Assert.Equal((RolloutNodeState.Running, KubeSteps.Cordon), (cp.State, cp.KubeStep));
        Assert.Equal(new RolloutAction.Cordon("cp1"), RolloutEngine.KubeAction(cp));

        RolloutEngine.OnKube(r, new KubeReport.Cordoned("cp1", true, T0), T0);
        Assert.Equal(KubeSteps.Drain, cp.KubeStep);
        Assert.Equal(new RolloutAction.Drain("cp1"), RolloutEngine.KubeAction(cp));
        RolloutEngine.OnKube(r, new KubeReport.DrainStarted("cp1", T0), T0);
        RolloutEngine.OnKube(r, new KubeReport.PodRemoved("cp1", "uid-1", "default/web-0", false), T0);
        var blocked = RolloutEngine.OnKube(r, new KubeReport.DrainBlocked("cp1", "default/web-1", "web-pdb", "needs 2 healthy pods"), T0);
        Assert.Equal("DrainBlocked", Assert.Single(blocked).Reason);
        Assert.Contains("web-pdb", blocked[0].Message);
        Assert.Equal("pod default/web-1, budget web-pdb: needs 2 healthy pods", cp.DrainBlocked);
        Assert.Equal(["uid-1"], cp.DrainEvicted);
        Assert.Equal(T0, cp.DrainStartedAt);
        // Nothing more starts while the control-plane node is out, whatever the budget.
        Assert.Empty(Decide(r));

        RolloutEngine.OnKube(r, new KubeReport.Drained("cp1", true, "drained"), T0);
        Assert.Equal((KubeSteps.Apply, ""), (cp.KubeStep, cp.DrainBlocked));
        Assert.Null(RolloutEngine.KubeAction(cp)); // the agent's step

        RolloutEngine.OnReport(r, "cp1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        Assert.Equal((RolloutNodeState.Running, KubeSteps.WaitReady, "run1"), (cp.State, cp.KubeStep, cp.RunId));
        Assert.Equal(new RolloutAction.WaitReady("cp1", false), RolloutEngine.KubeAction(cp));
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("cp1", KubeSteps.WaitReady, true, "Ready at v1.32.0"), T0);
        Assert.Equal(KubeSteps.Uncordon, cp.KubeStep);
        Assert.Empty(Decide(r));
        RolloutEngine.OnKube(r, new KubeReport.Uncordoned("cp1", true, "uncordoned"), T0);
        Assert.Equal((RolloutNodeState.Succeeded, KubeSteps.Done), (cp.State, cp.KubeStep));

        // The next wave starts.
        Decide(r);
        Assert.Equal([new RolloutAction.Cordon("w1")], Decide(r));
    }

    [Fact]
    public void A_report_for_a_step_the_node_has_left_is_ignored()
    {
        var r = Rollout();
        Decide(r);
        CordonAndDrain(r, "cp1");
        var notes = RolloutEngine.OnKube(r, new KubeReport.Drained("cp1", false, "late"), T0);
        Assert.Empty(notes);
        Assert.Equal((RolloutNodeState.Running, KubeSteps.Apply), (r.Node("cp1")!.State, r.Node("cp1")!.KubeStep));
    }

    [Fact]
    public void A_drain_that_times_out_fails_the_node_which_recovers_and_is_uncordoned_and_the_budget_pauses_the_rollout()
    {
        var r = Rollout();
        Decide(r);
        RolloutEngine.OnKube(r, new KubeReport.Cordoned("cp1", true, T0), T0);
        var notes = RolloutEngine.OnKube(r, new KubeReport.Drained("cp1", false,
            "drain timed out with 1 pod(s) left: default/db-0 blocked by budget db-pdb: needs 1 healthy pods"), T0);
        var cp = r.Node("cp1")!;
        Assert.Equal("NodeFailed", Assert.Single(notes).Reason);
        Assert.Contains("default/db-0 blocked by budget db-pdb", cp.Message);
        Assert.Equal((RolloutNodeState.Failed, KubeSteps.Recover, true), (cp.State, cp.KubeStep, cp.HoldsSlot));
        Assert.Equal(new RolloutAction.WaitReady("cp1", true), RolloutEngine.KubeAction(cp));

        // The canary failed: the rollout pauses, and the node's recovery goes on while it is paused.
        RolloutEngine.Decide(r, _ => true, T0);
        Assert.Equal(RolloutState.Paused, r.State);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("cp1", KubeSteps.Recover, true, "Ready at v1.31.4"), T0);
        Assert.Equal(KubeSteps.Uncordon, cp.KubeStep);
        RolloutEngine.OnKube(r, new KubeReport.Uncordoned("cp1", true, "uncordoned"), T0);
        Assert.Equal((RolloutNodeState.Failed, KubeSteps.Done, false, ""), (cp.State, cp.KubeStep, cp.HoldsSlot, cp.CordonNote));
    }

    [Fact]
    public void A_node_never_Ready_fails_its_deadline_is_undone_then_uncordoned_once_Ready_again()
    {
        var r = Rollout();
        Decide(r);
        CordonAndDrain(r, "cp1");
        RolloutEngine.OnReport(r, "cp1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("cp1", KubeSteps.WaitReady, false, "not Ready at v1.32.0 within 5m"), T0);
        var cp = r.Node("cp1")!;
        Assert.Equal((RolloutNodeState.Failed, KubeSteps.Undo, true), (cp.State, cp.KubeStep, cp.HoldsSlot));
        Assert.Null(RolloutEngine.KubeAction(cp)); // the agent undoes its run
        Assert.Equal(1, r.Failures);

        RolloutEngine.OnReport(r, "cp1", RunEnd(NodeFleet.Protocol.V1.RunState.Undone), T0);
        Assert.Equal(KubeSteps.Recover, cp.KubeStep);
        // Never Ready again: left cordoned, saying why.
        var notes = RolloutEngine.OnKube(r, new KubeReport.ReadyResult("cp1", KubeSteps.Recover, false, "not Ready again within 5m"), T0);
        Assert.Equal("NodeLeftCordoned", Assert.Single(notes).Reason);
        Assert.Equal((KubeSteps.Done, false), (cp.KubeStep, cp.HoldsSlot));
        Assert.StartsWith("left cordoned: it is not Ready again", cp.CordonNote);
    }

    [Fact]
    public void A_node_cordoned_by_someone_else_before_stays_cordoned_and_says_so()
    {
        var r = Rollout();
        Decide(r);
        var notes = RolloutEngine.OnKube(r, new KubeReport.Cordoned("cp1", false, T0), T0);
        Assert.Contains("already cordoned by someone else", Assert.Single(notes).Message);
        var cp = r.Node("cp1")!;
        RolloutEngine.OnKube(r, new KubeReport.DrainStarted("cp1", T0), T0);
        RolloutEngine.OnKube(r, new KubeReport.Drained("cp1", true, "drained"), T0);
        RolloutEngine.OnReport(r, "cp1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("cp1", KubeSteps.WaitReady, true, "Ready"), T0);
        var end = RolloutEngine.OnKube(r, new KubeReport.Uncordoned("cp1", false, "it was cordoned before NodeFleet cordoned it; left cordoned"), T0);
        Assert.Contains(end, n => n.Reason == "NodeLeftCordoned");
        Assert.Equal(RolloutNodeState.Succeeded, cp.State);
        Assert.StartsWith("left cordoned: it was cordoned before", cp.CordonNote);
    }

    [Fact]
    public void A_failed_run_recovers_the_node()
    {
        var r = Rollout();
        Decide(r);
        CordonAndDrain(r, "cp1");
        RolloutEngine.OnReport(r, "cp1", RunEnd(NodeFleet.Protocol.V1.RunState.Failed, message: "kubeadm: upgrade failed"), T0);
        var cp = r.Node("cp1")!;
        Assert.Equal((RolloutNodeState.Failed, KubeSteps.Recover, "kubeadm: upgrade failed"), (cp.State, cp.KubeStep, cp.Message));
    }

    [Fact]
    public void Kubeadm_upgrade_apply_runs_on_the_first_control_plane_node_and_upgrade_node_on_every_other()
    {
        var r = Rollout(nodes: ["w1", "cp1", "w2"]);
        var upgrade = new NodePlan { Spec = new NodePlanSpec { Kubeadm = new KubeadmSpec { Mode = "upgrade" } } };
        Assert.Equal("upgrade-apply", RolloutEngine.KubeadmAction(r, r.Node("cp1")!, upgrade));
        Assert.Equal("upgrade-node", RolloutEngine.KubeadmAction(r, r.Node("w1")!, upgrade));
        var join = new NodePlan { Spec = new NodePlanSpec { Kubeadm = new KubeadmSpec { Mode = "join", ConfigFile = "/etc/kubeadm/join.yaml" } } };
        Assert.Equal("join", RolloutEngine.KubeadmAction(r, r.Node("cp1")!, join));
        Assert.Equal("", RolloutEngine.KubeadmAction(r, r.Node("cp1")!, new NodePlan { Spec = new NodePlanSpec() }));
    }

    [Fact]
    public void A_control_plane_node_outside_the_rollout_already_at_the_version_leaves_upgrade_node_to_all()
    {
        var r = new RolloutRecord { Id = "r1", MaxUnavailable = 1, MaxFailures = 1 };
        RolloutEngine.PlanWaves(r, ["cp2"], new Dictionary<string, NodeInCluster> { ["cp2"] = new("c1", "k-cp2", true, "v1.31.4", ControlPlaneReached: true) });
        var upgrade = new NodePlan { Spec = new NodePlanSpec { Kubeadm = new KubeadmSpec { Mode = "upgrade" } } };
        Assert.Equal("upgrade-node", RolloutEngine.KubeadmAction(r, r.Node("cp2")!, upgrade));
    }

    [Fact]
    public void Rollback_of_a_cluster_node_cordons_drains_undoes_waits_for_Ready_at_any_version_and_uncordons()
    {
        var r = Rollout(maxUnavailable: 1, nodes: ["w1"]);
        Decide(r);
        CordonAndDrain(r, "w1");
        RolloutEngine.OnReport(r, "w1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("w1", KubeSteps.WaitReady, true, "Ready at v1.31.5"), T0);
        RolloutEngine.OnKube(r, new KubeReport.Uncordoned("w1", true, ""), T0);
        Decide(r);
        Assert.Equal(RolloutState.Succeeded, r.State);

        RolloutEngine.Transition(r, RolloutState.RollingBack, "", T0);
        var actions = Decide(r);
        var n = r.Node("w1")!;
        Assert.Equal(new RolloutAction[] { new RolloutAction.Cordon("w1") }, actions);
        Assert.Equal((RolloutNodeState.RollingBack, KubeSteps.Cordon), (n.State, n.KubeStep));
        Assert.Null(n.CordonedAt);
        CordonAndDrain(r, "w1");
        // Drained, the agent undoes the run (the controller sends it: no engine action), then Ready at any version.
        Assert.Equal(KubeSteps.Undo, n.KubeStep);
        Assert.Null(RolloutEngine.KubeAction(n));
        RolloutEngine.OnReport(r, "w1", RunEnd(NodeFleet.Protocol.V1.RunState.Undone), T0);
        Assert.Equal(new RolloutAction.WaitReady("w1", AnyVersion: true), RolloutEngine.KubeAction(n));
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("w1", KubeSteps.WaitReady, true, "Ready at v1.31.4"), T0);
        Assert.Equal(KubeSteps.Uncordon, n.KubeStep);
        Assert.Empty(Decide(r));
        Assert.Equal(RolloutState.RollingBack, r.State);
        var notes = RolloutEngine.OnKube(r, new KubeReport.Uncordoned("w1", true, ""), T0);
        Assert.Equal(["NodeUncordoned", "NodeRolledBack"], notes.Select(x => x.Reason));
        Assert.Equal((RolloutNodeState.RolledBack, KubeSteps.Done), (n.State, n.KubeStep));
        Decide(r);
        Assert.Equal(RolloutState.RolledBack, r.State);
    }

    [Fact]
    public void A_cluster_node_whose_undo_fails_in_a_rollback_fails_and_is_uncordoned_once_Ready_before_the_rollback_ends()
    {
        var r = Rollout(maxUnavailable: 1, nodes: ["w1"]);
        Decide(r);
        CordonAndDrain(r, "w1");
        RolloutEngine.OnReport(r, "w1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("w1", KubeSteps.WaitReady, true, "Ready"), T0);
        RolloutEngine.OnKube(r, new KubeReport.Uncordoned("w1", true, ""), T0);
        Decide(r);
        RolloutEngine.Transition(r, RolloutState.RollingBack, "", T0);
        Decide(r);
        CordonAndDrain(r, "w1");
        RolloutEngine.OnReport(r, "w1", RunEnd(NodeFleet.Protocol.V1.RunState.Failed, message: "restore failed"), T0);
        var n = r.Node("w1")!;
        Assert.Equal((RolloutNodeState.Failed, KubeSteps.Recover), (n.State, n.KubeStep));
        Decide(r);
        Assert.Equal(RolloutState.RollingBack, r.State);
        RolloutEngine.OnKube(r, new KubeReport.ReadyResult("w1", KubeSteps.Recover, true, "Ready"), T0);
        RolloutEngine.OnKube(r, new KubeReport.Uncordoned("w1", true, ""), T0);
        Decide(r);
        Assert.Equal(RolloutState.RolledBack, r.State);
    }

    [Fact]
    public void A_node_outside_any_cluster_keeps_the_behaviour_of_before()
    {
        var r = new RolloutRecord { Id = "r1", Canary = 1, MaxUnavailable = 1, MaxFailures = 1, State = RolloutState.Pending };
        RolloutEngine.PlanWaves(r, ["h1"], new Dictionary<string, NodeInCluster>());
        Assert.Equal([new RolloutAction.Apply("h1", RolloutEngine.StageApply)], Decide(r));
        RolloutEngine.OnReport(r, "h1", RunEnd(NodeFleet.Protocol.V1.RunState.Succeeded), T0);
        Assert.Equal((RolloutNodeState.Succeeded, ""), (r.Node("h1")!.State, r.Node("h1")!.KubeStep));
    }

    [Fact]
    public void The_wait_ready_deadline_is_the_plans_wait_ready_timeout_or_five_minutes()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), RolloutEngine.WaitReadyDeadline(new NodePlan { Spec = new NodePlanSpec() }));
        var plan = new NodePlan { Spec = new NodePlanSpec() };
        plan.Spec.Timeouts["wait-ready"] = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(90));
        Assert.Equal(TimeSpan.FromSeconds(90), RolloutEngine.WaitReadyDeadline(plan));
    }
}
