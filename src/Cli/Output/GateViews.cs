using System.Text;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>
/// The gates in `rollout status`, as the coordinator decided them: "Gates (after wave N):" with a line per gate (its
/// state since when, and why), and "Held back:" with a line per node a blocking pod holds. Nothing when there are none.
/// </summary>
public static class GateViews
{
    public static void Append(StringBuilder sb, Rollout r, DateTimeOffset now)
    {
        if (r.Gates.Count > 0)
        {
            sb.Append($"Gates (after wave {r.GateWave}):\n");
            foreach (var g in r.Gates)
                sb.Append($"  {g.Name}: {g.State.ToUpperInvariant()} for {TimeText.Age(g.Since, now)}{(g.Message.Length > 0 ? $": {g.Message}" : "")}\n");
        }
        var held = r.Nodes.Where(n => n.Held.Length > 0 && n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared).ToList();
        if (held.Count > 0)
        {
            sb.Append("Held back:\n");
            foreach (var n in held.Take(RolloutViews.InFlightShown)) sb.Append($"  {n.Name} (wave {n.Wave}): {n.Held}\n");
            if (held.Count > RolloutViews.InFlightShown) sb.Append($"  and {held.Count - RolloutViews.InFlightShown} more\n");
            sb.Append($"  (`nodefleet rollout skip {r.Id} NODE` goes on without one)\n");
        }
    }
}
