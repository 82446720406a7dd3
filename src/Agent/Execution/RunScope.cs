using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Execution;

/// <summary>The journal as seen from the step being executed: backups, changed units, daemon-reload flag.</summary>
public sealed class RunScope(Journal journal, BackupStore backups, HostFiles files, string runId, string stepId, TimeProvider time)
{
    public string RunId { get; } = runId;
    public string StepId { get; } = stepId;

    /// <summary>
    /// Records what <paramref name="hostPath"/> holds now, before the step replaces it. Kept once per step and path,
    /// so a step re-run after a crash keeps the true "before". The first record of a path ever goes to the
    /// inventory that reset restores from.
    /// </summary>
    public void RecordBackup(string hostPath)
    {
        journal.Write(j =>
        {
            var id = $"{StepId}|{hostPath}";
            var existed = files.Exists(hostPath);
            if (j.Backups.FindById(id) is null)
            {
                var sha = existed ? backups.Save(hostPath) : "";
                j.Backups.Insert(new BackupRecord
                {
                    Id = id,
                    RunId = RunId,
                    StepId = StepId,
                    Order = j.Backups.Count(b => b.RunId == RunId),
                    Path = hostPath,
                    Existed = existed,
                    ContentSha256 = sha,
                    Mode = existed ? (int)files.Mode(hostPath)!.Value : 0,
                });
            }
            if (j.Inventory.FindById(hostPath) is null)
            {
                j.Inventory.Insert(new InventoryRecord
                {
                    Path = hostPath,
                    OriginalExisted = existed,
                    OriginalSha256 = existed ? backups.Save(hostPath) : "",
                    OriginalMode = existed ? (int)files.Mode(hostPath)!.Value : 0,
                    FirstWrittenAt = time.GetUtcNow().UtcDateTime,
                    FirstRunId = RunId,
                });
            }
        });
    }

    public RunRecord Record => journal.Runs.FindById(RunId);

    public void MarkUnitChanged(string unit) => journal.Write(j =>
    {
        var r = j.Runs.FindById(RunId);
        if (!r.ChangedUnits.Contains(unit)) r.ChangedUnits.Add(unit);
        j.Runs.Update(r);
    });

    public void SetDaemonReloadNeeded(bool needed) => journal.Write(j =>
    {
        var r = j.Runs.FindById(RunId);
        r.DaemonReloadNeeded = needed;
        j.Runs.Update(r);
    });

    public void MarkUnitRestarted(string unit) => journal.Write(j =>
    {
        var r = j.Runs.FindById(RunId);
        if (!r.RestartedUnits.Contains(unit)) r.RestartedUnits.Add(unit);
        j.Runs.Update(r);
    });
}
