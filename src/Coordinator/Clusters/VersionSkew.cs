using NodeFleet.Plans;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>A node as the skew rules see it.</summary>
public sealed record SkewNode(string Name, bool ControlPlane, string KubeletVersion);

/// <summary>One broken rule: which node (null for the cluster), which rule, and why, in words for `rollout start`.</summary>
public sealed record SkewViolation(string? Node, string Rule, string Reason)
{
    public override string ToString() => Node is null ? $"{Rule}: {Reason}" : $"{Node}: {Rule}: {Reason}";
}

/// <summary>
/// The Kubernetes version skew policy as it bears on an upgrade, as pure functions: a kubelet is never newer than
/// the API server's minor; kubeadm upgrades the cluster one minor at a time (and never down a minor); the control
/// plane goes before the workers.
/// </summary>
public static class VersionSkew
{
    public const string KubeletNotNewer = "kubelet-not-newer-than-apiserver";
    public const string OneMinorAtATime = "one-minor-at-a-time";
    public const string ControlPlaneFirst = "control-plane-first";
    public const string UnknownVersion = "unknown-version";

    /// <summary>
    /// Checks an upgrade of <paramref name="nodes"/> to <paramref name="target"/> before anything runs, with the API
    /// server at <paramref name="apiServer"/>. Empty when the upgrade may start.
    /// </summary>
    public static IReadOnlyList<SkewViolation> CheckUpgrade(string apiServer, string target, IReadOnlyList<SkewNode> nodes)
    {
        var errors = new List<SkewViolation>();
        if (!TryParse(apiServer, out var api)) return [new(null, UnknownVersion, $"the API server's version '{apiServer}' does not parse")];
        if (!TryParse(target, out var to)) return [new(null, UnknownVersion, $"the target version '{target}' does not parse")];
        if (to.Major != api.Major || to.Minor > api.Minor + 1)
            errors.Add(new(null, OneMinorAtATime,
                $"kubeadm upgrades one minor at a time: the API server is at {api}, so the target may be {api.MinorString} or v{api.Major}.{api.Minor + 1}, not {to}"));
        else if (to.Minor < api.Minor)
            errors.Add(new(null, OneMinorAtATime, $"a downgrade of the minor is not supported: the API server is at {api}, the target is {to}"));
        var hasControlPlane = nodes.Any(n => n.ControlPlane);
        foreach (var n in nodes)
        {
            if (!TryParse(n.KubeletVersion, out var kubelet))
            {
                errors.Add(new(n.Name, UnknownVersion, $"its kubelet version '{n.KubeletVersion}' does not parse"));
                continue;
            }
            if (kubelet.Major == to.Major && kubelet.Minor > to.Minor)
                errors.Add(new(n.Name, OneMinorAtATime, $"its kubelet is at {kubelet}, newer than the target {to}: a downgrade is not supported"));
            else if (n.ControlPlane && kubelet.Major == to.Major && to.Minor > kubelet.Minor + 1)
                errors.Add(new(n.Name, OneMinorAtATime,
                    $"kubeadm upgrades one minor at a time: this control-plane node is at {kubelet}, so it may go to v{kubelet.Major}.{kubelet.Minor + 1}, not {to}"));
            // A worker can only reach the target minor after the control plane did: without a control-plane node in
            // the upgrade, the API server must already be there.
            if (!n.ControlPlane && !hasControlPlane && to.Minor > api.Minor)
                errors.Add(new(n.Name, KubeletNotNewer,
                    $"its kubelet would be at {to}, newer than the API server's {api.MinorString}: upgrade the control plane first"));
        }
        return errors;
    }

    /// <summary>
    /// Checks, right before a node's upgrade starts, that it may go to <paramref name="target"/> with the API server
    /// now at <paramref name="apiServerNow"/>: a worker waits for the control plane. Null when it may go.
    /// </summary>
    public static SkewViolation? CheckNodeStep(SkewNode node, string apiServerNow, string target)
    {
        if (!TryParse(apiServerNow, out var api)) return new(null, UnknownVersion, $"the API server's version '{apiServerNow}' does not parse");
        if (!TryParse(target, out var to)) return new(null, UnknownVersion, $"the target version '{target}' does not parse");
        if (node.ControlPlane) return null; // kubeadm upgrade apply/node moves its API server before its kubelet
        return (to.Major, to.Minor).CompareTo((api.Major, api.Minor)) > 0
            ? new(node.Name, ControlPlaneFirst,
                $"the control plane goes before the workers: the API server is still at {api}, and a kubelet at {to} would be newer than it")
            : null;
    }

    /// <summary>The order of an upgrade: control-plane nodes first, one at a time, then the workers.</summary>
    public static IReadOnlyList<SkewNode> Order(IEnumerable<SkewNode> nodes) =>
        nodes.OrderBy(n => n.ControlPlane ? 0 : 1).ThenBy(n => n.Name, StringComparer.Ordinal).ToList();

    // Distributions append build metadata ("v1.31.4+k3s1", "v1.30.2-eks-1552ad0"); only major.minor.patch matter here.
    private static bool TryParse(string? text, out KubernetesRelease version)
    {
        var t = (text ?? "").Trim();
        if (!t.StartsWith('v')) t = "v" + t;
        var plus = t.IndexOf('+');
        if (plus > 0) t = t[..plus];
        if (KubernetesRelease.TryParse(t, out var v)) { version = v; return true; }
        var dash = t.IndexOf('-');
        if (dash > 0 && KubernetesRelease.TryParse(t[..dash], out v)) { version = v; return true; }
        version = new KubernetesRelease(0, 0, 0, null);
        return false;
    }
}
