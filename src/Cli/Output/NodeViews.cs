using Google.Protobuf.Collections;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>The node list table, plain and -o wide, and the cell formats it shares with describe.</summary>
public static class NodeViews
{
    public static Table List(IEnumerable<Node> nodes, DateTimeOffset now, bool wide,
        IReadOnlyDictionary<string, KubeNodeView>? kubernetes = null)
    {
        string[] headers = ["NAME", "STATUS", "PHASE", "K8S VERSION", "RUNTIME", "LAST SEEN", "AGE"];
        if (wide)
            headers = [.. headers, "CLUSTER", "READY", "KUBELET", "SCHEDULABLE", "ROLES", "ADDRESS", "OS", "KERNEL", "ARCH", "CGROUP DRIVER", "LABELS"];
        var table = new Table(headers);
        foreach (var n in nodes.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            var facts = n.Facts ?? new NodeFacts();
            string[] row =
            [
                n.Name, Status(n.Status), OrDash(n.Phase), OrDash(facts.KubeletVersion), Runtime(facts),
                TimeText.Ago(n.LastSeen, now), TimeText.Age(n.JoinedAt, now),
            ];
            if (wide)
            {
                var k = kubernetes?.GetValueOrDefault(n.Name);
                row =
                [
                    .. row, OrDash(k?.Cluster ?? ""), KubeReady(k), k is { Found: true } ? OrDash(k.KubeletVersion) : TimeText.None,
                    k is { Found: true } ? (k.Schedulable ? "true" : "false") : TimeText.None,
                    k is { Found: true } ? (k.Roles.Count == 0 ? "<none>" : string.Join(",", k.Roles)) : TimeText.None,
                    OrDash(n.Address), OrDash(facts.Os), OrDash(facts.Kernel), OrDash(facts.Arch),
                    OrDash(facts.CgroupDriver), Labels(n.Labels),
                ];
            }
            table.AddRow(row);
        }
        return table;
    }

    /// <summary>
    /// The Node's Ready condition as kubectl shows it (Ready, NotReady, Unknown); "&lt;unreachable&gt;" when the cluster
    /// did not answer, "&lt;no node&gt;" when it has no Node of that name, "-" for a node in no cluster.
    /// </summary>
    public static string KubeReady(KubeNodeView? k) => k switch
    {
        null => TimeText.None,
        { Reachable: false } => "<unreachable>",
        { Found: false } => "<no node>",
        { Ready: "True" } => "Ready",
        { Ready: "False" } => "NotReady",
        _ => "Unknown",
    };

    public static string Status(NodeStatus status) => status switch
    {
        NodeStatus.Online => "Online",
        NodeStatus.Offline => "Offline",
        _ => "Unknown",
    };

    /// <summary>"containerd 1.7.2", just the kind when the version is unknown, "-" when no runtime was found.</summary>
    public static string Runtime(NodeFacts facts) => (facts.RuntimeKind, facts.RuntimeVersion) switch
    {
        ("", _) => TimeText.None,
        (var kind, "") => kind,
        var (kind, version) => $"{kind} {version}",
    };

    /// <summary>"k=v,k2=v2" sorted by key, "&lt;none&gt;" when there are none (kubectl's --show-labels form).</summary>
    public static string Labels(MapField<string, string> labels) => labels.Count == 0
        ? "<none>"
        : string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));

    public static string OrDash(string value) => string.IsNullOrEmpty(value) ? TimeText.None : value;
}
