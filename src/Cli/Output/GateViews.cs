using System.Text;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>
/// The gates in `rollout status`, as the coordinator decided them: "Gates (after wave N):" with a line per gate (its
/// state since when, and why), and "Held back:" with a line per node a blocking pod holds. Nothing when there are none.
/// </summary>
public static class GateViews
{
    /// <summary>The gates asked for, in one line: "soak 5m; prometheus http://p:9090 ALERTS; blocking pods app=postgres; at most 1 per zone"; "<none>".</summary>
    public static string Strategy(RolloutStrategy s)
    {
        var parts = new List<string>();
        if (s.Soak?.ToTimeSpan() is { } soak && soak > TimeSpan.Zero) parts.Add($"soak {NodeFleet.Config.Durations.Format(soak)}");
        if (s.GatePrometheus.Length > 0) parts.Add($"prometheus {s.GatePrometheus} {s.GateQuery}");
        if (s.BlockingPods.Length > 0) parts.Add($"blocking pods {s.BlockingPods}");
        parts.AddRange(s.MaxUnavailablePer.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"at most {p.Value} in flight per {p.Key}"));
        return parts.Count == 0 ? "<none>" : string.Join("; ", parts);
    }

    public static void Append(StringBuilder sb, Rollout r, DateTimeOffset now)
    {
        if (r.Gates.Count > 0)
        {
            sb.Append($"Gates (after wave {r.GateWave}):\n");
            foreach (var g in r.Gates)
                sb.Append($"  {g.Name}: {g.State.ToUpperInvariant()} for {TimeText.Age(g.Since, now)}{(g.Message.Length > 0 ? $": {g.Message}" : "")}\n");
            // The coordinator resumes a rollout its Prometheus gate paused; a soak's pause waits for the operator.
            if (r.State == RolloutState.Paused && r.Gates.Any(g => g.Name == "prometheus" && g.State == "paused"))
                sb.Append("  (it goes on by itself once the query returns no series)\n");
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
