using NodeFleet.Config;

namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// The gates' decisions, free of I/O like the rest of the rollout engine: after a wave finished, whether the next may
/// start (soak, Prometheus); before a node starts, whether it is held back (blocking pod) or waits its turn (per-label
/// budget); while paused by a gate, whether it cleared. Inputs come from <see cref="IGateObservations"/>.
/// </summary>
public static class GateEngine
{
    public const string Soak = "soak";
    public const string Prometheus = "prometheus";

    /// <summary>
    /// Checks the gates of the finished current wave; true when the next wave may start. Starts the check (and the soak)
    /// the first time it is called for a wave; may pause the rollout (an unhealthy node during the soak, a firing alert).
    /// </summary>
    public static bool Pass(RolloutRecord r, IGateObservations obs, DateTime now, List<RolloutNote> notes)
    {
        var g = r.Gates;
        if (!g.Any) return true;
        if (g.Wave != r.CurrentWave)
        {
            g.Wave = r.CurrentWave;
            g.CheckedSince = now;
            g.SoakStartedAt = g.SoakMs > 0 ? now : null;
            g.Passed = false;
            g.Status = [];
            if (g.SoakMs > 0) Set(g.StatusOf(Soak), GateStatus.Waiting, $"soaking for {Durations.Format(TimeSpan.FromMilliseconds(g.SoakMs))}", now);
            if (g.PrometheusUrl.Length > 0) Set(g.StatusOf(Prometheus), GateStatus.Waiting, "asking Prometheus", now);
            r.UpdatedAt = now;
            notes.Add(new RolloutNote("Normal", "GatesChecking", "", $"wave {r.CurrentWave} finished; checking its gates ({Describe(g)}) before wave {r.CurrentWave + 1}"));
        }
        if (g.Passed) return true;
        var soakDone = CheckSoak(r, obs, now, notes);
        if (r.State != RolloutState.Rolling) return false;
        var promDone = CheckPrometheus(r, obs, now, notes);
        if (r.State != RolloutState.Rolling || !soakDone || !promDone) return false;
        g.Passed = true;
        r.UpdatedAt = now;
        notes.Add(new RolloutNote("Normal", "GatesPassed", "", $"wave {r.CurrentWave}: gates passed ({string.Join("; ", g.Status.Select(s => $"{s.Name}: {s.Message}"))})"));
        return true;
    }

    private static string Describe(RolloutGates g) => string.Join(", ", new[]
    {
        g.SoakMs > 0 ? $"soak {Durations.Format(TimeSpan.FromMilliseconds(g.SoakMs))}" : null,
        g.PrometheusUrl.Length > 0 ? $"prometheus {g.PrometheusQuery}" : null,
    }.Where(x => x is not null));

    private static void Set(GateStatus s, string state, string message, DateTime now)
    {
        if (s.State != state) s.Since = now;
        s.Since ??= now;
        s.State = state;
        s.Message = message;
    }

    /// <summary>True once the soak is over with every node of the wave healthy throughout; pauses the rollout naming a node that is not.</summary>
    private static bool CheckSoak(RolloutRecord r, IGateObservations obs, DateTime now, List<RolloutNote> notes)
    {
        var g = r.Gates;
        if (g.SoakMs <= 0) return true;
        var status = g.StatusOf(Soak);
        if (status.State == GateStatus.PassedState) return true;
        // Broken earlier and resumed by the operator: the soak starts over.
        if (g.SoakStartedAt is null)
        {
            g.SoakStartedAt = now;
            r.UpdatedAt = now;
        }
        foreach (var n in r.Nodes.Where(n => n.Wave == r.CurrentWave && n.State is RolloutNodeState.Succeeded or RolloutNodeState.RolledBack))
        {
            var problem = n.State != RolloutNodeState.Succeeded ? "its run is no longer succeeded"
                : obs.Offline(n.Name) ? "offline"
                : n.Cluster.Length > 0 && obs.KubeReady(r.Id, n.Name) == false ? $"NotReady in cluster {n.Cluster}"
                : null;
            if (problem is null) continue;
            var soaked = Durations.Format(Whole(now - g.SoakStartedAt.Value));
            var reason = $"soak gate: node {n.Name} turned unhealthy ({problem}) after {soaked} of the {Durations.Format(TimeSpan.FromMilliseconds(g.SoakMs))} soak of wave {r.CurrentWave}";
            Set(status, GateStatus.Paused, $"node {n.Name} {problem}", now);
            g.SoakStartedAt = null;
            notes.Add(new RolloutNote("Warning", "GateFailed", n.Name, reason));
            notes.Add(RolloutEngine.Transition(r, RolloutState.Paused, reason, now));
            return false;
        }
        var soak = TimeSpan.FromMilliseconds(g.SoakMs);
        var elapsed = now - g.SoakStartedAt.Value;
        if (elapsed >= soak)
        {
            Set(status, GateStatus.PassedState, $"every node of wave {r.CurrentWave} stayed healthy for {Durations.Format(soak)}", now);
            r.UpdatedAt = now;
            return true;
        }
        var message = $"soaking: {Durations.Format(Whole(elapsed))} of {Durations.Format(soak)}";
        if (status.State != GateStatus.Waiting || status.Message != message)
        {
            Set(status, GateStatus.Waiting, message, now);
            r.UpdatedAt = now;
        }
        return false;
    }

    private static TimeSpan Whole(TimeSpan t) => TimeSpan.FromSeconds(Math.Floor(Math.Max(0, t.TotalSeconds)));

    /// <summary>True while the latest answer (taken since the check began) has no series; a series pauses; no answer holds.</summary>
    private static bool CheckPrometheus(RolloutRecord r, IGateObservations obs, DateTime now, List<RolloutNote> notes)
    {
        var g = r.Gates;
        if (g.PrometheusUrl.Length == 0) return true;
        var status = g.StatusOf(Prometheus);
        var answer = obs.Prometheus(r.Id);
        if (answer is null || answer.At < (g.CheckedSince ?? DateTime.MinValue)) return false;
        if (answer.Unreachable)
        {
            var message = $"Prometheus at {g.PrometheusUrl} cannot be asked ({answer.Error}): the rollout holds until it answers";
            if (status.State != GateStatus.Holding)
                notes.Add(new RolloutNote("Warning", "GateHolding", "", $"wave {r.CurrentWave}: prometheus gate: {message}"));
            if (status.State != GateStatus.Holding || status.Message != message) r.UpdatedAt = now;
            Set(status, GateStatus.Holding, message, now);
            return false;
        }
        if (answer.Series.Count > 0)
        {
            var firing = Firing(answer);
            var reason = $"prometheus gate: {g.PrometheusQuery} returned {answer.Series.Count} series: {firing}";
            Set(status, GateStatus.Paused, firing, now);
            g.PausedBy = Prometheus;
            g.PausedAt = now;
            notes.Add(new RolloutNote("Warning", "GateFailed", "", reason));
            notes.Add(RolloutEngine.Transition(r, RolloutState.Paused, reason, now));
            return false;
        }
        if (status.State != GateStatus.PassedState)
        {
            Set(status, GateStatus.PassedState, "no series", now);
            r.UpdatedAt = now;
        }
        return true;
    }

    private static string Firing(PrometheusAnswer a) =>
        string.Join("; ", a.Series.Take(5)) + (a.Series.Count > 5 ? $"; and {a.Series.Count - 5} more" : "");

    /// <summary>
    /// A rollout a gate paused (a firing alert) goes on by itself once an answer taken after the pause has no series.
    /// A pause by the operator, or by the soak, waits for the operator.
    /// </summary>
    public static void DecidePaused(RolloutRecord r, IGateObservations obs, DateTime now, List<RolloutNote> notes)
    {
        var g = r.Gates;
        if (g.PausedBy != Prometheus) return;
        var answer = obs.Prometheus(r.Id);
        if (answer is null || answer.At <= (g.PausedAt ?? DateTime.MinValue)) return;
        var status = g.StatusOf(Prometheus);
        if (answer.Unreachable)
        {
            var message = $"Prometheus at {g.PrometheusUrl} cannot be asked ({answer.Error}): the rollout stays paused until it answers";
            if (status.Message != message)
            {
                Set(status, GateStatus.Holding, message, now);
                r.UpdatedAt = now;
            }
            return;
        }
        if (answer.Series.Count > 0)
        {
            var firing = Firing(answer);
            if (status.Message != firing)
            {
                Set(status, GateStatus.Paused, firing, now);
                r.UpdatedAt = now;
            }
            return;
        }
        g.PausedBy = "";
        g.PausedAt = null;
        Set(status, GateStatus.PassedState, "no series", now);
        notes.Add(new RolloutNote("Normal", "GateCleared", "", $"prometheus gate: {g.PrometheusQuery} returns no series any more"));
        notes.Add(RolloutEngine.Transition(r, r.ResumeTo == RolloutState.Preparing ? RolloutState.Preparing : RolloutState.Rolling,
            "prometheus gate cleared", now));
    }

    /// <summary>Whether a node that could start now must not: held by a blocking pod, or its label value at its budget.</summary>
    public static bool HoldBack(RolloutRecord r, RolloutNodeRecord n, IGateObservations obs, DateTime now, List<RolloutNote> notes)
    {
        var g = r.Gates;
        foreach (var (key, limit) in g.MaxUnavailablePer)
        {
            if (!n.Topology.TryGetValue(key, out var value)) continue;
            var inFlight = r.Nodes.Count(x => (x.State == RolloutNodeState.Running || x.HoldsSlot)
                && x.Topology.TryGetValue(key, out var v) && v == value);
            if (inFlight >= Math.Max(1, limit)) return true;
        }
        if (g.BlockingPods.Length == 0 || n.Cluster.Length == 0) return false;
        var blocker = obs.Blocker(r.Id, n.Name);
        if (blocker is null) return true; // not known yet: asked on this pass, answered on a later one
        if (blocker.Length > 0)
        {
            var held = $"{blocker} matches blocking pods {g.BlockingPods}";
            if (n.Held != held)
            {
                n.Held = held;
                r.UpdatedAt = now;
                notes.Add(new RolloutNote("Warning", "NodeHeld", n.Name,
                    $"wave {n.Wave}: held back: {held}; it starts once the pod is gone, or `nodefleet rollout skip {r.Id} {n.Name}` skips it"));
            }
            return true;
        }
        if (n.Held.Length > 0)
        {
            n.Held = "";
            r.UpdatedAt = now;
            notes.Add(new RolloutNote("Normal", "NodeReleased", n.Name, $"wave {n.Wave}: no pod matching {g.BlockingPods} is left on it"));
        }
        return false;
    }
}
