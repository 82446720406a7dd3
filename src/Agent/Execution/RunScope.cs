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
    /// inventory that reset restores from. A regular file is copied into the backup store; a symbolic link is
    /// recorded as its target, never read through.
    /// </summary>
    public void RecordBackup(string hostPath)
    {
        journal.Write(j =>
        {
            var id = $"{StepId}|{hostPath}";
            var before = files.Stat(hostPath);
            if (before.Kind == EntryKind.Directory)
                throw new HostPathException($"{hostPath} is a directory; the agent writes files only");
            var existed = before.Kind != EntryKind.Absent;
            var isFile = before.Kind == EntryKind.File;
            string? saved = null;
            string Sha() => saved ??= isFile ? backups.Save(hostPath) : "";
            if (j.Backups.FindById(id) is null)
            {
                j.Backups.Insert(new BackupRecord
                {
                    Id = id,
                    RunId = RunId,
                    StepId = StepId,
                    Order = j.Backups.Count(b => b.RunId == RunId),
                    Path = hostPath,
                    Existed = existed,
                    ContentSha256 = Sha(),
                    Mode = isFile ? (int)before.Mode : 0,
                    LinkTarget = before.LinkTarget,
                });
            }
            if (j.Inventory.FindById(hostPath) is null)
            {
                j.Inventory.Insert(new InventoryRecord
                {
                    Path = hostPath,
                    OriginalExisted = existed,
                    OriginalSha256 = Sha(),
                    OriginalMode = isFile ? (int)before.Mode : 0,
                    OriginalLinkTarget = before.LinkTarget,
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
