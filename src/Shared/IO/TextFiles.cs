namespace NodeFleet.IO;

/// <summary>Reads the files operators name (configs, plans, discovery files) with short reasons for failures.</summary>
public static class TextFiles
{
    /// <summary>The reason <see cref="TryRead"/> gives for a path with nothing at it.</summary>
    public const string NoSuchFile = "no such file";

    /// <summary>The reason <see cref="TryRead"/> gives when this user may not read the file.</summary>
    public const string PermissionDenied = "permission denied";

    /// <summary>
    /// The text of <paramref name="path"/>, or false with why it cannot be read: "it is a directory", "no such
    /// file", "permission denied", "it is larger than N bytes" (more than <paramref name="maxBytes"/>, found without
    /// reading past them, so a pipe or device that never ends is refused too), or the system's message otherwise.
    /// </summary>
    public static bool TryRead(string path, out string text, out string reason, long maxBytes = long.MaxValue)
    {
        text = "";
        reason = "";
        if (Directory.Exists(path))
        {
            // .NET reports a directory as "Access to the path is denied", which sends the operator to the permissions.
            reason = "it is a directory";
            return false;
        }
        try
        {
            if (maxBytes == long.MaxValue)
            {
                text = File.ReadAllText(path);
                return true;
            }
            using var stream = File.OpenRead(path);
            using var bytes = new MemoryStream();
            var buffer = new byte[81920];
            int n;
            while ((n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, maxBytes + 1 - bytes.Length))) > 0)
            {
                bytes.Write(buffer, 0, n);
                if (bytes.Length > maxBytes)
                {
                    reason = $"it is larger than {maxBytes} bytes";
                    return false;
                }
            }
            bytes.Position = 0;
            // As File.ReadAllText: UTF-8 unless a byte order mark says otherwise.
            using var reader = new StreamReader(bytes, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            text = reader.ReadToEnd();
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            reason = NoSuchFile;
        }
        catch (UnauthorizedAccessException)
        {
            reason = PermissionDenied;
        }
        catch (IOException e)
        {
            reason = e.Message;
        }
        return false;
    }
}
