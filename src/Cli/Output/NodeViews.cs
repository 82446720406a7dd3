using Google.Protobuf.Collections;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>The node list table, plain and -o wide, and the cell formats it shares with describe.</summary>
public static class NodeViews
{
    public static Table List(IEnumerable<Node> nodes, DateTimeOffset now, bool wide)
    {
        string[] headers = ["NAME", "STATUS", "PHASE", "K8S VERSION", "RUNTIME", "LAST SEEN", "AGE"];
        if (wide) headers = [.. headers, "ADDRESS", "OS", "KERNEL", "ARCH", "CGROUP DRIVER", "LABELS"];
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
                row =
                [
                    .. row, OrDash(n.Address), OrDash(facts.Os), OrDash(facts.Kernel), OrDash(facts.Arch),
                    OrDash(facts.CgroupDriver), Labels(n.Labels),
                ];
            }
            table.AddRow(row);
        }
        return table;
    }

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
