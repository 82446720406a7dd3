using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>Stored rollouts as wire messages, with an ETA from the durations observed so far.</summary>
public static class RolloutViews
{
    /// <param name="windows">The maintenance windows, to say where each node stands with its own; null: not said.</param>
    public static Rollout ToMessage(RolloutRecord r, DateTime now, Windows.WindowBook? windows = null)
    {
        var m = new Rollout
        {
            Id = r.Id, PlanName = r.PlanName, Generation = r.Generation, Selector = r.Selector,
            State = (Protocol.V1.RolloutState)((int)r.State + 1),
            StateReason = r.StateReason, CurrentWave = r.CurrentWave, WaveCount = r.WaveCount,
            CreatedAt = Ts(r.CreatedAt), UpdatedAt = Ts(r.UpdatedAt),
            MaxUnavailable = r.MaxUnavailable, MaxFailures = r.MaxFailures, Failures = r.Failures, AcceptedFailures = r.AcceptedFailures,
            // The CLI shows these rules as decided here rather than deriving them again.
            Final = RolloutTransitions.IsFinal(r.State),
            HeldByFailures = r.State == RolloutState.Paused && RolloutService.HeldByFailures(r) is not null,
            Strategy = new RolloutStrategy
            {
                Canary = r.Canary, MaxUnavailable = r.MaxUnavailableText, MaxFailures = r.MaxFailuresText,
                PauseBetweenWaves = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(r.PauseBetweenWavesMs)),
                NoPrepareAhead = !r.PrepareAhead, PrepareConcurrency = r.PrepareConcurrency,
                Window = r.Window,
            },
            WindowWait = RolloutEngine.WindowWait(r, now),
            WaitingForWindow = r.State == RolloutState.Rolling ? r.WaitingForWindow : "",
        };
        foreach (var (k, v) in r.PhaseDeadlinesMs) m.Strategy.PhaseDeadlines[k] = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(v));
        Gates.GateViews.Fill(m, r);
        // Said once per set of windows, not per node: `status -w` asks every second about rollouts of thousands of nodes.
        var windowNotes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in r.Nodes)
        {
            var node = new RolloutNode
            {
                Name = n.Name, Wave = n.Wave, State = (Protocol.V1.RolloutNodeState)((int)n.State + 1), Phase = n.Phase,
                Message = n.Message, RunId = n.RunId, FailureAccepted = n.FailureAccepted, HoldsSlot = n.HoldsSlot,
                Cluster = n.Cluster, ControlPlane = n.ControlPlane, KubeStep = n.KubeStep, DrainBlocked = n.DrainBlocked, CordonNote = n.CordonNote,
                Held = n.Held,
            };
            node.Topology.Add(n.Topology);
            if (n.StartedAt is { } s) node.StartedAt = Ts(s);
            if (n.FinishedAt is { } f) node.FinishedAt = Ts(f);
            if (n.PhaseStartedAt is { } p && (InFlight(n.State) || n.HoldsSlot)) node.PhaseStartedAt = Ts(p);
            if (n.OfflineSince is { } o && InFlight(n.State)) node.OfflineSince = Ts(o);
            node.Windows.AddRange(RolloutEngine.WindowsOf(r, n));
            if (windows is not null && n.State is RolloutNodeState.Pending or RolloutNodeState.Preparing or RolloutNodeState.Prepared)
            {
                var key = string.Join('\n', RolloutEngine.WindowsOf(r, n));
                if (!windowNotes.TryGetValue(key, out var note)) windowNotes[key] = note = RolloutEngine.WindowNote(r, n, windows, now);
                node.WindowNote = note;
            }
            m.Nodes.Add(node);
        }
        if (Eta(r, now) is { } eta) m.Eta = Duration.FromTimeSpan(eta);
        if (r.NextWaveAt is { } next) m.NextWaveAt = Ts(next);
        if (m.WaitingForWindow.Length > 0 && r.WindowOpensAt is { } opens) m.WindowOpensAt = Ts(opens);
        return m;
    }

    /// <summary>
    /// A rollout a dry run would start, as an answer: marked dry_run, without the id, generation and times a stored
    /// rollout gets (there is none).
    /// </summary>
    public static Rollout DryRun(RolloutRecord r, DateTime now, Windows.WindowBook? windows = null)
    {
        var m = ToMessage(r, now, windows);
        m.Id = "";
        m.Generation = 0;
        m.CreatedAt = null;
        m.UpdatedAt = null;
        m.DryRun = true;
        return m;
    }

    private static bool InFlight(RolloutNodeState s) => s is RolloutNodeState.Preparing or RolloutNodeState.Running or RolloutNodeState.RollingBack;

    /// <summary>Remaining nodes × the mean observed node duration ÷ how many run at once; null before any node finished.</summary>
    public static TimeSpan? Eta(RolloutRecord r, DateTime now)
    {
        if (!RolloutTransitions.IsActive(r.State)) return null;
        var done = r.Nodes.Where(n => n.State == RolloutNodeState.Succeeded && n.StartedAt is not null && n.FinishedAt is not null).ToList();
        if (done.Count == 0) return null;
        var mean = TimeSpan.FromTicks((long)done.Average(n => (n.FinishedAt!.Value - n.StartedAt!.Value).Ticks));
        var remaining = r.Nodes.Count(n => n.State is RolloutNodeState.Pending or RolloutNodeState.Prepared or RolloutNodeState.Preparing or RolloutNodeState.Running);
        var waves = Math.Ceiling(remaining / (double)Math.Max(1, r.MaxUnavailable));
        var pauses = TimeSpan.FromMilliseconds(r.PauseBetweenWavesMs) * Math.Max(0, r.WaveCount - 1 - r.CurrentWave);
        return mean * waves + pauses;
    }

    private static Timestamp Ts(DateTime t) => Timestamp.FromDateTime(DateTime.SpecifyKind(t, DateTimeKind.Utc));
}
