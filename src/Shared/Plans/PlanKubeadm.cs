using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// spec.kubeadm and the kubeadm actions of an apply (ApplyPlan.kubeadm_action): the modes a plan names, the actions
/// the coordinator picks from them, and the exact kubeadm command line of each, shared by the agent that runs it and
/// the dry run that shows it.
/// </summary>
public static class PlanKubeadm
{
    public const string ModeUpgrade = "upgrade";
    public const string ModeJoin = "join";

    public static IReadOnlyList<string> Modes { get; } = [ModeUpgrade, ModeJoin];

    /// <summary>`kubeadm upgrade apply vX.Y.Z --yes`: the first control-plane node of a cluster's upgrade.</summary>
    public const string ActionUpgradeApply = "upgrade-apply";

    /// <summary>`kubeadm upgrade node`: every other node of a cluster's upgrade.</summary>
    public const string ActionUpgradeNode = "upgrade-node";

    /// <summary>`kubeadm join --config FILE`: a new node.</summary>
    public const string ActionJoin = "join";

    /// <summary>The actions an apply may carry; "" (none) skips the kubeadm phase.</summary>
    public static IReadOnlyList<string> Actions { get; } = [ActionUpgradeApply, ActionUpgradeNode, ActionJoin];

    /// <summary>
    /// Where spec.kubeadm.configFile may live: kubeadm's own directory and NodeFleet's. The file holds a bootstrap
    /// token, so it is named, never carried in the plan.
    /// </summary>
    public static IReadOnlyList<string> ConfigRoots { get; } = ["/etc/kubernetes", "/etc/nodefleet"];

    /// <summary>Where kubeadm is looked for when no plan artifact named kubeadm installs it elsewhere.</summary>
    public const string DefaultBinary = "/usr/bin/kubeadm";

    /// <summary>The name of the plan artifact that is kubeadm (installed before the others).</summary>
    public const string ArtifactName = "kubeadm";

    /// <summary>The path of kubeadm on the node: the install path of the artifact named kubeadm, or /usr/bin/kubeadm.</summary>
    public static string BinaryPath(NodePlanSpec spec) =>
        spec.Artifacts.FirstOrDefault(a => a.Name == ArtifactName && a.InstallPath.Length > 0)?.InstallPath ?? DefaultBinary;

    /// <summary>
    /// The arguments kubeadm is run with for <paramref name="action"/> (never through a shell), or null with
    /// <paramref name="error"/> when the action is unknown or does not fit the plan: an upgrade action needs
    /// spec.kubeadm.mode upgrade and a version, join needs mode join and its configFile.
    /// </summary>
    public static IReadOnlyList<string>? Arguments(string action, NodePlanSpec spec, out string error)
    {
        error = "";
        var mode = spec.Kubeadm?.Mode ?? "";
        switch (action)
        {
            case ActionUpgradeApply or ActionUpgradeNode when mode != ModeUpgrade:
            case ActionJoin when mode != ModeJoin:
                error = $"kubeadm action '{action}' needs spec.kubeadm.mode {(action == ActionJoin ? ModeJoin : ModeUpgrade)}, "
                    + $"the plan has {(mode.Length == 0 ? "no spec.kubeadm" : $"mode '{mode}'")}";
                return null;
            case ActionUpgradeApply:
                if (!KubernetesRelease.TryParse(spec.KubernetesVersion, out _))
                {
                    error = $"kubeadm upgrade apply needs spec.kubernetesVersion, got '{spec.KubernetesVersion}'";
                    return null;
                }
                return ["upgrade", "apply", spec.KubernetesVersion, "--yes"];
            case ActionUpgradeNode:
                return ["upgrade", "node"];
            case ActionJoin:
                var file = spec.Kubeadm!.ConfigFile;
                if (HostPaths.AbsolutePathError(file) is { } pathError)
                {
                    error = $"spec.kubeadm.configFile '{file}': {pathError}";
                    return null;
                }
                return ["join", "--config", file];
            default:
                error = $"unknown kubeadm action '{action}' (actions: {string.Join(", ", Actions)}, or none)";
                return null;
        }
    }

    /// <summary>"kubeadm upgrade apply v1.31.2 --yes": how a command line is shown (its arguments hold no spaces).</summary>
    public static string CommandLine(IEnumerable<string> arguments) => string.Join(' ', new[] { "kubeadm" }.Concat(arguments));
}
