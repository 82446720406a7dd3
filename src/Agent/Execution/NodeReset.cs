using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// `nodefleet-agent reset`: restores or removes every file NodeFleet ever wrote on this node, from the journal's
/// inventory (the first "before" of each path), whatever runs did since.
/// </summary>
public sealed class NodeReset(Journal journal, HostFiles files, IServiceManager services, JournalRestore restore)
{
    /// <summary>
    /// Resets the node, or with <paramref name="dryRun"/> only says what it would do. A record the agent refuses to act
    /// on is listed as "refused PATH: why" and the rest is reset; the inventory is then kept.
    /// </summary>
    public async Task<IReadOnlyList<string>> ResetAsync(bool dryRun, CancellationToken ct)
    {
        var actions = new List<string>();
        var inventory = journal.Inventory.FindAll().OrderByDescending(i => i.FirstWrittenAt).ToList();
        var systemdTouched = false;
        var refused = false;
        foreach (var item in inventory)
        {
            string action;
            try
            {
                action = ResetAction(item);
                if (!dryRun && (action.StartsWith("restore ", StringComparison.Ordinal) || action.StartsWith("remove ", StringComparison.Ordinal)))
                    restore.Restore(item.Path, item.OriginalExisted, item.OriginalSha256, item.OriginalMode, item.OriginalLinkTarget);
            }
            catch (HostPathException e)
            {
                actions.Add($"refused {item.Path}: {e.Message}");
                refused = true;
                continue;
            }
            actions.Add(action);
            // Also for a unit file already back in place: a reset whose daemon-reload failed (the inventory is kept
            // until the reset is complete) reloads when it is run again.
            systemdTouched |= item.Path.StartsWith("/etc/systemd/", StringComparison.Ordinal);
        }
        if (!dryRun)
        {
            if (systemdTouched)
            {
                await services.DaemonReloadAsync(ct);
                actions.Add("systemctl daemon-reload");
            }
            if (!refused) journal.Write(j => j.Inventory.DeleteAll());
        }
        return actions;
    }

    /// <summary>What reset does with <paramref name="item"/>: "unchanged", "restore", "absent" or "remove", and the path.</summary>
    private string ResetAction(InventoryRecord item)
    {
        JournalRestore.RefuseUnsafe(item.Path, item.OriginalExisted, item.OriginalSha256, item.OriginalLinkTarget);
        var now = files.Stat(item.Path);
        if (!item.OriginalExisted)
            return now.Kind is EntryKind.File or EntryKind.SymbolicLink ? $"remove {item.Path}" : $"absent {item.Path}";
        var same = item.OriginalLinkTarget.Length > 0
            ? now.Kind == EntryKind.SymbolicLink && now.LinkTarget == item.OriginalLinkTarget
            : now.Kind == EntryKind.File && (int)now.Mode == item.OriginalMode && files.Read(item.Path) is { } current
              && HostFiles.Sha256(current) == item.OriginalSha256;
        return same ? $"unchanged {item.Path}" : $"restore {item.Path}";
    }
}
