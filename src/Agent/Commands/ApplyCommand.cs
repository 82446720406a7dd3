using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Join;
using NodeFleet.Plans;

namespace NodeFleet.Agent.Commands;

/// <summary>`nodefleet-agent apply FILE [--dry-run]` and `nodefleet-agent reset [--dry-run]`.</summary>
public static class ApplyCommand
{
    public static async Task<int> RunAsync(PlanExecutor executor, string file, bool dryRun, IReadOnlyList<string> ignorePreflight,
        TextWriter output, CancellationToken ct, string kubeadmAction = "")
    {
        var loaded = PlanLoader.LoadFile(file);
        if (loaded.Errors.Count > 0 || loaded.Plan is null)
            throw new AgentException(string.Join('\n', loaded.Errors.Select(e => e.ToString())));
        var plan = loaded.Plan;
        PlanDefaults.Apply(plan);
        var options = new PlanExecutor.Options(ignorePreflight, KubeadmAction: kubeadmAction);
        if (dryRun)
        {
            var entries = await executor.DryRunAsync(plan, options, ct);
            foreach (var e in entries) output.WriteLine(DryRunText.Format(e));
            if (DryRunVerdict.WouldStop(entries.Select(e => (e.Phase, e.Step, e.Outcome)), "on this node") is { } stop)
                throw new AgentException(stop);
            return 0;
        }
        var run = await executor.ApplyAsync(plan, options, ct);
        output.WriteLine(run.State == RunState.Succeeded
            ? $"plan {run.PlanName} applied (run {run.Id})"
            : $"plan {run.PlanName} not applied (run {run.Id}, {run.State}): {run.Error}");
        return run.State == RunState.Succeeded ? 0 : 1;
    }

    public static async Task<int> ResetAsync(PlanExecutor executor, bool dryRun, TextWriter output, CancellationToken ct)
    {
        var actions = await executor.ResetAsync(dryRun, ct);
        if (actions.Count == 0) output.WriteLine("nothing to reset: NodeFleet has not written anything on this node");
        foreach (var a in actions)
            output.WriteLine(dryRun && (a.StartsWith("restore ", StringComparison.Ordinal) || a.StartsWith("remove ", StringComparison.Ordinal)) ? $"would {a}" : a);
        var refused = actions.Count(a => a.StartsWith("refused ", StringComparison.Ordinal));
        if (refused > 0 && !dryRun)
            throw new AgentException($"reset incomplete: {refused} path(s) refused (listed above); the journal keeps its inventory");
        return 0;
    }
}

/// <summary>Dry-run lines: "[phase/step] satisfied", "[phase/step] would write PATH" followed by its diff.</summary>
public static class DryRunText
{
    public static string Format(PlanExecutor.DryRunEntry e) => Format(e.Phase, e.Step, e.Outcome, e.Actions);

    public static string Format(string phase, string step, string outcome, IEnumerable<string> actions)
    {
        var lines = new List<string>();
        var list = actions.ToList();
        if (outcome == "would apply" && list.Count > 0)
        {
            foreach (var a in list)
            {
                if (a.Contains('\n')) lines.AddRange(a.Split('\n').Select(l => "    " + l));
                else lines.Add($"[{phase}/{step}] {a}");
            }
        }
        else
        {
            lines.Add($"[{phase}/{step}] {outcome}" + (list.Count > 0 ? $": {string.Join("; ", list)}" : ""));
        }
        return string.Join('\n', lines);
    }
}
