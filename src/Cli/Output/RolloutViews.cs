using System.Globalization;
using System.Text;
using NodeFleet.Config;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>
/// How fleet rollouts are shown: the dry-run waves, what start and the operator actions answer, the list table,
/// `rollout status` and `rollout describe`. Pure: a rollout and "now" in, text out.
/// </summary>
/// <remarks>
/// Waves are numbered from 0, as the coordinator numbers them (wave 0 is the canary when there is one). The WAVE
/// cell "1/4" reads "1 of 4 waves done": while wave k rolls, waves 0..k-1 are done, so it is the current wave's
/// number over the wave count, and "4/4" once the rollout has succeeded.
/// </remarks>
public static class RolloutViews
{
    public static string State(RolloutState state) => state switch
    {
        RolloutState.Pending => "PENDING",
        RolloutState.Preparing => "PREPARING",
        RolloutState.Rolling => "ROLLING",
        RolloutState.Paused => "PAUSED",
        RolloutState.Succeeded => "SUCCEEDED",
        RolloutState.Failed => "FAILED",
        RolloutState.Aborted => "ABORTED",
        RolloutState.RollingBack => "ROLLING_BACK",
        RolloutState.RolledBack => "ROLLED_BACK",
        _ => "UNKNOWN",
    };

    /// <summary>A node's state as the per-node table shows it: "Pending", "Running", "RollingBack".</summary>
    public static string NodeState(RolloutNodeState state) => state switch
    {
        RolloutNodeState.Pending => "Pending",
        RolloutNodeState.Preparing => "Preparing",
        RolloutNodeState.Prepared => "Prepared",
        RolloutNodeState.Running => "Running",
        RolloutNodeState.Succeeded => "Succeeded",
        RolloutNodeState.Failed => "Failed",
        RolloutNodeState.RollingBack => "RollingBack",
        RolloutNodeState.RolledBack => "RolledBack",
        RolloutNodeState.Skipped => "Skipped",
        _ => "Unknown",
    };

    /// <summary>A node's state in running text: "pending", "rolling back".</summary>
    public static string NodeStateWord(RolloutNodeState state) => state switch
    {
        RolloutNodeState.RollingBack => "rolling back",
        RolloutNodeState.RolledBack => "rolled back",
        _ => NodeState(state).ToLowerInvariant(),
    };

    /// <summary>States a node is in while the coordinator waits on its agent.</summary>
    public static bool InFlight(RolloutNodeState state) =>
        state is RolloutNodeState.Preparing or RolloutNodeState.Running or RolloutNodeState.RollingBack;

    /// <summary>"PAUSED: canary node w1 failed: …", or just the state when there is no reason.</summary>
    public static string StateText(Rollout r) => r.StateReason.Length == 0 ? State(r.State) : $"{State(r.State)}: {r.StateReason}";

    /// <summary>"1 node", "3 nodes".</summary>
    public static string Count(int n, string noun) => $"{n.ToString(CultureInfo.InvariantCulture)} {noun}{(n == 1 ? "" : "s")}";

    /// <summary>"3 (30%)" for a budget given as a percentage, "3" for one given as a number.</summary>
    public static string Budget(int resolved, string text)
    {
        var number = resolved.ToString(CultureInfo.InvariantCulture);
        return text.Length == 0 || text == number ? number : $"{number} ({text})";
    }

    /// <summary>Waves done over waves: "0/4" before and during the canary, "1/4" while wave 1 rolls, "4/4" once succeeded.</summary>
    public static string Wave(Rollout r)
    {
        var done = r.State == RolloutState.Succeeded ? r.WaveCount : Math.Max(r.CurrentWave, 0);
        return $"{done.ToString(CultureInfo.InvariantCulture)}/{r.WaveCount.ToString(CultureInfo.InvariantCulture)}";
    }

    private static bool HasCanary(Rollout r) => (r.Strategy?.Canary ?? 0) > 0;

    private static string WaveName(Rollout r, int wave) =>
        wave == 0 && HasCanary(r) ? "wave 0 (canary)" : $"wave {wave.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// `rollout start --dry-run`: a header with the node and wave counts and the budgets resolved for that many
    /// nodes, the prepare step when there is one, then every wave in order with its nodes.
    /// </summary>
    public static string DryRun(Rollout r)
    {
        var s = r.Strategy ?? new RolloutStrategy();
        var sb = new StringBuilder();
        sb.Append($"dry run: plan {r.PlanName} on {Count(r.Nodes.Count, "node")} in {Count(r.WaveCount, "wave")}; ")
            .Append($"canary {s.Canary.ToString(CultureInfo.InvariantCulture)}, ")
            .Append($"max unavailable {Budget(r.MaxUnavailable, s.MaxUnavailable)}, ")
            .Append($"max failures {Budget(r.MaxFailures, s.MaxFailures)}");
        if (s.PauseBetweenWaves?.ToTimeSpan() is { } pause && pause > TimeSpan.Zero)
            sb.Append($", {Durations.Format(pause)} pause between waves");
        sb.Append('\n');
        if (r.Nodes.Count == 0)
        {
            sb.Append($"no node matches the selector '{r.Selector}'\n");
            return sb.ToString();
        }
        if (!s.NoPrepareAhead)
        {
            var concurrency = s.PrepareConcurrency > 0 ? s.PrepareConcurrency : 50;
            sb.Append($"prepare: {string.Join(", ", PlanPhases.Prepare)} on every node first, ")
                .Append($"{concurrency.ToString(CultureInfo.InvariantCulture)} at a time\n");
        }
        foreach (var wave in r.Nodes.GroupBy(n => n.Wave).OrderBy(g => g.Key))
        {
            sb.Append($"{WaveName(r, wave.Key)}: {string.Join(", ", wave.Select(n => n.Name))}\n");
            AppendWaveWindows(sb, wave.ToList());
        }
        return sb.ToString();
    }

    /// <summary>
    /// Under a wave of a dry run, the maintenance windows its nodes start in, as the coordinator says where each stands:
    /// "  window night opens Sat 02:00 CET, in 3h12m: w1, w2"; "  any time: w3" for nodes no window restricts, when
    /// others of the wave are restricted. Nothing when no node of the wave is restricted.
    /// </summary>
    private static void AppendWaveWindows(StringBuilder sb, List<RolloutNode> wave)
    {
        if (wave.All(n => n.Windows.Count == 0)) return;
        foreach (var group in wave.GroupBy(n => n.Windows.Count == 0 ? "any time (no window covers it)" : NodeViews.OrDash(n.WindowNote)))
            sb.Append($"  {group.Key}: {string.Join(", ", group.Select(n => n.Name))}\n");
    }

    /// <summary>"rollout ID started: plan P generation G on N nodes in W waves".</summary>
    public static string Started(Rollout r) =>
        $"rollout {r.Id} started: plan {r.PlanName} generation {r.Generation.ToString(CultureInfo.InvariantCulture)} " +
        $"on {Count(r.Nodes.Count, "node")} in {Count(r.WaveCount, "wave")}";

    public static string WatchHint(string id) => $"watch it with: nodefleet rollout status {id} -w";

    /// <summary>What pause, resume, abort and rollback answer: "rollout ID paused; state PAUSED: paused by the operator".</summary>
    public static string Acted(Rollout r, string verb) => $"rollout {r.Id} {verb}; state {StateText(r)}";

    public static readonly string[] ListHeaders = ["ID", "PLAN", "STATE", "NODES", "FAILED", "WAVE", "AGE"];

    /// <summary>
    /// `rollout list` and `rollout history`, newest first: NODES is nodes with the plan applied over nodes
    /// selected, FAILED the failures counted against the budget, WAVE as <see cref="Wave"/>.
    /// </summary>
    public static Table List(IEnumerable<Rollout> rollouts, DateTimeOffset now)
    {
        var table = new Table(ListHeaders);
        foreach (var r in Newest(rollouts))
        {
            var done = r.Nodes.Count(n => n.State == RolloutNodeState.Succeeded);
            table.AddRow(r.Id, r.PlanName, State(r.State),
                $"{done.ToString(CultureInfo.InvariantCulture)}/{r.Nodes.Count.ToString(CultureInfo.InvariantCulture)}",
                r.Failures.ToString(CultureInfo.InvariantCulture), Wave(r), TimeText.Age(r.CreatedAt, now));
        }
        return table;
    }

    /// <summary>Newest first (by creation, then id), whatever order they came in.</summary>
    public static IEnumerable<Rollout> Newest(IEnumerable<Rollout> rollouts) =>
        rollouts.OrderByDescending(r => TimeText.Value(r.CreatedAt) ?? DateTimeOffset.MinValue).ThenByDescending(r => r.Id, StringComparer.Ordinal);

    /// <summary>
    /// How many nodes are in each state: "3 succeeded, 1 running, 6 pending, 0 failed". Succeeded, running, pending
    /// and failed are always there; preparing, prepared, rolling back, rolled back and skipped only when some are.
    /// </summary>
    public static string Counts(Rollout r)
    {
        RolloutNodeState[] order =
        [
            RolloutNodeState.Succeeded, RolloutNodeState.Running, RolloutNodeState.Preparing, RolloutNodeState.Prepared,
            RolloutNodeState.Pending, RolloutNodeState.RollingBack, RolloutNodeState.RolledBack, RolloutNodeState.Skipped,
            RolloutNodeState.Failed,
        ];
        var always = new[] { RolloutNodeState.Succeeded, RolloutNodeState.Running, RolloutNodeState.Pending, RolloutNodeState.Failed };
        var parts = new List<string>();
        foreach (var state in order)
        {
            var n = r.Nodes.Count(x => x.State == state);
            if (n > 0 || always.Contains(state)) parts.Add($"{n.ToString(CultureInfo.InvariantCulture)} {NodeStateWord(state)}");
        }
        return string.Join(", ", parts);
    }

    /// <summary>
    /// The nodes in <paramref name="state"/> counted per phase they report, in phase order:
    /// "prepull-images 2, kubelet-config 1"; a node that has reported no phase yet counts as "starting". Empty when none.
    /// </summary>
    public static string Phases(Rollout r, RolloutNodeState state)
    {
        var groups = r.Nodes.Where(n => n.State == state)
            .GroupBy(n => n.Phase.Length == 0 ? "starting" : n.Phase)
            .OrderBy(g => PhaseOrder(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal);
        return string.Join(", ", groups.Select(g => $"{g.Key} {g.Count().ToString(CultureInfo.InvariantCulture)}"));
    }

    /// <summary>Phases in run order; "starting" (no phase reported yet) first, unknown ids last.</summary>
    private static int PhaseOrder(string phase)
    {
        if (phase == "starting") return -1;
        for (var i = 0; i < PlanPhases.All.Count; i++)
        {
            if (PlanPhases.All[i] == phase) return i;
        }
        return int.MaxValue;
    }

    /// <summary>
    /// `rollout status`: the header (id, plan, state and why, wave, failures against the budget, max unavailable,
    /// ETA when known, age), the node counts, the phases of the nodes in flight, and the failed nodes with their
    /// messages; a hint when the rollout is paused.
    /// </summary>
    public static string Status(Rollout r, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        var lines = Header(r, now);
        lines.AddRange(Progress(r));
        AppendAligned(sb, lines, Column(lines));
        AppendInFlight(sb, r, now);
        AppendClusterNotes(sb, r);
        GateViews.Append(sb, r, now);
        AppendFailedNodes(sb, r);
        AppendPausedHint(sb, r);
        return sb.ToString();
    }

    /// <summary>
    /// Nodes in a cluster whose drain a PodDisruptionBudget holds ("Drain blocked:", pod, budget and message), and nodes
    /// NodeFleet leaves cordoned, with why ("Left cordoned:"). Nothing when none.
    /// </summary>
    private static void AppendClusterNotes(StringBuilder sb, Rollout r)
    {
        var blocked = r.Nodes.Where(n => n.DrainBlocked.Length > 0 && n.KubeStep == "drain").ToList();
        if (blocked.Count > 0)
        {
            sb.Append("Drain blocked:\n");
            foreach (var n in blocked.Take(InFlightShown)) sb.Append($"  {n.Name}: {n.DrainBlocked}\n");
        }
        // Nodes of a rollout over (aborted) that NodeFleet is still putting back into service: not in flight, not left.
        var returning = r.Nodes.Where(n => n.KubeStep is "cordon" or "drain" or "apply" or "wait-ready" or "uncordon" or "undo" or "recover"
            && !InFlight(n.State) && !n.HoldsSlot).ToList();
        if (returning.Count > 0)
        {
            sb.Append("Being put back into service:\n");
            foreach (var n in returning.Take(InFlightShown)) sb.Append($"  {n.Name}: {n.KubeStep}: uncordoned once Ready if NodeFleet cordoned it\n");
        }
        var cordoned = r.Nodes.Where(n => n.CordonNote.Length > 0).ToList();
        if (cordoned.Count > 0)
        {
            sb.Append("Left cordoned:\n");
            foreach (var n in cordoned.Take(InFlightShown)) sb.Append($"  {n.Name}: {n.CordonNote}\n");
        }
    }

    /// <summary>How many nodes in flight `rollout status` lists by name; the rest are counted.</summary>
    public const int InFlightShown = 10;

    /// <summary>
    /// "In flight:" then a row per node preparing, running or rolling back (or failed by its deadline while its run
    /// still goes: it holds a place in max-unavailable), longest in its phase first: NODE, STATE,
    /// PHASE ("starting" before the first one), IN PHASE (how long since it entered it), and OFFLINE (for how long)
    /// when a node in flight is offline; at most <see cref="InFlightShown"/>, then "and N more". Nothing when none.
    /// </summary>
    private static void AppendInFlight(StringBuilder sb, Rollout r, DateTimeOffset now)
    {
        var nodes = r.Nodes.Where(n => InFlight(n.State) || n.HoldsSlot)
            .OrderBy(n => TimeText.Value(PhaseStart(n)) ?? DateTimeOffset.MaxValue).ThenBy(n => n.Name, StringComparer.Ordinal).ToList();
        if (nodes.Count == 0) return;
        var offline = nodes.Any(n => TimeText.Value(n.OfflineSince) is not null);
        var table = offline ? new Table("NODE", "STATE", "PHASE", "IN PHASE", "OFFLINE") : new Table("NODE", "STATE", "PHASE", "IN PHASE");
        foreach (var n in nodes.Take(InFlightShown))
        {
            // A node of a cluster shows its Kubernetes step while the coordinator does it (cordon, drain, wait-ready...).
            var clusterStep = n.KubeStep is "cordon" or "drain" or "wait-ready" or "uncordon" or "undo" or "recover";
            var state = n.HoldsSlot ? clusterStep ? "failed (" + n.KubeStep + ")" : "failed (its run still going)" : NodeStateWord(n.State);
            string[] cells = [n.Name, state, clusterStep ? n.KubeStep : n.Phase.Length == 0 ? "starting" : n.Phase, TimeText.Age(PhaseStart(n), now)];
            table.AddRow(offline ? [.. cells, TimeText.Age(n.OfflineSince, now)] : cells);
        }
        sb.Append("In flight:\n").Append(table.Render(indent: "  "));
        if (nodes.Count > InFlightShown) sb.Append($"  and {(nodes.Count - InFlightShown).ToString(CultureInfo.InvariantCulture)} more\n");
    }

    /// <summary>When the node entered the phase it is in; when it started, for a coordinator that does not say.</summary>
    private static Google.Protobuf.WellKnownTypes.Timestamp? PhaseStart(RolloutNode n) => TimeText.Value(n.PhaseStartedAt) is not null ? n.PhaseStartedAt : n.StartedAt;

    /// <summary>
    /// Failures against the budget: "1/2"; with failures the operator accepted (which no longer count),
    /// "0/1 counted, 1 accepted".
    /// </summary>
    public static string Failures(Rollout r)
    {
        var max = r.MaxFailures.ToString(CultureInfo.InvariantCulture);
        if (r.AcceptedFailures <= 0) return $"{r.Failures.ToString(CultureInfo.InvariantCulture)}/{max}";
        return $"{Math.Max(0, r.Failures - r.AcceptedFailures).ToString(CultureInfo.InvariantCulture)}/{max} counted, " +
            $"{r.AcceptedFailures.ToString(CultureInfo.InvariantCulture)} accepted";
    }

    /// <summary>
    /// While rolling and waiting between waves: "5m between waves: wave 3 starts at 2030-01-01T12:05:00Z (in 3m20s)";
    /// null otherwise.
    /// </summary>
    public static string? Waiting(Rollout r, DateTimeOffset now)
    {
        if (r.State != RolloutState.Rolling || TimeText.Value(r.NextWaveAt) is null) return null;
        var pause = r.Strategy?.PauseBetweenWaves?.ToTimeSpan() ?? TimeSpan.Zero;
        var next = (r.CurrentWave + 1).ToString(CultureInfo.InvariantCulture);
        return $"{(pause > TimeSpan.Zero ? Durations.Format(pause) + " " : "")}between waves: wave {next} starts at {TimeText.Moment(r.NextWaveAt, now)}";
    }

    /// <summary>
    /// "Failed nodes:" then, per failed node in wave order, "  w03 (wave 1): kubelet-config/write-dropin: message"
    /// with any further lines of the message (a preflight error list) indented below it. Nothing when none failed.
    /// </summary>
    private static void AppendFailedNodes(StringBuilder sb, Rollout r)
    {
        var failed = r.Nodes.Where(n => n.State == RolloutNodeState.Failed).OrderBy(n => n.Wave).ThenBy(n => n.Name, StringComparer.Ordinal).ToList();
        if (failed.Count == 0) return;
        sb.Append("Failed nodes:\n");
        foreach (var n in failed)
            PlanRunViews.AppendIndented(sb, $"{n.Name} (wave {n.Wave.ToString(CultureInfo.InvariantCulture)}): {NodeViews.OrDash(Failure(n))}", "  ", "      ");
    }

    /// <summary>
    /// Why a node failed, where: its message without the agent's "error execution phase " prefix when that leaves
    /// "kubelet-config/write-dropin: …", else the phase it was in before the message ("kubelet-config: …"); just the
    /// phase or the message when there is only one; "" when nothing is known.
    /// </summary>
    public static string Failure(RolloutNode n)
    {
        const string prefix = "error execution phase ";
        var message = n.Message.StartsWith(prefix, StringComparison.Ordinal) ? n.Message[prefix.Length..] : n.Message;
        if (n.Phase.Length == 0 || message.StartsWith(n.Phase + "/", StringComparison.Ordinal)) return message;
        return message.Length == 0 ? n.Phase : $"{n.Phase}: {message}";
    }

    /// <summary>
    /// `rollout describe`: the status header, the strategy, then every node: NAME, WAVE, STATE, PHASE, DURATION, MESSAGE.
    /// </summary>
    public static string Describe(Rollout r, DateTimeOffset now)
    {
        var s = r.Strategy ?? new RolloutStrategy();
        var lines = Header(r, now);
        var deadlines = s.PhaseDeadlines.OrderBy(d => PhaseOrder(d.Key)).ThenBy(d => d.Key, StringComparer.Ordinal)
            .Select(d => $"{d.Key}={Durations.Format(d.Value.ToTimeSpan())}").ToList();
        var pause = s.PauseBetweenWaves?.ToTimeSpan() ?? TimeSpan.Zero;
        lines.AddRange(
        [
            ("Selector", r.Selector.Length == 0 ? "<all nodes>" : r.Selector),
            ("Canary", Count(s.Canary, "node")),
            ("Pause between waves", pause > TimeSpan.Zero ? Durations.Format(pause) : "<none>"),
            ("Phase deadlines", deadlines.Count == 0 ? "<default: 30m per node>" : string.Join(", ", deadlines)),
            ("Prepare ahead", s.NoPrepareAhead ? "no" : $"yes, {(s.PrepareConcurrency > 0 ? s.PrepareConcurrency : 50).ToString(CultureInfo.InvariantCulture)} nodes at a time"),
            ("Gates", GateViews.Strategy(s)),
            ("Created", TimeText.Moment(r.CreatedAt, now)),
            ("Updated", TimeText.Moment(r.UpdatedAt, now)),
        ]);
        lines.AddRange(Progress(r));
        var sb = new StringBuilder();
        AppendAligned(sb, lines, Column(lines));
        if (r.Nodes.Count > 0)
        {
            sb.Append("Nodes by wave:\n");
            var table = new Table("NAME", "WAVE", "STATE", "PHASE", "DURATION", "MESSAGE");
            foreach (var n in r.Nodes.OrderBy(n => n.Wave).ThenBy(n => n.Name, StringComparer.Ordinal))
            {
                // The first line of the message, cut short: a failed node's whole message follows the table.
                var message = n.State == RolloutNodeState.Failed ? Failure(n) : n.Message;
                // The phase a node reports matters while it runs and where it failed; after that it is stale.
                var phase = InFlight(n.State) || n.State == RolloutNodeState.Failed ? n.Phase : "";
                table.AddRow(n.Name, n.Wave.ToString(CultureInfo.InvariantCulture), NodeState(n.State), NodeViews.OrDash(phase),
                    NodeDuration(n, now), NodeViews.OrDash(PlanRunViews.Shorten(PlanRunViews.Lines(message).FirstOrDefault() ?? "", PlanRunViews.ResultWidth)));
            }
            sb.Append(table.Render(indent: "  "));
        }
        AppendFailedNodes(sb, r);
        AppendPausedHint(sb, r);
        return sb.ToString();
    }

    /// <summary>Finished − started; "45s so far" for a node still in flight; "-" when it has not started.</summary>
    public static string NodeDuration(RolloutNode n, DateTimeOffset now)
    {
        if (TimeText.Value(n.FinishedAt) is not null) return PlanRunViews.Duration(n.StartedAt, n.FinishedAt);
        return TimeText.Value(n.StartedAt) is { } started && InFlight(n.State) ? $"{TimeText.Age(started, now)} so far" : TimeText.None;
    }

    private static List<(string Key, string Value)> Header(Rollout r, DateTimeOffset now)
    {
        // "2/4 (at wave 2)": waves done over waves, and the wave the rollout is at while it is active.
        var wave = Wave(r);
        if (r.CurrentWave >= 0 && !r.Final) wave += r.CurrentWave == 0 && HasCanary(r) ? " (at wave 0, the canary)" : $" (at wave {r.CurrentWave.ToString(CultureInfo.InvariantCulture)})";
        else if (r.CurrentWave < 0 && !r.Final) wave += " (not started)";
        var lines = new List<(string Key, string Value)>
        {
            ("Rollout", r.Id),
            ("Plan", $"{r.PlanName} generation {r.Generation.ToString(CultureInfo.InvariantCulture)}"),
            ("State", StateText(r)),
            ("Wave", wave),
            ("Failures", Failures(r)),
            ("Max unavailable", Budget(r.MaxUnavailable, r.Strategy?.MaxUnavailable ?? "")),
        };
        if (Waiting(r, now) is { } waiting) lines.Insert(4, ("Waiting", waiting));
        // As the coordinator says it, by its own clock: "waiting for window night (opens Sat 02:00 CET, in 3h12m)".
        if (r.WindowWait.Length > 0) lines.Insert(4, ("Window", r.WindowWait));
        else if (r.Strategy?.Window is { Length: > 0 } own && !r.Final) lines.Insert(4, ("Window", $"only in window {own}"));
        if (r.Eta is not null) lines.Add(("ETA", Durations.Format(r.Eta.ToTimeSpan())));
        lines.Add(("Age", TimeText.Age(r.CreatedAt, now)));
        return lines;
    }

    /// <summary>"Nodes: 3 succeeded, …" and, per in-flight state with nodes in it, "Running: kubelet-config 1, …".</summary>
    private static List<(string Key, string Value)> Progress(Rollout r)
    {
        var lines = new List<(string Key, string Value)> { ("Nodes", Counts(r)) };
        foreach (var state in new[] { RolloutNodeState.Preparing, RolloutNodeState.Running, RolloutNodeState.RollingBack })
        {
            var phases = Phases(r, state);
            if (phases.Length > 0) lines.Add((Capitalize(NodeStateWord(state)), phases));
        }
        return lines;
    }

    private static void AppendPausedHint(StringBuilder sb, Rollout r)
    {
        if (r.State != RolloutState.Paused) return;
        if (r.HeldByFailures)
            sb.Append($"Paused by its failures: fix their cause, then `nodefleet rollout resume {r.Id} --accept-failures` goes on past the failed nodes " +
                "(they stay failed), `abort` stops it, `rollback` undoes it.\n");
        else sb.Append($"Paused: `nodefleet rollout resume {r.Id}` goes on, `abort` stops it, `rollback` undoes it.\n");
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static int Column(IEnumerable<(string Key, string Value)> lines) => lines.Max(l => l.Key.Length + 1) + 2;

    /// <summary>"Key:" padded to the value column, then the value on that one line (newlines in it shown as "\n").</summary>
    private static void AppendAligned(StringBuilder sb, IEnumerable<(string Key, string Value)> lines, int column)
    {
        foreach (var (key, value) in lines) sb.Append((key + ":").PadRight(column)).Append(TerminalText.Line(value)).Append('\n');
    }
}

/// <summary>
/// `rollout status -w` when stdout is not a terminal: an append-only log, one line per change between two
/// snapshots of the rollout (node state and phase, wave, rollout state), nothing when nothing changed.
/// </summary>
/// <remarks>
/// Lines come in cause-then-effect order within one snapshot: nodes that finished, then the rollout's state, then a
/// new wave, then nodes that started or moved to another phase.
/// </remarks>
public sealed class RolloutLog
{
    private Rollout? _last;

    public string Observe(Rollout r)
    {
        var sb = new StringBuilder();
        if (_last is null) First(sb, r);
        else Changes(sb, _last, r);
        _last = r.Clone();
        return sb.ToString();
    }

    private static void First(StringBuilder sb, Rollout r)
    {
        sb.Append($"rollout {r.Id}: plan {r.PlanName} generation {r.Generation.ToString(CultureInfo.InvariantCulture)} ")
            .Append($"on {RolloutViews.Count(r.Nodes.Count, "node")} in {RolloutViews.Count(r.WaveCount, "wave")}\n");
        AppendState(sb, r);
        if (r.CurrentWave >= 0 && !r.Final) AppendWave(sb, r);
        AppendWaiting(sb, r);
        if (r.WindowWait.Length > 0) sb.Append($"{r.WindowWait}\n");
        sb.Append($"nodes: {RolloutViews.Counts(r)}\n");
        foreach (var n in r.Nodes.Where(n => n.State == RolloutNodeState.Failed || (RolloutViews.InFlight(n.State) && n.Phase.Length > 0)))
            AppendNode(sb, n);
    }

    private static void Changes(StringBuilder sb, Rollout before, Rollout now)
    {
        var previous = before.Nodes.GroupBy(n => n.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var finished = new List<RolloutNode>();
        var moved = new List<RolloutNode>();
        foreach (var n in now.Nodes)
        {
            previous.TryGetValue(n.Name, out var old);
            var stateChanged = old is null || old.State != n.State;
            if (stateChanged && !RolloutViews.InFlight(n.State) && n.State != RolloutNodeState.Pending) finished.Add(n);
            else if (stateChanged || (RolloutViews.InFlight(n.State) && n.Phase != old!.Phase && n.Phase.Length > 0)) moved.Add(n);
        }
        foreach (var n in finished) AppendNode(sb, n);
        if (before.State != now.State || before.StateReason != now.StateReason) AppendState(sb, now);
        if (now.CurrentWave >= 0 && now.CurrentWave != before.CurrentWave) AppendWave(sb, now);
        if (!Equals(now.NextWaveAt, before.NextWaveAt) || before.State != now.State) AppendWaiting(sb, now);
        // "waiting for window night (opens Sat 02:00 CET, in 3h12m)", once per wait.
        if (now.WindowWait.Length > 0 && (now.WaitingForWindow != before.WaitingForWindow || !Equals(now.WindowOpensAt, before.WindowOpensAt)))
            sb.Append($"{now.WindowWait}\n");
        foreach (var n in moved) AppendNode(sb, n);
    }

    /// <summary>"waiting 5m between waves: wave 3 starts at 2030-01-01T12:05:00Z" while the rollout waits between waves.</summary>
    private static void AppendWaiting(StringBuilder sb, Rollout r)
    {
        if (r.State != RolloutState.Rolling || TimeText.Value(r.NextWaveAt) is not { } at) return;
        var pause = r.Strategy?.PauseBetweenWaves?.ToTimeSpan() ?? TimeSpan.Zero;
        sb.Append($"waiting {(pause > TimeSpan.Zero ? Durations.Format(pause) + " " : "")}between waves: ")
            .Append($"wave {(r.CurrentWave + 1).ToString(CultureInfo.InvariantCulture)} starts at {TimeText.Rfc3339(at)}\n");
    }

    private static void AppendState(StringBuilder sb, Rollout r)
    {
        sb.Append($"state {RolloutViews.StateText(r)}\n");
        if (r.State == RolloutState.Paused)
            sb.Append(r.HeldByFailures
                ? $"  held by its failures: nodefleet rollout resume {r.Id} --accept-failures goes on past them; or abort|rollback it\n"
                : $"  waiting for the operator: nodefleet rollout resume|abort|rollback {r.Id}\n");
    }

    private static void AppendWave(StringBuilder sb, Rollout r)
    {
        var canary = r.CurrentWave == 0 && (r.Strategy?.Canary ?? 0) > 0 ? " (canary)" : "";
        sb.Append($"wave {r.CurrentWave.ToString(CultureInfo.InvariantCulture)}{canary} of 0-{(r.WaveCount - 1).ToString(CultureInfo.InvariantCulture)} started\n");
    }

    /// <summary>
    /// "node w2 (wave 1): running kubelet-config", "node w2 (wave 1): succeeded in 1m5s",
    /// "node w2 (wave 1): failed: kubelet-config/write-dropin: message" (further lines of the message indented).
    /// </summary>
    public static void AppendNode(StringBuilder sb, RolloutNode n)
    {
        var head = $"node {n.Name} (wave {n.Wave.ToString(CultureInfo.InvariantCulture)}): ";
        var word = RolloutViews.NodeStateWord(n.State);
        var took = PlanRunViews.Duration(n.StartedAt, n.FinishedAt);
        var text = n.State switch
        {
            RolloutNodeState.Failed => RolloutViews.Failure(n) is { Length: > 0 } why ? $"failed: {why}" : "failed",
            // A rolled-back node's times are those of the run it undid: no duration worth showing.
            RolloutNodeState.Succeeded => took == TimeText.None ? word : $"{word} in {took}",
            _ when RolloutViews.InFlight(n.State) && n.Phase.Length > 0 => $"{word} {n.Phase}",
            _ => word,
        };
        PlanRunViews.AppendIndented(sb, head + text, "", "    ");
    }
}
