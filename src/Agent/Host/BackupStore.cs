using System.Security.Cryptography;
using NodeFleet.IO;

namespace NodeFleet.Agent.Host;

/// <summary>Content-addressed copies of replaced files (/var/lib/nodefleet-agent/backups/&lt;sha256&gt;).</summary>
public sealed class BackupStore(HostRoot root)
{
    public const string Dir = AgentPaths.StateDir + "/backups";

    /// <summary>
    /// Null when <paramref name="sha256"/> can name a backup: 64 lowercase hex digits (the plan validator's check), so
    /// that a hash read from the journal cannot lead out of the backups directory. Else why not.
    /// </summary>
    public static string? HashError(string sha256) =>
        NodeFleet.Plans.PlanValidator.Sha256Error(sha256) is null
            ? null
            : $"backup hash '{(sha256.Length > 80 ? sha256[..77] + "..." : sha256)}' is not 64 lowercase hex digits; refused";

    /// <summary>The rooted path of the backup named <paramref name="sha256"/>, which must be a well-formed hash (it comes from the journal).</summary>
    /// <exception cref="HostPathException">The hash is not 64 lowercase hex digits, or the backups directory is a symbolic link.</exception>
    public string FullPath(string sha256) =>
        HashError(sha256) is { } error
            ? throw new HostPathException(error)
            : root.WritablePath($"{Dir}/{sha256}", createDirectories: false);

    /// <summary>
    /// Keeps a copy of the regular file at <paramref name="hostPath"/> and returns its hash. It is read once, hashed as
    /// it is copied, so the copy is what the hash names.
    /// </summary>
    /// <exception cref="HostPathException">There is no regular file there (a symbolic link is recorded, never copied).</exception>
    public string Save(string hostPath)
    {
        var source = root.WritablePath(hostPath, createDirectories: false);
        if (HostEntry.At(source).Kind != EntryKind.File)
            throw new HostPathException($"{hostPath} is not a regular file; only regular files are copied into the backups");
        var tmp = root.WritablePath($"{Dir}/.{Guid.NewGuid():N}.tmp", createDirectories: true);
        try
        {
            string sha;
            using (var src = File.OpenRead(source))
            using (var dst = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = AtomicFile.Private }))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int n;
                while ((n = src.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    dst.Write(buffer, 0, n);
                }
                dst.Flush(flushToDisk: true);
                sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            // Renamed over whatever holds that name, so a damaged or replaced backup is made whole again.
            File.Move(tmp, FullPath(sha), overwrite: true);
            return sha;
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>The content of backup <paramref name="sha256"/>, refused unless it is a regular file holding exactly what its name says.</summary>
    public byte[] Read(string sha256)
    {
        var path = FullPath(sha256);
        var kind = HostEntry.At(path).Kind;
        if (kind == EntryKind.Absent) throw new HostPathException($"backup {Dir}/{sha256} is missing");
        if (kind != EntryKind.File) throw new HostPathException($"backup {Dir}/{sha256} is not a regular file; refused");
        var content = File.ReadAllBytes(path);
        if (HostFiles.Sha256(content) != sha256)
            throw new HostPathException($"backup {Dir}/{sha256} does not hold the content its name says (sha256 {HostFiles.Sha256(content)}); refused");
        return content;
    }
}
