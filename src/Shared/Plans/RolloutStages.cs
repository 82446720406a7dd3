namespace NodeFleet.Plans;

/// <summary>
/// The stages of a rollout's request to a node (ApplyPlan.stage), kept with the run in the agent's journal and echoed in
/// its reports.
/// </summary>
public static class RolloutStages
{
    /// <summary>The non-disruptive phases only (<see cref="PlanPhases.Prepare"/>), on every node ahead of the waves.</summary>
    public const string Prepare = "prepare";
    /// <summary>The whole plan, in the node's wave.</summary>
    public const string Apply = "apply";
}
