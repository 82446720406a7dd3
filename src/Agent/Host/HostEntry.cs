namespace NodeFleet.Agent.Host;

/// <summary>What a path names, a symbolic link counted as itself (not followed).</summary>
public enum EntryKind { Absent, File, SymbolicLink, Directory }

/// <summary>
/// What is at a rooted path without following a symbolic link there: its kind, a file's mode, a link's target.
/// A link is never read through: it is a different thing from the regular file a step wants in its place.
/// </summary>
public sealed record HostEntry(EntryKind Kind, UnixFileMode Mode = 0, string LinkTarget = "")
{
    public static readonly HostEntry Absent = new(EntryKind.Absent);

    public static HostEntry At(string fullPath)
    {
        FileAttributes attributes;
        // lstat: ReparsePoint marks a symbolic link, whatever it points to (or whether it points anywhere).
        try { attributes = File.GetAttributes(fullPath); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return Absent; }
        if (attributes.HasFlag(FileAttributes.ReparsePoint))
            return new HostEntry(EntryKind.SymbolicLink, LinkTarget: new FileInfo(fullPath).LinkTarget ?? "");
        if (attributes.HasFlag(FileAttributes.Directory)) return new HostEntry(EntryKind.Directory);
        return new HostEntry(EntryKind.File, File.GetUnixFileMode(fullPath));
    }
}
