using System.Security.Cryptography;
using NodeFleet.IO;

namespace NodeFleet.Agent.Host;

/// <summary>
/// Reads and writes host files under the root: atomic (temp + fsync + rename) and only when bytes change. Nothing
/// here follows a symbolic link at the file itself, and below a writable root (<see cref="HostRoot.WritableRoots"/>)
/// a directory that is a symbolic link is refused, for reads as for writes.
/// </summary>
public sealed class HostFiles(HostRoot root)
{
    public HostRoot Root => root;

    /// <summary>What is at <paramref name="hostPath"/>, a symbolic link not followed.</summary>
    /// <exception cref="HostPathException">A directory on the way below a writable root is a symbolic link.</exception>
    public HostEntry Stat(string hostPath) => HostEntry.At(ForReading(hostPath));

    /// <summary>Whether a file or a symbolic link (not followed) is at <paramref name="hostPath"/>.</summary>
    public bool Exists(string hostPath) => Stat(hostPath).Kind is EntryKind.File or EntryKind.SymbolicLink;

    /// <summary>The bytes of the regular file at <paramref name="hostPath"/>; null when there is none, and for a symbolic link (never read through).</summary>
    public byte[]? Read(string hostPath)
    {
        var p = ForReading(hostPath);
        return HostEntry.At(p).Kind == EntryKind.File ? File.ReadAllBytes(p) : null;
    }

    /// <summary>
    /// The bytes of a system file the agent only reads, outside the writable roots (/etc/os-release is a link to
    /// ../usr/lib/os-release on most distributions): a link there is followed, its target taken under the root too,
    /// so a link cannot lead the read out of it. Null when there is no file at the end.
    /// </summary>
    public byte[]? ReadSystemFile(string hostPath)
    {
        if (HostRoot.WritableError(hostPath) is null) return Read(hostPath);
        var path = hostPath;
        for (var hops = 0; hops < 8; hops++)
        {
            var full = root.Path(path);
            var entry = HostEntry.At(full);
            if (entry.Kind == EntryKind.File) return File.ReadAllBytes(full);
            if (entry.Kind != EntryKind.SymbolicLink) return null;
            path = entry.LinkTarget.StartsWith('/') ? entry.LinkTarget : Path.GetFullPath(Path.Join(Path.GetDirectoryName(path)!, entry.LinkTarget));
        }
        return null;
    }

    /// <summary>The mode of the regular file at <paramref name="hostPath"/>; null when there is none, and for a symbolic link.</summary>
    public UnixFileMode? Mode(string hostPath) => Stat(hostPath) is { Kind: EntryKind.File } e ? e.Mode : null;

    /// <summary>The sha256 of the regular file at <paramref name="hostPath"/>; null when there is none, and for a symbolic link.</summary>
    public string? Sha256Of(string hostPath)
    {
        var p = ForReading(hostPath);
        return HostEntry.At(p).Kind == EntryKind.File ? Sha256File(p) : null;
    }

    /// <summary>The bytes free to an unprivileged user on the filesystem of the directory <paramref name="hostPath"/>; null when it is not a directory.</summary>
    public long? FreeBytes(string hostPath)
    {
        var p = ForReading(hostPath);
        return HostEntry.At(p).Kind == EntryKind.Directory ? new DriveInfo(p).AvailableFreeSpace : null;
    }

    /// <summary>
    /// A new file at <paramref name="hostPath"/> to write into (a download's partial file); fails when anything, a link
    /// included, is there already, so nothing is written through a link.
    /// </summary>
    public FileStream CreateNew(string hostPath, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var p = root.WritablePath(hostPath, createDirectories: true);
        return new FileStream(p, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
    }

    /// <summary>Renames the file at <paramref name="fromHostPath"/> over <paramref name="toHostPath"/> (atomically, in one directory).</summary>
    public void Move(string fromHostPath, string toHostPath)
    {
        var from = root.WritablePath(fromHostPath, createDirectories: false);
        var to = root.WritablePath(toHostPath, createDirectories: true);
        if (HostEntry.At(from).Kind != EntryKind.File) throw new HostPathException($"{fromHostPath} is not a regular file");
        RefuseDirectory(toHostPath, HostEntry.At(to));
        File.Move(from, to, overwrite: true);
    }

    /// <summary>Writes when content or mode differ; true when something changed. A symbolic link there is replaced, not written through.</summary>
    public bool WriteIfChanged(string hostPath, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        var p = root.WritablePath(hostPath, createDirectories: true);
        var now = HostEntry.At(p);
        if (now.Kind == EntryKind.File && now.Mode == mode && content.SequenceEqual(File.ReadAllBytes(p))) return false;
        RefuseDirectory(hostPath, now);
        // The directories exist and were checked: AtomicFile creates none. Its rename replaces a link itself.
        AtomicFile.WriteAllBytes(p, content, mode);
        return true;
    }

    /// <summary>Installs a file by copying it next to the target and renaming it over, so the target is never partial.</summary>
    public void InstallFrom(string sourceFullPath, string hostPath, UnixFileMode mode)
    {
        var target = root.WritablePath(hostPath, createDirectories: true);
        RefuseDirectory(hostPath, HostEntry.At(target));
        var dir = Path.GetDirectoryName(target)!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(target)}.nodefleet-{Guid.NewGuid():N}.tmp");
        try
        {
            using (var src = File.OpenRead(sourceFullPath))
            using (var dst = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
            {
                src.CopyTo(dst);
                dst.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(tmp, mode);
            File.Move(tmp, target, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>
    /// Puts a symbolic link to <paramref name="target"/> at <paramref name="hostPath"/> (undo and reset of a path that
    /// was a link), atomically by renaming a new link over whatever is there; false when that very link is there already.
    /// </summary>
    public bool CreateSymbolicLink(string hostPath, string target)
    {
        var p = root.WritablePath(hostPath, createDirectories: true);
        var now = HostEntry.At(p);
        if (now.Kind == EntryKind.SymbolicLink && now.LinkTarget == target) return false;
        RefuseDirectory(hostPath, now);
        var tmp = Path.Combine(Path.GetDirectoryName(p)!, $".{Path.GetFileName(p)}.nodefleet-{Guid.NewGuid():N}.tmp");
        File.CreateSymbolicLink(tmp, target);
        try { File.Move(tmp, p, overwrite: true); }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        return true;
    }

    /// <summary>Removes the file or symbolic link (the link itself) at <paramref name="hostPath"/>; false when there was none.</summary>
    public bool Delete(string hostPath)
    {
        var p = root.WritablePath(hostPath, createDirectories: false);
        if (HostEntry.At(p).Kind is not (EntryKind.File or EntryKind.SymbolicLink)) return false;
        File.Delete(p);
        return true;
    }

    /// <summary>
    /// The names of the entries matching <paramref name="pattern"/> in the directory at <paramref name="hostDir"/>, in
    /// ordinal order; none when there is no directory there (a symbolic link to one is not followed out of the root).
    /// </summary>
    public IReadOnlyList<string> FileNames(string hostDir, string pattern)
    {
        var p = ForReading(hostDir);
        if (HostEntry.At(p).Kind != EntryKind.Directory) return [];
        return Directory.EnumerateFileSystemEntries(p, pattern).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>A path below a writable root has its directories checked (and none created); a probe elsewhere (/proc, sockets) is only rooted.</summary>
    private string ForReading(string hostPath) =>
        HostRoot.WritableError(hostPath) is null ? root.WritablePath(hostPath, createDirectories: false) : root.Path(hostPath);

    private static void RefuseDirectory(string hostPath, HostEntry entry)
    {
        if (entry.Kind == EntryKind.Directory) throw new HostPathException($"{hostPath} is a directory; the agent writes files only");
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static string Sha256File(string fullPath)
    {
        using var f = File.OpenRead(fullPath);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
