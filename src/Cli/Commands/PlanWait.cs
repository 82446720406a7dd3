using System.Text;
using Grpc.Core;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `plan apply --wait`: follows the run of the applied plan generation in the node's run history (DescribeNode),
/// printing each step transition once, until the run ends or the timeout expires.
/// </summary>
/// <remarks>
/// The run followed is the newest of the plan's name and generation (a rollout's prepare run of it aside), except one
/// that had already failed or been undone before the apply: applying again starts a new run, and the old one must not
/// end the wait at once. A run that had already succeeded does end it: the agent does not run a plan generation it has
/// applied again.
/// </remarks>
public sealed class PlanWait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private readonly ApplyPlanResponse _applied;
    private readonly HashSet<string> _doneBefore;
    private readonly HashSet<string> _stale;
    private readonly Dictionary<(string Phase, string Step), StepState> _printed = [];
    private string? _runId;
    private bool _undoShown;

    /// <param name="applied">What ApplyPlan answered: plan name, generation and node.</param>
    /// <param name="before">The node's runs as DescribeNode returned them just before the apply.</param>
    public PlanWait(ApplyPlanResponse applied, IEnumerable<RunHistory> before)
    {
        _applied = applied;
        var runs = before.ToList();
        _doneBefore = runs.Where(r => PlanRunViews.IsFinal(r.State)).Select(r => r.RunId).ToHashSet(StringComparer.Ordinal);
        _stale = runs.Where(r => IsThisPlan(r) && r.State is RunState.Failed or RunState.Undone)
            .Select(r => r.RunId).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The run being followed, once seen.</summary>
    public RunHistory? Current { get; private set; }

    /// <summary>The run this wait follows in a DescribeNode answer, or null when the node has not reported it yet.</summary>
    public RunHistory? Find(NodeDescription description) =>
        description.Runs.FirstOrDefault(r => IsThisPlan(r) && !_stale.Contains(r.RunId));

    /// <summary>
    /// Takes one DescribeNode answer; returns the lines to print for what is new since the previous one, and
    /// whether the run has ended.
    /// </summary>
    public (string Text, bool Ended) Observe(NodeDescription description)
    {
        if (Find(description) is not { } run) return ("", false);
        Current = run;
        // A run the node had finished before the apply: the agent does not run the same generation again, and
        // its steps are old news.
        if (_doneBefore.Contains(run.RunId)) return ("", true);
        var sb = new StringBuilder();
        if (run.RunId != _runId)
        {
            _runId = run.RunId;
            _undoShown = false;
            _printed.Clear();
            sb.Append($"run {run.RunId} started\n");
        }
        var changed = run.Steps.Where(step => !_printed.TryGetValue((step.Phase, step.Step), out var seen) || seen != step.State).ToList();
        foreach (var step in changed) _printed[(step.Phase, step.Step)] = step.State;
        // In the order things happened, even when one answer shows them all: the steps as they ran (the failure
        // among them), then the undo the failure caused, whose steps are undone last to first.
        foreach (var step in changed.Where(s => s.State != StepState.Undone)) sb.Append(PlanRunViews.Transition(step));
        var undone = changed.Where(s => s.State == StepState.Undone).Reverse().ToList();
        if (!_undoShown && (run.State == RunState.UndoRunning || undone.Count > 0))
        {
            _undoShown = true;
            sb.Append($"undoing the changes of run {run.RunId}\n");
        }
        foreach (var step in undone) sb.Append(PlanRunViews.Transition(step));
        return (sb.ToString(), PlanRunViews.IsFinal(run.State));
    }

    /// <summary>
    /// The closing line for an ended run, "plan upgrade generation 3 applied on node worker-1 (run …, 1m5s)";
    /// for a failed or undone run, a <see cref="CliException"/> with the run's error.
    /// </summary>
    public string Outcome()
    {
        var run = Current ?? throw new InvalidOperationException("no run has been seen");
        var what = $"plan {_applied.PlanName} generation {_applied.Generation}";
        if (run.State == RunState.Succeeded)
        {
            return _doneBefore.Contains(run.RunId)
                ? $"{what} is already applied on node {_applied.Node} (run {run.RunId})"
                : $"{what} applied on node {_applied.Node} (run {run.RunId}, {PlanRunViews.Duration(run.StartedAt, run.FinishedAt)})";
        }
        var verb = run.State != RunState.Undone ? "failed" : run.Error.Length > 0 ? "failed and was undone" : "was undone";
        throw new CliException($"{what} {verb} on node {_applied.Node} (run {run.RunId})" + (run.Error.Length > 0 ? $": {ErrorNotShown(run)}" : ""));
    }

    /// <summary>
    /// The run's error, but only its first line when the rest was just printed as the failed step's message (a
    /// preflight list, say), so that a long message is not printed twice in a row.
    /// </summary>
    private string ErrorNotShown(RunHistory run)
    {
        var lines = PlanRunViews.Lines(run.Error);
        var shown = run.Steps.Any(s => s.State == StepState.Failed && s.Message.TrimEnd() == run.Error.TrimEnd()
            && _printed.GetValueOrDefault((s.Phase, s.Step)) == StepState.Failed);
        if (lines.Count <= 1 || !shown) return run.Error;
        return $"{lines[0].TrimEnd(':')} (listed above)";
    }

    /// <summary>
    /// Polls <paramref name="describe"/> every <see cref="PollInterval"/> until the run ends: 0 when it succeeded;
    /// a <see cref="CliException"/> when it failed, was undone, or <paramref name="timeout"/> expired. A coordinator
    /// that cannot be reached for a while is reported once and polled again.
    /// </summary>
    public async Task<int> RunAsync(Func<CancellationToken, Task<NodeDescription>> describe, TimeSpan timeout, TimeProvider time,
        Func<TimeSpan, CancellationToken, Task> delay, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + timeout;
        string? warned = null;
        while (true)
        {
            try
            {
                var (text, ended) = Observe(await describe(ct));
                warned = null;
                await output.WriteAsync(text);
                if (ended)
                {
                    await output.WriteLineAsync(Outcome());
                    return 0;
                }
            }
            catch (CliException e) when (e.Code is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !ct.IsCancellationRequested)
            {
                if (e.Message != warned) await error.WriteLineAsync($"warning: {e.Message}; still waiting");
                warned = e.Message;
            }
            if (time.GetUtcNow() >= deadline) throw new CliException(TimeoutMessage(timeout));
            await delay(PollInterval, ct);
        }
    }

    private string TimeoutMessage(TimeSpan timeout)
    {
        var what = $"plan {_applied.PlanName} generation {_applied.Generation} on node {_applied.Node}";
        if (Current is not { } run)
        {
            return $"timed out after {Durations.Format(timeout)} waiting for {what}: the node has reported no run of it " +
                $"(see the events in `nodefleet node describe {_applied.Node}`)";
        }
        var step = run.Steps.LastOrDefault(s => s.State == StepState.Running);
        var at = step is null ? "" : $" at {step.Phase}/{step.Step}";
        return $"timed out after {Durations.Format(timeout)} waiting for {what}: run {run.RunId} is " +
            $"{PlanRunViews.State(run.State)}{at}; it goes on on the node";
    }

    /// <summary>
    /// A run of the applied plan generation; never a rollout's prepare run of it, which ran only the non-disruptive
    /// phases and would otherwise pass for the plan already applied.
    /// </summary>
    private bool IsThisPlan(RunHistory r) =>
        r.PlanName == _applied.PlanName && r.Generation == _applied.Generation && !PlanRunViews.IsPrepare(r);
}
