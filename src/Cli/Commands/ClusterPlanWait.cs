using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `plan apply --wait` on a node in a cluster, which the coordinator upgrades as a rollout of that node alone: prints
/// the rollout's events about the node as the coordinator records them (cordoned, drained, applied, Ready, uncordoned),
/// and the agent's run steps between them as <see cref="PlanWait"/> prints them, until the node's cluster work is done.
/// </summary>
public sealed class ClusterPlanWait(ApplyPlanResponse applied, IEnumerable<RunHistory> before)
{
    private readonly PlanWait _run = new(applied, before);
    private int _eventsShown;
    private bool _runEnded;

    /// <summary>
    /// Takes one answer of each (the rollout, its events, and, while the agent runs, the node's description); returns
    /// what to print since the previous answers, and the outcome once the node's upgrade is over (null before).
    /// </summary>
    public (string Text, bool? Succeeded) Observe(Rollout rollout, IReadOnlyList<Event> events, NodeDescription? description)
    {
        var sb = new System.Text.StringBuilder();
        var mine = events.Where(e => e.Node == applied.Node).ToList();
        var node = rollout.Nodes.FirstOrDefault(n => n.Name == applied.Node);
        bool? outcome = node is null || node.KubeStep is not ("done" or "") ? null : node.State switch
        {
            RolloutNodeState.Succeeded => true,
            RolloutNodeState.Failed or RolloutNodeState.Skipped or RolloutNodeState.RolledBack => false,
            _ => null,
        };
        // In the order things happen, whatever order the answers came in: cordon and drain, the run's steps, then what
        // follows the run (applied, Ready, uncordoned), held back until the run's end is printed.
        ShowEvents(sb, mine, holdAfterRun: true);
        if (description is not null && !_runEnded)
        {
            var (text, ended) = _run.Observe(description);
            sb.Append(text);
            _runEnded = ended;
        }
        ShowEvents(sb, mine, holdAfterRun: outcome is null);
        return (sb.ToString(), outcome);
    }

    // What the coordinator records once the agent's run is over.
    private static readonly HashSet<string> AfterRun = new(StringComparer.Ordinal)
    {
        EventReasons.PlanApplied, EventReasons.PlanFailed, EventReasons.PlanUndone, EventReasons.NodeApplied, EventReasons.NodeReady,
        EventReasons.NodeUncordoned, EventReasons.NodeSucceeded, EventReasons.NodeFailed,
    };

    private void ShowEvents(System.Text.StringBuilder sb, List<Event> mine, bool holdAfterRun)
    {
        foreach (var e in mine.Skip(_eventsShown))
        {
            if (holdAfterRun && !_runEnded && AfterRun.Contains(e.Reason)) return;
            sb.Append($"{e.Reason}: {e.Message}\n");
            _eventsShown++;
        }
    }

    /// <summary>Whether the agent's run is to be followed now: from the apply step until the run has ended.</summary>
    public bool FollowsRun(Rollout rollout) =>
        !_runEnded && rollout.Nodes.FirstOrDefault(n => n.Name == applied.Node) is { KubeStep: "apply" or "wait-ready" or "undo" or "uncordon" or "recover" or "done" };

    /// <summary>
    /// Polls until the node's upgrade is over: 0 when applied, Ready and uncordoned; a <see cref="CliException"/> with the
    /// node's error (and why it is left cordoned, if it is) when it failed, or when <paramref name="timeout"/> expired.
    /// </summary>
    public async Task<int> RunAsync(Func<CancellationToken, Task<Rollout>> getRollout, Func<CancellationToken, Task<IReadOnlyList<Event>>> getEvents,
        Func<CancellationToken, Task<NodeDescription>> describe, TimeSpan timeout, TimeProvider time,
        Func<TimeSpan, CancellationToken, Task> delay, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + timeout;
        string? warned = null;
        while (true)
        {
            try
            {
                var rollout = await getRollout(ct);
                var description = FollowsRun(rollout) ? await describe(ct) : null;
                var (text, succeeded) = Observe(rollout, await getEvents(ct), description);
                warned = null;
                await output.WriteAsync(text);
                if (succeeded is { } ok)
                {
                    var node = rollout.Nodes.First(n => n.Name == applied.Node);
                    var what = $"plan {applied.PlanName} generation {applied.Generation}";
                    if (ok)
                    {
                        await output.WriteLineAsync($"{what} applied on node {applied.Node} (run {node.RunId}), Node Ready, uncordoned (rollout {rollout.Id})");
                        return 0;
                    }
                    var left = node.CordonNote.Length > 0 ? $"; {node.CordonNote}" : "";
                    throw new CliException($"{what} failed on node {applied.Node} (rollout {rollout.Id}): {node.Message}{left}");
                }
            }
            catch (CliException e) when (e.Code is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !ct.IsCancellationRequested)
            {
                if (e.Message != warned) await error.WriteLineAsync($"warning: {e.Message}; still waiting");
                warned = e.Message;
            }
            if (time.GetUtcNow() >= deadline)
                throw new CliException($"timed out after {Durations.Format(timeout)} waiting for plan {applied.PlanName} generation {applied.Generation} " +
                    $"on node {applied.Node}: its upgrade goes on (`nodefleet rollout status {applied.RolloutId}`)");
            await delay(PlanWait.PollInterval, ct);
        }
    }
}
