using System.Security.Cryptography;
using NodeFleet.IO;

namespace NodeFleet.Agent.Host;

/// <summary>Reads and writes host files under the root: atomic (temp + fsync + rename) and only when bytes change.</summary>
public sealed class HostFiles(HostRoot root)
{
    public HostRoot Root => root;

    public bool Exists(string hostPath) => File.Exists(root.Path(hostPath));

    public byte[]? Read(string hostPath)
    {
        var p = root.Path(hostPath);
        return File.Exists(p) ? File.ReadAllBytes(p) : null;
    }

    public UnixFileMode? Mode(string hostPath)
    {
        var p = root.Path(hostPath);
        return File.Exists(p) ? File.GetUnixFileMode(p) : null;
    }

    /// <summary>Writes when content or mode differ; true when something changed.</summary>
    public bool WriteIfChanged(string hostPath, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        var p = root.Path(hostPath);
        if (File.Exists(p) && File.GetUnixFileMode(p) == mode && content.SequenceEqual(File.ReadAllBytes(p))) return false;
        AtomicFile.WriteAllBytes(p, content, mode);
        return true;
    }

    /// <summary>Installs a file by copying it next to the target and renaming it over, so the target is never partial.</summary>
    public void InstallFrom(string sourceFullPath, string hostPath, UnixFileMode mode)
    {
        var target = root.Path(hostPath);
        var dir = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(dir);
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

    public bool Delete(string hostPath)
    {
        var p = root.Path(hostPath);
        if (!File.Exists(p)) return false;
        File.Delete(p);
        return true;
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static string Sha256File(string fullPath)
    {
        using var f = File.OpenRead(fullPath);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}

/// <summary>Content-addressed copies of replaced files (/var/lib/nodefleet-agent/backups/&lt;sha256&gt;).</summary>
public sealed class BackupStore(HostRoot root)
{
    public const string Dir = AgentPaths.StateDir + "/backups";

    public string FullPath(string sha256) => root.Path($"{Dir}/{sha256}");

    /// <summary>Keeps a copy of a host file and returns its hash.</summary>
    public string Save(string hostPath)
    {
        var source = root.Path(hostPath);
        var sha = HostFiles.Sha256File(source);
        var target = FullPath(sha);
        if (!File.Exists(target))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var tmp = target + ".tmp";
            File.Copy(source, tmp, overwrite: true);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            File.SetUnixFileMode(tmp, AtomicFile.Private);
            File.Move(tmp, target, overwrite: true);
        }
        return sha;
    }
}
