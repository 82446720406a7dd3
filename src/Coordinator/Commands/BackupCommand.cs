using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.IO;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Commands;

/// <summary>
/// `nodefleet-coordinator backup --to FILE`: a consistent copy of the running coordinator's database, asked of the
/// coordinator itself over its operator API with the data directory's admin.conf. The coordinator checkpoints and
/// copies its database between two commits (LiteDB keeps recent commits in its write-ahead log, which a copy of
/// coordinator.db alone would miss), so the copy is whole on its own. The file is written private (0600), checked
/// like a database at start, then moved into place; a PostgreSQL store is backed up with pg_dump instead.
/// </summary>
public static class BackupCommand
{
    public sealed record Settings(string DataDir, string To, string? AdminConf);

    public static async Task<int> RunAsync(Settings settings, TextWriter output, CancellationToken ct)
    {
        if (settings.To.Trim().Length == 0) throw new StartupException("--to is empty: name the file to write the backup to");
        var target = Path.GetFullPath(settings.To);
        if (Directory.Exists(target)) throw new StartupException($"--to {target} is a directory: name a file");
        var confPath = settings.AdminConf ?? new DataDirectory(settings.DataDir).AdminConf;
        ClientConfig conf;
        try { conf = ClientConfig.Load(confPath); }
        catch (Exception e) when (e is ConfigException or IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"cannot read {confPath} (the admin.conf the backup connects with): {e.Message}");
        }
        var tmp = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Environment.ProcessId}.tmp");
        long size = 0, checkpoint = 0, written = 0;
        try
        {
            using var channel = GrpcChannels.Create(conf.Coordinator, conf.CaCertificate(), conf.ClientCertificate());
            using var call = new Fleet.FleetClient(channel).Backup(new BackupRequest(), cancellationToken: ct);
            await using (var file = new FileStream(tmp, new FileStreamOptions
                         {
                             Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = AtomicFile.Private,
                         }))
            {
                var first = true;
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct))
                {
                    if (first) (size, checkpoint, first) = (chunk.Size, chunk.Checkpoint, false);
                    await file.WriteAsync(chunk.Data.Memory, ct);
                    written += chunk.Data.Length;
                }
                file.Flush(flushToDisk: true);
            }
            if (written != size || size == 0)
                throw new StartupException($"the backup stopped short: {written} of {size} bytes received; nothing was written to {target}");
            LiteDbFiles.CheckFormat(tmp, "the backup");
            LiteDbFiles.CheckConsistent(tmp, "the backup");
            File.Move(tmp, target, overwrite: true);
        }
        catch (RpcException e)
        {
            throw new StartupException($"backup from the coordinator at {conf.Coordinator} failed: {e.Status.Detail} ({e.StatusCode})");
        }
        catch (InvalidDataException e)
        {
            throw new StartupException($"the backup received is not a whole database, nothing was written to {target}: {e.Message}");
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            if (File.Exists(LiteDbFiles.LogPath(tmp))) File.Delete(LiteDbFiles.LogPath(tmp));
        }
        output.WriteLine($"Backed up the coordinator's database to {target} ({size} bytes, checkpoint {checkpoint}).");
        output.WriteLine($"Restore it with `nodefleet-coordinator restore --from {target}` while the coordinator is stopped; keep the data " +
            "directory's pki/ and admin.conf too (they do not change after init).");
        return 0;
    }
}

/// <summary>
/// `nodefleet-coordinator restore --from FILE`: puts a backup in place as the data directory's database, while no
/// coordinator holds the directory. The file is checked first (a LiteDB database, whole, readable, a coordinator's);
/// the database and write-ahead log it replaces are kept beside it, renamed, never deleted.
/// </summary>
public static class RestoreCommand
{
    public sealed record Settings(string DataDir, string From);

    public static int Run(Settings settings, TextWriter output, TimeProvider time)
    {
        if (settings.From.Trim().Length == 0) throw new StartupException("--from is empty: name the backup file");
        var from = Path.GetFullPath(settings.From);
        if (!File.Exists(from)) throw new StartupException($"backup {from} does not exist");
        var dir = new DataDirectory(settings.DataDir);
        dir.EnsureExists();
        // Refused while a coordinator runs on the directory: it holds this lock.
        using var held = dir.Lock();
        long checkpoint;
        try
        {
            LiteDbFiles.CheckFormat(from, "the backup");
            if (new FileInfo(from).Length == 0) throw new InvalidDataException($"{from} (the backup) is empty");
            checkpoint = 0;
            LiteDbFiles.CheckConsistent(from, "the backup", db =>
            {
                if (!db.GetCollectionNames().Contains(LiteDbSchema.ClusterCollection))
                    throw new InvalidDataException($"{from} is a LiteDB database but not a coordinator's (it has no cluster record)");
                checkpoint = LiteDbStore.CheckpointOf(db);
            });
        }
        catch (InvalidDataException e)
        {
            throw new StartupException($"refusing to restore: {e.Message}");
        }
        var database = dir.Database;
        var log = LiteDbFiles.LogPath(database);
        var stamp = time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var kept = new List<string>();
        var tmp = Path.Combine(dir.Path, $".restore-{Environment.ProcessId}.tmp");
        using (var source = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read))
        using (var copy = new FileStream(tmp, new FileStreamOptions
               {
                   Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = AtomicFile.Private,
               }))
        {
            source.CopyTo(copy);
            copy.Flush(flushToDisk: true);
        }
        foreach (var f in new[] { database, log })
        {
            if (!File.Exists(f)) continue;
            if (new FileInfo(f).Length == 0) { File.Delete(f); continue; }
            var aside = $"{f}.before-restore-{stamp}";
            File.Move(f, aside);
            kept.Add(aside);
        }
        File.Move(tmp, database);
        File.SetUnixFileMode(database, AtomicFile.Private);
        LiteDbStore.WriteCheckpointFile(database, checkpoint);
        output.WriteLine($"Restored {database} from {from} (checkpoint {checkpoint}).");
        foreach (var k in kept) output.WriteLine($"  kept the file it replaced as {k}");
        output.WriteLine("Start the coordinator (`systemctl start nodefleet-coordinator`).");
        return 0;
    }
}
