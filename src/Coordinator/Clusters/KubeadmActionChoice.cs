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
    /// join → join; upgrade → upgrade-apply on the first control-plane node of a cluster's upgrade (it moves the
    /// control plane: <paramref name="firstControlPlane"/>, which a rollout decides) and upgrade-node on every other
    /// node (and on a node applied to directly); no spec.kubeadm → "" (the phase is skipped).
    /// </summary>
    public static string For(NodePlan plan, bool firstControlPlane = false) => plan.Spec?.Kubeadm?.Mode switch
    {
        PlanKubeadm.ModeJoin => PlanKubeadm.ActionJoin,
        PlanKubeadm.ModeUpgrade => firstControlPlane ? PlanKubeadm.ActionUpgradeApply : PlanKubeadm.ActionUpgradeNode,
        _ => "",
    };
}
