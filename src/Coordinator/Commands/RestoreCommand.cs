using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.IO;

namespace NodeFleet.Coordinator.Commands;

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
