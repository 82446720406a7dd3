using k8s;
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
    /// join → join; upgrade → upgrade-apply on the first control-plane node of a cluster to reach the plan's version (it
    /// moves the control plane: <paramref name="firstControlPlane"/>) and upgrade-node on every other node; no
    /// spec.kubeadm → "" (the phase is skipped).
    /// </summary>
    public static string For(NodePlan plan, bool firstControlPlane = false) => plan.Spec?.Kubeadm?.Mode switch
    {
        PlanKubeadm.ModeJoin => PlanKubeadm.ActionJoin,
        PlanKubeadm.ModeUpgrade => firstControlPlane ? PlanKubeadm.ActionUpgradeApply : PlanKubeadm.ActionUpgradeNode,
        _ => "",
    };

    /// <summary>
    /// Whether a control-plane Node of the cluster other than <paramref name="except"/> already runs
    /// <paramref name="target"/>: its control plane was moved, so no node of it runs upgrade-apply again.
    /// </summary>
    public static bool ControlPlaneReached(IEnumerable<NodeView> nodes, IReadOnlySet<string> except, string target) =>
        nodes.Any(n => n.IsControlPlane && !except.Contains(n.Name) && SameVersion(n.KubeletVersion, target));

    /// <summary>
    /// For a node applied to or diffed directly: upgrade-apply when it is a control-plane node of its cluster (its Node's
    /// role, or <paramref name="labelledControlPlane"/>) and no other control-plane Node of the cluster runs the plan's
    /// version yet, as a rollout of that node would decide; otherwise as <see cref="For"/>.
    /// </summary>
    public static async Task<string> ForNodeAsync(NodePlan plan, NodeCluster? cluster, bool labelledControlPlane, CancellationToken ct = default)
    {
        if (plan.Spec?.Kubeadm?.Mode != PlanKubeadm.ModeUpgrade || cluster is null) return For(plan);
        List<NodeView> nodes;
        try
        {
            nodes = (await cluster.Connection.Client.CoreV1.ListNodeAsync(cancellationToken: ct)).Items.Select(NodeView.From).ToList();
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw new Errors.FailedPreconditionException(
                $"cluster {cluster.Cluster}: cannot tell whether node {cluster.KubeNodeName} runs kubeadm upgrade apply or upgrade node: {KubeErrors.Describe(e)}");
        }
        var self = nodes.FirstOrDefault(n => n.Name == cluster.KubeNodeName);
        var controlPlane = self?.IsControlPlane == true || labelledControlPlane;
        var reached = ControlPlaneReached(nodes, new HashSet<string>(StringComparer.Ordinal) { cluster.KubeNodeName }, plan.Spec.KubernetesVersion);
        return For(plan, firstControlPlane: controlPlane && !reached);
    }

    private static bool SameVersion(string? a, string b) =>
        a is not null && string.Equals(a.TrimStart('v'), b.TrimStart('v'), StringComparison.Ordinal);
}
