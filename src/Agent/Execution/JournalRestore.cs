using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Puts back what a journal record says was at a path, for undo (a run's backups) and reset (the inventory). Journal
/// records are data on disk like any other, so each is checked as a plan would be before anything is written.
/// </summary>
public sealed class JournalRestore(HostFiles files, BackupStore backups)
{
    /// <summary>Puts back a file's bytes and mode, a symbolic link, or nothing, at <paramref name="hostPath"/>.</summary>
    /// <exception cref="HostPathException">The record is refused (see <see cref="RefuseUnsafe"/>), or a directory on the way is a link.</exception>
    public void Restore(string hostPath, bool existed, string sha, int mode, string linkTarget)
    {
        RefuseUnsafe(hostPath, existed, sha, linkTarget);
        if (!existed) files.Delete(hostPath);
        else if (linkTarget.Length > 0) files.CreateSymbolicLink(hostPath, linkTarget);
        else files.WriteIfChanged(hostPath, backups.Read(sha), (UnixFileMode)mode);
    }

    /// <summary>
    /// The path must be one the agent may change, and a backup hash must be a hash (it is joined into a path), before
    /// anything is written or deleted.
    /// </summary>
    /// <exception cref="HostPathException">The record is refused.</exception>
    public static void RefuseUnsafe(string hostPath, bool existed, string sha, string linkTarget)
    {
        if (HostRoot.WritableError(hostPath) is { } error) throw new HostPathException(error);
        if (existed && linkTarget.Length == 0 && BackupStore.HashError(sha) is { } hashError) throw new HostPathException(hashError);
    }
}
