using System.Text;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>
/// `node describe` for people: kubectl-describe style aligned "Key: value" lines, then the recent plan runs with
/// their steps, then the recent events.
/// </summary>
public static class NodeDescribeView
{
    private const string None = "<none>";

    public static string Render(NodeDescription description, DateTimeOffset now)
    {
        var n = description.Node ?? new Node();
        var f = n.Facts ?? new NodeFacts();
        var lines = new List<(string Key, string? Value)>
        {
            ("Name", n.Name),
            ("Status", NodeViews.Status(n.Status)),
            ("  Reason", OrNone(n.StatusReason)),
            ("  Since", TimeText.Moment(n.StatusChangedAt, now)),
            ("Phase", OrNone(n.Phase)),
        };
        var labels = n.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}").ToList();
        lines.Add(("Labels", labels.Count == 0 ? None : labels[0]));
        lines.AddRange(labels.Skip(1).Select(l => ("", (string?)l)));
        lines.AddRange(
        [
            ("Address", OrNone(n.Address)),
            ("Joined", TimeText.Moment(n.JoinedAt, now)),
            ("Join token", OrNone(n.JoinedWithToken)),
            ("Last seen", TimeText.Moment(n.LastSeen, now)),
            ("Certificate", null),
            ("  Serial", OrNone(n.CertificateSerial)),
            ("  Not after", TimeText.Moment(n.CertificateNotAfter, now)),
            ("Facts", null),
            ("  Hostname", OrNone(f.Hostname)),
            ("  OS", OrNone(f.Os)),
            ("  Kernel", OrNone(f.Kernel)),
            ("  Arch", OrNone(f.Arch)),
            ("  Runtime", f.RuntimeKind.Length == 0 ? None : NodeViews.Runtime(f)),
            ("  Runtime endpoint", OrNone(f.RuntimeEndpoint)),
            ("  Cgroup driver", OrNone(f.CgroupDriver)),
            ("  Kubelet version", OrNone(f.KubeletVersion)),
            ("  Agent version", OrNone(f.AgentVersion)),
        ]);
        // Shown only when the kubelet has one: the node's name in Kubernetes is then not its hostname.
        if (f.KubeletHostnameOverride.Length > 0)
            lines.Insert(lines.FindIndex(l => l.Key == "  Agent version"), ("  Kubelet hostname override", f.KubeletHostnameOverride));
        if (description.Kubernetes is { } k)
        {
            lines.Add(("Kubernetes", null));
            lines.Add(("  Cluster", k.Cluster));
            lines.Add(("  Node", OrNone(k.KubeNodeName)));
            lines.Add(("  Ready", NodeViews.KubeReady(k)));
            if (!k.Reachable) lines.Add(("  Error", OrNone(k.Error)));
            if (k.Found)
            {
                lines.Add(("  Kubelet version", OrNone(k.KubeletVersion)));
                lines.Add(("  Schedulable", k.Schedulable ? "true" : "false"));
                lines.Add(("  Roles", k.Roles.Count == 0 ? None : string.Join(",", k.Roles)));
            }
        }
        // The value column is shared with the "<none>" lines of the sections that follow.
        var noRuns = description.Runs.Count == 0;
        var noEvents = description.Events.Count == 0;
        var column = Column([.. lines, ("Plan runs", None), ("Events", None)]);

        var sb = new StringBuilder();
        AppendAligned(sb, lines, column);
        if (noRuns) AppendAligned(sb, [("Plan runs", None)], column);
        else sb.Append(PlanRunViews.Section(description.Runs, now));
        if (noEvents) AppendAligned(sb, [("Events", None)], column);
        else
        {
            sb.Append("Events:\n");
            var table = new Table("AGE", "TYPE", "REASON", "MESSAGE");
            foreach (var e in description.Events)
                table.AddRow(TimeText.Age(e.Time, now), OrNone(e.Type), OrNone(e.Reason), e.Message);
            sb.Append(table.Render(indent: "  "));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Lines as "Key:" padded to one value column for the whole view; an empty key continues the previous
    /// value (another label), a null value is a section heading. A value is one line: a newline in a fact or label
    /// is shown as "\n" (<see cref="TerminalText.Line"/>), so it cannot start a line that looks like another field.
    /// </summary>
    private static void AppendAligned(StringBuilder sb, IReadOnlyList<(string Key, string? Value)> lines, int column)
    {
        foreach (var (key, value) in lines)
        {
            var head = key.Length == 0 ? "" : key + ":";
            sb.Append(value is null ? head : head.PadRight(column) + TerminalText.Line(value)).Append('\n');
        }
    }

    private static int Column(IEnumerable<(string Key, string? Value)> lines) =>
        lines.Where(l => l.Value is not null && l.Key.Length > 0).Max(l => l.Key.Length + 1) + 2;

    private static string OrNone(string value) => string.IsNullOrEmpty(value) ? None : value;
}
