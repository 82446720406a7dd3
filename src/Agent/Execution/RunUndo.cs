using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Plans;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Undoes one run: its backups restored in reverse order, systemd reloaded if unit files changed, the units it
/// restarted restarted again. After a failed step, on a rollout's rollback, and when resuming an interrupted undo.
/// </summary>
public sealed class RunUndo(Journal journal, IServiceManager services, JournalRestore restore, IRunObserver observer,
    TimeProvider time, ILogger log)
{
    /// <summary>Undoes a finished run on request (a rollout's rollback); a run already undone or failed is reported again.</summary>
    public async Task<RunRecord> UndoRunAsync(string runId, CancellationToken ct)
    {
        var run = journal.Runs.FindById(runId) ?? throw new StepFailedException($"run {runId} is not in this node's journal");
        // A run still executing (or undoing) is the driver's: it is cancelled, not undone from aside.
        if (RunTransitions.IsUnfinished(run.State))
            throw new StepFailedException($"run {runId} is {run.State}; only a finished run can be undone");
        if (run.State is RunState.Undone or RunState.Failed)
        {
            observer.RunChanged(run);
            return run;
        }
        journal.Write(j =>
        {
            RunTransitions.Move(run, RunState.UndoRunning);
            j.Runs.Update(run);
            observer.RunChanged(run);
        });
        await UndoAsync(run, ct);
        return journal.Runs.FindById(runId);
    }

    /// <summary>Undoes <paramref name="run"/>, which the journal has as <see cref="RunState.UndoRunning"/>; it ends Undone, or Failed with what could not be undone.</summary>
    public async Task UndoAsync(RunRecord run, CancellationToken ct)
    {
        var restored = new List<string>();
        // What could not be done does not stop the undo half way (the run would stay "undoing" and block every later
        // plan): a refused record (a path outside the writable roots, a link on the way, a malformed backup hash) or a
        // failing service manager is added to the run's error, for on-call, and the rest is undone.
        var problems = new List<string>();
        // A rollout's preparation may have written what its pulls needed (a mirror's hosts.toml, which the node's run
        // then found in place): undoing the node's run of that rollout undoes its preparation too, newest first.
        var rolloutId = run.RolloutId;
        var prepared = rolloutId.Length > 0 && run.Stage == RolloutStages.Apply
            ? journal.Runs.Find(r => r.RolloutId == rolloutId && r.Stage == RolloutStages.Prepare && r.State == RunState.Succeeded)
                .Where(r => journal.Backups.Exists(b => b.RunId == r.Id)).ToList()
            : [];
        var undone = new[] { run.Id }.Concat(prepared.OrderByDescending(r => r.StartedAt).Select(r => r.Id)).ToList();
        foreach (var b in undone.SelectMany(id => journal.Backups.Find(b => b.RunId == id).OrderByDescending(b => b.Order)).ToList())
        {
            if (b.Restored) continue;
            try { restore.Restore(b.Path, b.Existed, b.ContentSha256, b.Mode, b.LinkTarget); }
            catch (HostPathException e)
            {
                problems.Add($"{b.Path} not undone: {e.Message}");
                continue;
            }
            restored.Add(b.Path);
            b.Restored = true;
            journal.Write(j => j.Backups.Update(b));
        }
        run = journal.Runs.FindById(run.Id);
        if (journal.Backups.Find(b => undone.Contains(b.RunId)).Any(b => b.Path.StartsWith("/etc/systemd/", StringComparison.Ordinal)))
            await TryAsync(() => services.DaemonReloadAsync(ct), problems);
        foreach (var unit in run.RestartedUnits) await TryAsync(() => services.RestartAsync(unit, ct), problems);
        if (problems.Count > 0)
        {
            var undoError = $"undo incomplete: {string.Join("; ", problems)}";
            log.LogError("Run {Run}: {Error}", run.Id, undoError);
            run.Error = run.Error.Length > 0 ? $"{run.Error}; {undoError}" : undoError;
        }
        journal.Write(j =>
        {
            foreach (var s in j.Steps.Find(s => undone.Contains(s.RunId) && s.State == StepState.Succeeded).ToList())
            {
                // A change undo cannot revert (kubeadm's) is not shown as undone: the step stays succeeded and says why.
                if (s.UndoNote.Length > 0)
                {
                    if (!s.Message.Contains(s.UndoNote, StringComparison.Ordinal)) s.Message = $"{s.Message}; {s.UndoNote}";
                    log.LogWarning("Run {Run}: {Phase}/{Step} {Note}", run.Id, s.Phase, s.Step, s.UndoNote);
                }
                else s.State = StepState.Undone;
                j.Steps.Update(s);
            }
            RunTransitions.Move(run, run.Error.Length > 0 ? RunState.Failed : RunState.Undone);
            run.FinishedAt = time.GetUtcNow().UtcDateTime;
            j.Runs.Update(run);
            foreach (var p in prepared)
            {
                RunTransitions.Move(p, RunState.UndoRunning);
                RunTransitions.Move(p, RunState.Undone);
                p.FinishedAt = run.FinishedAt;
                j.Runs.Update(p);
            }
        });
        foreach (var p in prepared) observer.RunChanged(p);
        observer.RunChanged(run);
        log.LogWarning("Run {Run} undone: restored {Count} file(s){Units}", run.Id, restored.Count,
            run.RestartedUnits.Count > 0 ? $", restarted {string.Join(", ", run.RestartedUnits)}" : "");
    }

    private static async Task TryAsync(Func<Task> action, List<string> problems)
    {
        try { await action(); }
        catch (ServiceManagerException e) { problems.Add(e.Message); }
    }
}
