using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>A rollout's gates on the wire: the strategy as asked, and each gate's state as last checked.</summary>
public static class GateViews
{
    public static void Fill(Rollout m, RolloutRecord r)
    {
        var g = r.Gates;
        if (g.SoakMs > 0) m.Strategy.Soak = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(g.SoakMs));
        m.Strategy.GatePrometheus = g.PrometheusUrl;
        m.Strategy.GateQuery = g.PrometheusQuery;
        m.Strategy.BlockingPods = g.BlockingPods;
        m.Strategy.MaxUnavailablePer.Add(g.MaxUnavailablePer);
        m.GateWave = g.Wave;
        foreach (var s in g.Status)
        {
            var gate = new RolloutGate { Name = s.Name, State = s.State, Message = s.Message };
            if (s.Since is { } since) gate.Since = Timestamp.FromDateTime(DateTime.SpecifyKind(since, DateTimeKind.Utc));
            m.Gates.Add(gate);
        }
    }
}
