namespace NodeFleet.Plans;

/// <summary>
/// Reasons of the events the coordinator records about a plan's run on a node and that node's upgrade in a rollout, which
/// the CLI reads back (`plan apply --wait` on a node in a cluster): the same strings on both sides, in the fleet API.
/// </summary>
public static class EventReasons
{
    /// <summary>The agent's run of the plan succeeded.</summary>
    public const string PlanApplied = "PlanApplied";
    /// <summary>The agent's run failed: refused before it ran, or not entirely undone.</summary>
    public const string PlanFailed = "PlanFailed";
    /// <summary>The agent's run was undone (after it failed, or on a rollback).</summary>
    public const string PlanUndone = "PlanUndone";
    /// <summary>A node in a cluster: the plan is applied, the coordinator waits for the Node to be Ready.</summary>
    public const string NodeApplied = "NodeApplied";
    /// <summary>A node in a cluster: its Node is Ready (at the plan's version).</summary>
    public const string NodeReady = "NodeReady";
    /// <summary>A node in a cluster: cordoned for the rollout, it takes pods again.</summary>
    public const string NodeUncordoned = "NodeUncordoned";
    /// <summary>The node's part of the rollout succeeded.</summary>
    public const string NodeSucceeded = "NodeSucceeded";
    /// <summary>The node's part of the rollout failed.</summary>
    public const string NodeFailed = "NodeFailed";
}
