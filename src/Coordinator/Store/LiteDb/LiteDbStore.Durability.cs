using System.Globalization;
using LiteDB;

namespace NodeFleet.Coordinator.Store.LiteDb;

/// <summary>
/// What keeps the database file whole on its own. LiteDB commits into its write-ahead log (coordinator-log.db) and
/// copies the log into coordinator.db only at a checkpoint, so until then the log IS data: a copy of coordinator.db
/// alone misses it. Here: the log is fsynced after every batch of commits (LiteDB does not); a checkpoint runs every
/// <see cref="CheckpointInterval"/>, at shutdown and for a backup; and each checkpoint is numbered, in the database and in
/// coordinator.checkpoint beside it, so that a database older than the directory's last checkpoint (restored from a
/// copy, or without its log) is refused at start instead of silently missing what came after.
/// </summary>
public sealed partial class LiteDbStore
{
    /// <summary>The file beside the database holding the number of its last checkpoint.</summary>
    public const string CheckpointFileName = "coordinator.checkpoint";

    /// <summary>How often the log is copied into the database when the coordinator runs.</summary>
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(30);

    private const string MetaCollection = "meta";
    private const string CheckpointKey = "checkpoint";
    // "InUse": true from the moment a store opens the file until its last checkpoint at a clean shutdown. A database that
    // says so, found with no write-ahead log beside it, was copied while in use without its log.
    private const string StateKey = "state";

    private readonly string _path;
    private readonly NodeFleet.IO.LiteDbLogSync _logSync;
    // Set on the writer by the write that asks for a checkpoint, run once its batch has committed.
    private CheckpointRequest? _checkpoint;
    private Timer? _checkpoints;

    private sealed class CheckpointRequest(string? copyTo, bool closing = false)
    {
        public string? CopyTo { get; } = copyTo;
        public bool Closing { get; } = closing;
        public long Number { get; set; }
        public TaskCompletionSource<long> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The size of the database and of its write-ahead log, in bytes.</summary>
    public long SizeBytes()
    {
        long Size(string f) => File.Exists(f) ? new FileInfo(f).Length : 0;
        return Size(_path) + Size(NodeFleet.IO.LiteDbFiles.LogPath(_path));
    }

    /// <summary>Starts the timer that checkpoints every <see cref="CheckpointInterval"/> (the running coordinator's).</summary>
    public void StartCheckpoints(TimeSpan? interval = null)
    {
        var every = interval ?? CheckpointInterval;
        _checkpoints ??= new Timer(_ =>
        {
            if (!IsOpen) return;
            _ = CheckpointAsync().ContinueWith(t => System.Diagnostics.Trace.TraceError($"checkpoint failed: {t.Exception}"),
                TaskContinuationOptions.OnlyOnFaulted);
        }, null, every, every);
    }

    private void StopCheckpoints()
    {
        _checkpoints?.Dispose();
        _checkpoints = null;
    }

    /// <summary>
    /// Copies the log into the database on the writer, between two batches of writes, and completes with the
    /// checkpoint's number; with <paramref name="copyTo"/>, then copies the database (whole, as of that checkpoint) to
    /// that file before any later write.
    /// </summary>
    public Task<long> CheckpointAsync(string? copyTo = null) => CheckpointAsync(new CheckpointRequest(copyTo));

    private async Task<long> CheckpointAsync(CheckpointRequest request)
    {
        await WriteAsync(_ =>
        {
            var meta = _db.GetCollection(MetaCollection);
            request.Number = Number(meta.FindById(CheckpointKey)) + 1;
            meta.Upsert(new BsonDocument { ["_id"] = CheckpointKey, ["Number"] = request.Number });
            if (request.Closing) meta.Upsert(new BsonDocument { ["_id"] = StateKey, ["InUse"] = false });
            _checkpoint = request;
        }).ConfigureAwait(false);
        return await request.Done.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// A whole copy of the database, taken under the writer just after a checkpoint (so the log holds nothing it
    /// lacks), in a private file beside it that the caller deletes; with the checkpoint's number.
    /// </summary>
    public async Task<(string Path, long Checkpoint)> BackupAsync()
    {
        var copy = Path.Combine(Path.GetDirectoryName(_path)!, $".backup-{Guid.NewGuid():N}.db");
        try
        {
            var number = await CheckpointAsync(copy).ConfigureAwait(false);
            return (copy, number);
        }
        catch
        {
            File.Delete(copy);
            throw;
        }
    }

    /// <summary>
    /// Marks the file in use and checkpoints at once (before the writer starts), so that from now on the database file
    /// itself says its write-ahead log belongs with it.
    /// </summary>
    private void MarkInUse()
    {
        SetInUse(true);
        _db.Checkpoint();
    }

    private void SetInUse(bool inUse) =>
        _db.GetCollection(MetaCollection).Upsert(new BsonDocument { ["_id"] = StateKey, ["InUse"] = inUse });

    /// <summary>The last checkpoint, marking the file no longer in use (a clean shutdown).</summary>
    private Task<long> CloseCheckpointAsync() => CheckpointAsync(new CheckpointRequest(null, closing: true));

    private static long Number(BsonDocument? doc) =>
        doc is not null && doc.TryGetValue("Number", out var n) && n.IsNumber ? n.AsInt64 : 0;

    private void RunCheckpoint(CheckpointRequest request)
    {
        _checkpoint = null;
        try
        {
            _db.Checkpoint();
            WriteCheckpointFile(_path, request.Number);
            if (request.CopyTo is { } target)
            {
                // The copy is whole on its own: it is not "in use" (its log is not needed), which this file is again after.
                SetInUse(false);
                _db.Checkpoint();
                using var source = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var copy = new FileStream(target, new FileStreamOptions
                {
                    Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = NodeFleet.IO.AtomicFile.Private,
                });
                source.CopyTo(copy);
                copy.Flush(flushToDisk: true);
                source.Dispose();
                SetInUse(true);
                _db.Checkpoint();
            }
            request.Done.TrySetResult(request.Number);
        }
        catch (Exception e)
        {
            request.Done.TrySetException(e);
        }
    }

    /// <summary>Records <paramref name="number"/> as the data directory's last checkpoint (what `restore` sets too).</summary>
    public static void WriteCheckpointFile(string databasePath, long number) =>
        NodeFleet.IO.AtomicFile.WriteAllText(CheckpointFile(databasePath), number.ToString(CultureInfo.InvariantCulture) + "\n",
            NodeFleet.IO.AtomicFile.Private);

    private static string CheckpointFile(string databasePath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(databasePath))!, CheckpointFileName);

    /// <summary>The checkpoint number stored in a database (0: none yet).</summary>
    public static long CheckpointOf(LiteDatabase db) =>
        db.GetCollectionNames().Contains(MetaCollection) ? Number(db.GetCollection(MetaCollection).FindById(CheckpointKey)) : 0;

    /// <summary>
    /// Refuses (read-only, before the database is opened for writing) a database older than the directory's last
    /// checkpoint. An empty database is a deliberate new start and is not compared.
    /// </summary>
    private static void CheckCheckpoint(LiteDatabase db, string path)
    {
        var log = NodeFleet.IO.LiteDbFiles.LogPath(path);
        if (db.GetCollectionNames().Contains(MetaCollection)
            && db.GetCollection(MetaCollection).FindById(StateKey) is { } state
            && state.TryGetValue("InUse", out var inUse) && inUse.IsBoolean && inUse.AsBoolean && !File.Exists(log))
            throw new InvalidDataException($"{path} was copied while a coordinator had it open, and its write-ahead log {log} " +
                "is not beside it: what the log held (the latest changes) is missing. Nothing was changed. Put the log back " +
                "beside it, or restore a backup made with `nodefleet-coordinator backup` (`nodefleet-coordinator restore --from FILE`)");
        var file = CheckpointFile(path);
        if (!File.Exists(file)) return;
        if (!long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var recorded)) return;
        var stored = CheckpointOf(db);
        if (stored < recorded)
            throw new InvalidDataException($"{path} is older than this data directory: it holds checkpoint {stored}, but checkpoint " +
                $"{recorded} was made here ({file}); it was restored from an older copy, or copied without its write-ahead log " +
                $"{NodeFleet.IO.LiteDbFiles.LogPath(path)}, and what was committed after is missing. Nothing was changed. Restore a " +
                "backup made with `nodefleet-coordinator backup` (`nodefleet-coordinator restore --from FILE`); to start from " +
                $"this file anyway, delete {file}");
    }

    /// <summary>fsync of the log after a batch's commit; a failure is fatal (what is on the disk is no longer known).</summary>
    private void SyncLog()
    {
        try { _logSync.Flush(); }
        catch (IOException e)
        {
            Fatal?.Invoke(e);
            throw;
        }
    }
}
