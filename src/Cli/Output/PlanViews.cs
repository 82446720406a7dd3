using System.Text;
using System.Text.Json.Nodes;
using NodeFleet.Config;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>How plans are shown: the validation summary, the image list document, what apply sent and what diff found.</summary>
public static class PlanViews
{
    /// <summary>
    /// "plan upgrade-1.31 is valid (8 phases: preflight, stage-artifacts, ...)", then a line for spec.drain and one for
    /// spec.kubeadm when the plan has them, with the defaults it leaves to NodeFleet spelled out.
    /// </summary>
    public static string Valid(NodePlan plan)
    {
        var phases = PlanPhases.Selected(plan);
        var text = $"plan {plan.Metadata.Name} is valid ({phases.Count} phases: {string.Join(", ", phases)})";
        if (plan.Spec.Drain is { } drain) text += "\n  drain: " + Drain(drain);
        if (plan.Spec.Kubeadm is { } kubeadm) text += "\n  kubeadm: " + Kubeadm(plan.Spec, kubeadm);
        return text;
    }

    /// <summary>"timeout 15m, grace period: the pod's own, every pod, emptyDir data kept, unmanaged pods refused, on timeout fail".</summary>
    public static string Drain(DrainSpec d)
    {
        var timeout = ProtoDurations.ToSpan(d.Timeout) ?? DrainRules.DefaultTimeout;
        var skip = ProtoDurations.ToSpan(d.SkipWaitForDeleteTimeout);
        return string.Join(", ",
            $"timeout {Durations.Format(timeout)}",
            d.HasGracePeriodSeconds ? $"grace period {d.GracePeriodSeconds}s" : "grace period: the pod's own",
            d.PodSelector.Length > 0 ? $"pods matching '{d.PodSelector}'" : "every pod",
            d.DeleteEmptyDirData ? "emptyDir data deleted" : "emptyDir data kept",
            d.Force ? "unmanaged pods evicted" : "unmanaged pods refused",
            skip is { } s ? $"pods deleted over {Durations.Format(s)} ago not waited for" : "every evicted pod waited for",
            $"on timeout {(d.OnTimeout.Length == 0 ? DrainRules.OnTimeoutFail : d.OnTimeout)}");
    }

    /// <summary>"join (kubeadm join --config FILE)" or "upgrade (kubeadm upgrade node; ... apply on the first control-plane node)".</summary>
    public static string Kubeadm(NodePlanSpec spec, KubeadmSpec kubeadm)
    {
        string Line(string action) =>
            PlanKubeadm.Arguments(action, spec, out _) is { } args ? PlanKubeadm.CommandLine(args) : action;
        return kubeadm.Mode == PlanKubeadm.ModeJoin
            ? $"join ({Line(PlanKubeadm.ActionJoin)})"
            : $"upgrade ({Line(PlanKubeadm.ActionUpgradeNode)}; {Line(PlanKubeadm.ActionUpgradeApply)} on the cluster's first control-plane node)";
    }

    /// <summary>"plan upgrade-1.31 generation 3 sent to node worker-1".</summary>
    public static string Sent(ApplyPlanResponse r) => r.RolloutId.Length > 0
        ? $"plan {r.PlanName} generation {r.Generation} sent to node {r.Node} in rollout {r.RolloutId} (cordon, drain, apply, wait for Ready, uncordon)"
        : $"plan {r.PlanName} generation {r.Generation} sent to node {r.Node}";

    /// <summary>
    /// A dry run, one or more lines per step, as `nodefleet-agent apply --dry-run` prints it on the node:
    /// "[phase/step] satisfied" (": note" when the check left one), "[phase/step] would write /etc/…" followed by
    /// the unified diff indented four spaces, "[phase/step] would restart containerd", "[phase/step] blocked: reason"
    /// (further lines of the reason indented). The result's error, if any, is the caller's to report.
    /// </summary>
    public static string Diff(DryRunResult result)
    {
        var sb = new StringBuilder();
        foreach (var step in result.Steps)
        {
            var name = $"[{step.Phase}/{step.Step}]";
            var actions = step.Actions.Where(a => a.Length > 0).ToList();
            switch (step.Outcome)
            {
                case "would apply" when actions.Count > 0:
                    foreach (var action in actions)
                    {
                        // An action with newlines is a unified diff of the file named by the action before it.
                        if (action.Contains('\n')) AppendDiff(sb, action);
                        else sb.Append(name).Append(' ').Append(action).Append('\n');
                    }
                    break;
                case DryRunVerdict.Blocked when actions.Count > 0:
                    foreach (var reason in actions) PlanRunViews.AppendIndented(sb, $"{name} blocked: {reason}", "", "    ");
                    break;
                default:
                    var outcome = step.Outcome.Length == 0 ? "unknown" : step.Outcome;
                    PlanRunViews.AppendIndented(sb, actions.Count == 0 ? $"{name} {outcome}" : $"{name} {outcome}: {string.Join("; ", actions)}",
                        "", "    ");
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// The diff's lines verbatim, four spaces in (an empty line stays empty); as in <see cref="PlanRunViews.Lines"/>,
    /// only "\n" and "\r\n" end a line.
    /// </summary>
    private static void AppendDiff(StringBuilder sb, string diff)
    {
        foreach (var line in diff.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n'))
            sb.Append(line.Length == 0 ? "" : "    " + line).Append('\n');
    }

    /// <summary>{"images": ["registry.k8s.io/kube-apiserver:v1.31.2", ...]}, fully qualified, in pull order.</summary>
    public static JsonObject ImagesDocument(IEnumerable<ImageReference> images) =>
        new() { ["images"] = new JsonArray(images.Select(i => (JsonNode?)JsonValue.Create(i.ToString())).ToArray()) };
}
