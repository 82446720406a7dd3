using System.Text;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>
/// Plan runs as `node describe` and `plan apply --wait` show them: a header per run, a table of its steps, and the
/// failed step with the last lines of its output.
/// </summary>
public static class PlanRunViews
{
    /// <summary>How many runs `node describe` shows (the coordinator sends at most this many, newest first).</summary>
    public const int MaxRuns = 5;

    /// <summary>A step's message in the RESULT column is cut to this many characters.</summary>
    public const int ResultWidth = 80;

    /// <summary>Prefix of the output tail lines of a failed step.</summary>
    public const string TailPrefix = "    | ";

    /// <summary>The "Plan runs:" section of `node describe` (nothing when there are no runs).</summary>
    public static string Section(IEnumerable<RunHistory> runs, DateTimeOffset now)
    {
        var shown = runs.Take(MaxRuns).ToList();
        if (shown.Count == 0) return "";
        var sb = new StringBuilder("Plan runs:\n");
        foreach (var run in shown) sb.Append(Run(run, now, indent: "  "));
        return sb.ToString();
    }

    /// <summary>
    /// One run: its header line, the error on the next line when it has one, the steps table and, for each failed
    /// step, its message and output tail. The header is at <paramref name="indent"/>, the rest two spaces deeper.
    /// </summary>
    public static string Run(RunHistory run, DateTimeOffset now, string indent = "")
    {
        var inner = indent + "  ";
        var sb = new StringBuilder();
        sb.Append(indent).Append(Header(run, now)).Append('\n');
        if (IsPrepare(run))
        {
            var rollout = run.RolloutId.Length > 0 ? $" of rollout {run.RolloutId}" : "";
            sb.Append(inner).Append($"prepare only: the other phases of the plan run in the node's wave{rollout}\n");
        }
        if (run.Error.Length > 0) AppendIndented(sb, $"error: {run.Error}", inner, inner + "  ");
        if (run.Steps.Count > 0) sb.Append(Steps(run).Render(inner));
        foreach (var step in run.Steps.Where(s => s.State == StepState.Failed))
            sb.Append(FailedStep(step, inner));
        return sb.ToString();
    }

    /// <summary>"upgrade-1.31 generation 3  FAILED  started 2030-01-01T11:50:00Z (10m ago)  duration 1m5s".</summary>
    public static string Header(RunHistory run, DateTimeOffset now) =>
        $"{run.PlanName} generation {run.Generation}  {State(run)}  started {TimeText.Moment(run.StartedAt, now)}  " +
        $"duration {RunDuration(run, now)}";

    /// <summary>Finished − started; for a run still going, the time so far ("45s so far"); "-" when unknown.</summary>
    public static string RunDuration(RunHistory run, DateTimeOffset now)
    {
        if (TimeText.Value(run.FinishedAt) is not null) return Duration(run.StartedAt, run.FinishedAt);
        return TimeText.Value(run.StartedAt) is { } started && !IsFinal(run.State) ? $"{TimeText.Age(started, now)} so far" : TimeText.None;
    }

    public static Table Steps(RunHistory run)
    {
        var table = new Table("PHASE", "STEP", "STATE", "DURATION", "RESULT");
        foreach (var s in run.Steps)
            table.AddRow(NodeViews.OrDash(s.Phase), NodeViews.OrDash(s.Step), State(s.State), Duration(s.StartedAt, s.FinishedAt), Result(s));
        return table;
    }

    /// <summary>The step's message on one line, cut to <see cref="ResultWidth"/>, with "(changed)" when it changed the node.</summary>
    public static string Result(StepHistory step)
    {
        var message = Shorten(Message(step), ResultWidth);
        if (!step.Changed) return message.Length == 0 ? TimeText.None : message;
        return message.Length == 0 ? "(changed)" : $"{message} (changed)";
    }

    /// <summary>
    /// "Failed step kubelet-config/write-dropin: message" (further lines of the message indented), then the step's
    /// output tail, each line after <see cref="TailPrefix"/>.
    /// </summary>
    public static string FailedStep(StepHistory step, string indent = "")
    {
        var sb = new StringBuilder();
        AppendIndented(sb, $"Failed step {step.Phase}/{step.Step}: {Message(step)}", indent, indent + "    ");
        AppendTail(sb, TailNotInMessage(step), indent);
        return sb.ToString();
    }

    /// <summary>The output tail lines after <paramref name="indent"/> + <see cref="TailPrefix"/>; nothing when empty.</summary>
    public static void AppendTail(StringBuilder sb, string tail, string indent = "")
    {
        foreach (var line in Lines(tail)) sb.Append(indent).Append(TailPrefix).Append(line).Append('\n');
    }

    /// <summary>
    /// What `plan apply --wait` prints when it sees a step in a new state: "[phase/step] running",
    /// "[phase/step] applied in 3s", "[phase/step] succeeded in 5ms: /etc/x is up to date",
    /// "[phase/step] failed after 2s: message" followed by the output tail.
    /// </summary>
    public static string Transition(StepHistory step)
    {
        var name = $"[{step.Phase}/{step.Step}]";
        var took = TimeText.Value(step.StartedAt) is not null && TimeText.Value(step.FinishedAt) is not null
            ? Duration(step.StartedAt, step.FinishedAt)
            : null;
        var sb = new StringBuilder();
        switch (step.State)
        {
            case StepState.Succeeded:
            {
                var word = step.Changed ? "applied" : "succeeded";
                var note = step.Message is "" or "applied" or "satisfied" ? "" : $": {step.Message}";
                AppendIndented(sb, $"{name} {word}{(took is null ? "" : $" in {took}")}{note}", "", "    ");
                break;
            }
            case StepState.Failed:
                AppendIndented(sb, $"{name} failed{(took is null ? "" : $" after {took}")}: {Message(step)}", "", "    ");
                AppendTail(sb, TailNotInMessage(step));
                break;
            default:
                sb.Append($"{name} {State(step.State).ToLowerInvariant()}\n");
                break;
        }
        return sb.ToString();
    }

    /// <summary>
    /// The step's message without the agent's "error execution phase PHASE/STEP: " prefix (kubeadm's wording, kept
    /// in the run's error), which would only repeat the step the line already names.
    /// </summary>
    public static string Message(StepHistory step)
    {
        var prefix = $"error execution phase {step.Phase}/{step.Step}: ";
        return step.Message.StartsWith(prefix, StringComparison.Ordinal) ? step.Message[prefix.Length..] : step.Message;
    }

    /// <summary>
    /// The step's output tail without the lines its message already shows: preflight puts each finding in both (the
    /// tail keeps the warnings too), and a list is read once.
    /// </summary>
    public static string TailNotInMessage(StepHistory step)
    {
        var shown = Lines(step.Message).Select(l => l.Trim()).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
        return string.Join('\n', Lines(step.OutputTail).Where(l => !shown.Contains(l.Trim())));
    }

    public static bool IsFinal(RunState state) => state is RunState.Succeeded or RunState.Failed or RunState.Undone;

    /// <summary>A rollout's prepare run: only the non-disruptive phases ran, the plan is not applied.</summary>
    public static bool IsPrepare(RunHistory run) => run.Stage == "prepare";

    /// <summary>The run's state; a prepare run's as PREPARING, PREPARED or "FAILED (prepare)", never "SUCCEEDED".</summary>
    public static string State(RunHistory run) => !IsPrepare(run) ? State(run.State) : run.State switch
    {
        RunState.Running => "PREPARING",
        RunState.Succeeded => "PREPARED",
        _ => $"{State(run.State)} (prepare)",
    };

    public static string State(RunState state) => state switch
    {
        RunState.Running => "RUNNING",
        RunState.Succeeded => "SUCCEEDED",
        RunState.Failed => "FAILED",
        RunState.UndoRunning => "UNDOING",
        RunState.Undone => "UNDONE",
        _ => "UNKNOWN",
    };

    public static string State(StepState state) => state switch
    {
        StepState.Pending => "Pending",
        StepState.Running => "Running",
        StepState.Succeeded => "Succeeded",
        StepState.Failed => "Failed",
        StepState.Skipped => "Skipped",
        StepState.Undone => "Undone",
        _ => "Unknown",
    };

    /// <summary>finished − started as "3s", "1m5s", "120ms"; "-" unless both are set.</summary>
    public static string Duration(Timestamp? started, Timestamp? finished)
    {
        if (TimeText.Value(started) is not { } s || TimeText.Value(finished) is not { } f) return TimeText.None;
        // A step that finished in the same instant it started (or clocks that disagree) is "0s", never negative.
        return f <= s ? "0s" : Durations.Format(f - s);
    }

    /// <summary>Whitespace runs (newlines and tabs included) as one space, cut to <paramref name="width"/> with "…".</summary>
    public static string Shorten(string text, int width)
    {
        var one = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return one.Length <= width ? one : one[..(width - 1)].TrimEnd() + "…";
    }

    /// <summary>
    /// <paramref name="text"/> with its first line after <paramref name="first"/> and any further lines after
    /// <paramref name="rest"/> (leading tabs dropped: the indent replaces them).
    /// </summary>
    public static void AppendIndented(StringBuilder sb, string text, string first, string rest)
    {
        var lines = Lines(text);
        for (var i = 0; i < lines.Count; i++)
            sb.Append(i == 0 ? first : rest).Append(i == 0 ? lines[i] : lines[i].TrimStart('\t')).Append('\n');
    }

    /// <summary>
    /// The lines of a text, without the empty line a final newline would leave. Only "\n" and "\r\n" end a line: a
    /// lone carriage return (or a form feed, NEL, …) stays in its line, to be shown escaped, not acted on.
    /// </summary>
    public static IReadOnlyList<string> Lines(string text)
    {
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n');
        return normalized.Length == 0 ? [] : normalized.Split('\n').Select(l => l.TrimEnd()).ToList();
    }
}
