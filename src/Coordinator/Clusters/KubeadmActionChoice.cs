using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// The one place that decides what a node's kubeadm phase runs (ApplyPlan.kubeadm_action, DryRunRequest.kubeadm_action),
/// for `plan apply --node`, `plan diff` and rollouts alike.
/// </summary>
public static class KubeadmActionChoice
{
    /// <summary>
    /// From spec.kubeadm alone for now: join → join, upgrade → upgrade-node, none → "" (the phase is skipped). The
    /// cluster-aware choice (upgrade-apply on the first control-plane node of a cluster's upgrade) replaces this.
    /// </summary>
    public static string For(NodePlan plan) => plan.Spec?.Kubeadm?.Mode switch
    {
        PlanKubeadm.ModeJoin => PlanKubeadm.ActionJoin,
        PlanKubeadm.ModeUpgrade => PlanKubeadm.ActionUpgradeNode,
        _ => "",
    };
}
