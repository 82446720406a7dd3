using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

public static partial class PlanValidator
{
    /// <summary>spec.drain, by the rules the coordinator's drainer applies (<see cref="DrainRules"/>).</summary>
    private static void CheckDrain(ErrorSink errors, DrainSpec? drain)
    {
        if (drain is null) return;
        var timeout = Span(errors, drain.Timeout, "spec.drain.timeout") ?? DrainRules.DefaultTimeout;
        var skip = Span(errors, drain.SkipWaitForDeleteTimeout, "spec.drain.skipWaitForDeleteTimeout");
        var problems = DrainRules.Problems(timeout, drain.HasGracePeriodSeconds ? drain.GracePeriodSeconds : null, skip,
            drain.PodSelector.Length == 0 ? null : drain.PodSelector, drain.OnTimeout);
        foreach (var (field, message) in problems) errors.Add(PlanPath.Field("spec.drain", field), message);
    }

    /// <summary>spec.kubeadm: a known mode; join names its JoinConfiguration file on the node, upgrade names none.</summary>
    private static void CheckKubeadm(ErrorSink errors, NodePlanSpec spec)
    {
        if (spec.Kubeadm is not { } kubeadm) return;
        // The agent runs kubeadm by its file name (its allow-list): the artifact that is kubeadm must keep that name.
        for (var i = 0; i < spec.Artifacts.Count; i++)
        {
            var a = spec.Artifacts[i];
            if (a.Name == PlanKubeadm.ArtifactName && a.InstallPath.Length > 0 && Path.GetFileName(a.InstallPath) != PlanKubeadm.ArtifactName)
                errors.Add(PlanPath.Field(PlanPath.Index("spec.artifacts", i), "installPath"),
                    $"'{a.InstallPath}': the artifact named kubeadm is the kubeadm the kubeadm phase runs; install it as a file named kubeadm");
        }
        var modes = string.Join(" or ", PlanKubeadm.Modes);
        if (kubeadm.Mode.Length == 0) errors.Add("spec.kubeadm.mode", $"required: {modes}");
        else if (!PlanKubeadm.Modes.Contains(kubeadm.Mode))
            errors.Add("spec.kubeadm.mode", $"unknown mode '{kubeadm.Mode}': use {modes}");

        const string path = "spec.kubeadm.configFile";
        var roots = string.Join(" or ", PlanKubeadm.ConfigRoots);
        if (kubeadm.Mode == PlanKubeadm.ModeJoin && kubeadm.ConfigFile.Length == 0)
            errors.Add(path, $"required for mode join: the path on the node of kubeadm's JoinConfiguration file, under {roots}");
        else if (kubeadm.Mode == PlanKubeadm.ModeUpgrade && kubeadm.ConfigFile.Length > 0)
            errors.Add(path, "only for mode join: kubeadm upgrade reads the cluster's own configuration");
        else if (kubeadm.ConfigFile.Length > 0)
        {
            var error = HostPaths.AbsolutePathError(kubeadm.ConfigFile) ?? HostPaths.UnderRootError(kubeadm.ConfigFile, PlanKubeadm.ConfigRoots);
            if (error is not null) errors.Add(path, $"'{kubeadm.ConfigFile}': {error} (name the file on the node; its content holds a secret)");
        }
    }

    // A Duration off the wire may be malformed (nanos out of range, mixed signs); one from YAML never is.
    private static TimeSpan? Span(ErrorSink errors, Duration? d, string path)
    {
        if (d is null) return null;
        if (ProtoDurations.ToSpan(d) is { } span) return span;
        errors.Add(path, "not a valid duration");
        return null;
    }
}
