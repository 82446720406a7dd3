using System.Text;

namespace NodeFleet.IO;

/// <summary>
/// Opening a LiteDB file safely. LiteDB takes a file shorter than its first page for a new database and writes a fresh
/// one over it, and reports a damaged header with whatever exception the damage leads to (a date out of range, say):
/// here a file that is not a LiteDB database is refused before LiteDB touches it, and damage found while opening is
/// reported with the file's name.
/// </summary>
public static class LiteDbFiles
{
    // LiteDB 5 writes this text at byte 32 of the header page of every database file.
    private static readonly byte[] Signature = Encoding.ASCII.GetBytes("** This is a LiteDB file **");
    private const int SignatureOffset = 32;

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when <paramref name="path"/> holds something other than a LiteDB
    /// database (an absent or empty file is a new database: there is nothing in it to lose).
    /// </summary>
    /// <param name="what">What the file is, for the message ("the agent's journal").</param>
    public static void CheckFormat(string path, string what)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path} ({what}) is a directory, not a database file");
        if (!File.Exists(path)) return;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (file.Length == 0) return;
        var head = new byte[SignatureOffset + Signature.Length];
        var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (read < head.Length || !head.AsSpan(SignatureOffset).SequenceEqual(Signature))
            throw new InvalidDataException($"{path} ({what}) is not a LiteDB database, or its first page is damaged; " +
                "nothing was changed: restore it from a backup, or move it aside to start with an empty one");
    }

    /// <summary>
    /// Opens the database with <paramref name="open"/> after <see cref="CheckFormat"/>; damage LiteDB finds while opening
    /// is rethrown as <see cref="InvalidDataException"/> naming the file. I/O and permission errors pass unchanged.
    /// </summary>
    /// <param name="inspect">More checks on the database opened read-only (throw <see cref="InvalidDataException"/>).</param>
    public static T Open<T>(string path, string what, Func<T> open, Action<LiteDB.LiteDatabase>? inspect = null)
    {
        CheckFormat(path, what);
        CheckConsistent(path, what, inspect);
        MakePrivate(path);
        try
        {
            return open();
        }
        catch (Exception e) when (e is LiteDB.LiteException or ArgumentException or InvalidCastException or IndexOutOfRangeException
            or OverflowException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} ({what}) is damaged: {e.Message}", e);
        }
    }

    // LiteDB 5's pages are 8 KiB; the header page keeps the id of the last page at byte 64 and a flag set when the engine
    // found the file damaged at byte 191 (HeaderPage.P_LAST_PAGE_ID, P_INVALID_DATAFILE_STATE).
    private const int PageSize = 8192;
    private const int LastPageIdOffset = 64;
    private const int InvalidStateOffset = 191;

    /// <summary>The write-ahead log LiteDB keeps beside <paramref name="path"/>: coordinator.db → coordinator-log.db.</summary>
    public static string LogPath(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));

    /// <summary>
    /// Refuses, before LiteDB opens anything for writing, a database that is detectably not whole: a write-ahead log
    /// with no database (its committed transactions would be replayed onto an empty one), a file shorter than the pages
    /// its header counts (truncated), a header the engine marked damaged, or a file LiteDB cannot read when opened
    /// read-only. Reads only: a refused file is left byte for byte as it was.
    /// </summary>
    public static void CheckConsistent(string path, string what, Action<LiteDB.LiteDatabase>? inspect = null)
    {
        var log = LogPath(path);
        var dataLength = File.Exists(path) ? new FileInfo(path).Length : 0;
        var logLength = File.Exists(log) ? new FileInfo(log).Length : 0;
        if (dataLength == 0)
        {
            if (logLength > 0)
                throw new InvalidDataException($"{path} ({what}) is missing or empty but its write-ahead log {log} holds " +
                    $"{logLength} bytes of committed changes: the database file was lost or replaced; nothing was changed: " +
                    "restore both files from a backup, or move the log aside to start with an empty database");
            return;
        }
        // LiteDB cuts a file that is not whole pages down to whole pages as it opens it, even read-only: refused first.
        if (dataLength % PageSize != 0)
            throw new InvalidDataException($"{path} ({what}) is truncated or damaged: its size, {dataLength} bytes, is not a whole " +
                $"number of {PageSize}-byte pages; nothing was changed: restore it from a backup");
        var header = new byte[PageSize];
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        var lastPage = BitConverter.ToUInt32(header, LastPageIdOffset);
        var expected = ((long)lastPage + 1) * PageSize;
        if (dataLength < expected)
            throw new InvalidDataException($"{path} ({what}) is truncated: it is {dataLength} bytes but its header counts " +
                $"{lastPage + 1} pages ({expected} bytes); nothing was changed: restore it from a backup");
        if (header[InvalidStateOffset] != 0)
            throw new InvalidDataException($"{path} ({what}) was marked damaged by the database engine; nothing was changed: " +
                "restore it from a backup");
        try
        {
            using var db = new LiteDB.LiteDatabase(new LiteDB.ConnectionString
            {
                Filename = path, Connection = LiteDB.ConnectionType.Direct, ReadOnly = true,
            });
            foreach (var name in db.GetCollectionNames()) db.GetCollection(name).Count();
            inspect?.Invoke(db);
        }
        catch (Exception e) when (e is LiteDB.LiteException or ArgumentException or InvalidCastException or IndexOutOfRangeException
            or OverflowException or FormatException or InvalidOperationException or EndOfStreamException)
        {
            throw new InvalidDataException($"{path} ({what}) is damaged: {e.Message}; nothing was changed: restore it from a backup", e);
        }
    }

    /// <summary>
    /// Makes the database and its write-ahead log readable by their owner only (0600), those already there included; the
    /// log, which LiteDB creates only at its first write, is created empty with that mode (LiteDB takes an empty log
    /// for none).
    /// </summary>
    public static void MakePrivate(string path)
    {
        foreach (var f in new[] { path, LogPath(path) })
        {
            if (!File.Exists(f))
            {
                using var _ = new FileStream(f, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = AtomicFile.Private,
                });
            }
            if (File.GetUnixFileMode(f) != AtomicFile.Private) File.SetUnixFileMode(f, AtomicFile.Private);
        }
    }
}

/// <summary>
/// Makes LiteDB's commits durable. LiteDB 5 writes a commit's pages to the write-ahead log with plain writes and calls
/// fsync only when it copies the log into the database (a checkpoint), so a commit it has returned from is in the
/// operating system's cache but may be lost in a power cut. Calling <see cref="Flush"/> after each commit (once per
/// batch of commits) forces the log to the disk before anything is acknowledged.
/// </summary>
public sealed class LiteDbLogSync(string databasePath) : IDisposable
{
    private readonly string _log = LiteDbFiles.LogPath(databasePath);
    private FileStream? _handle;

    /// <summary>fsync of the write-ahead log (and of its size, which grows with each commit).</summary>
    public void Flush()
    {
        // A handle of our own on the same file: fsync flushes the file's pages whichever descriptor wrote them.
        _handle ??= File.Exists(_log)
            ? new FileStream(_log, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1)
            : null;
        _handle?.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }
}
