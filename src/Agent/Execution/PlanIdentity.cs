using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>The content identity of a plan: the coordinator's digest when set, else one computed here.</summary>
public static class PlanIdentity
{
    public static string Digest(NodePlan plan) =>
        plan.Metadata?.Digest is { Length: > 0 } d ? d : NodeFleet.Plans.PlanCanonical.Digest(plan);
}
