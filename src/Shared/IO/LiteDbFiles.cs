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
    public static T Open<T>(string path, string what, Func<T> open)
    {
        CheckFormat(path, what);
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
}
