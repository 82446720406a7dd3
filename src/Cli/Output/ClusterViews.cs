using System.Globalization;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>The cluster list table.</summary>
public static class ClusterViews
{
    public static Table List(IEnumerable<KubeCluster> clusters, DateTimeOffset now)
    {
        var table = new Table("NAME", "SERVER", "CONTEXT", "REACHABLE", "VERSION", "NODES", "LINKED", "AGE", "ERROR");
        foreach (var c in clusters.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            table.AddRow(c.Name, c.Server, NodeViews.OrDash(c.Context), c.Reachable ? "yes" : "no", NodeViews.OrDash(c.ServerVersion),
                c.Reachable ? c.NodeCount.ToString(CultureInfo.InvariantCulture) : TimeText.None,
                c.LinkedNodes.ToString(CultureInfo.InvariantCulture), TimeText.Age(c.AddedAt, now), NodeViews.OrDash(TerminalText.Line(c.Error)));
        }
        return table;
    }
}
