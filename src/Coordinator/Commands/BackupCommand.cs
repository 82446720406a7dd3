using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.Coordinator.Hosting;
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
            using var channel = GrpcChannels.CreateTrusting(conf.Coordinator, conf.CaCertificates(), conf.ClientCertificate());
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
