namespace NodeFleet.Agent.Host;

/// <summary>
/// /var/lib/nodefleet-agent: the journal (with its write-ahead log), backups of replaced files, the download cache.
/// Only root may enter it, whatever created it: the packages create it 0700, and an agent installed from the bare
/// binary creates it so, or narrows it, before writing anything inside (the journal, and every write below it
/// through <see cref="HostRoot.WritablePath"/>).
/// </summary>
public static class StateDirectory
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The directory's path under <paramref name="root"/>, created (0700) or narrowed to 0700 first.</summary>
    public static string Ensure(HostRoot root)
    {
        var dir = root.Path(AgentPaths.StateDir);
        var info = Directory.CreateDirectory(dir, Mode);
        if (info.UnixFileMode != Mode) File.SetUnixFileMode(dir, Mode);
        return dir;
    }
}
