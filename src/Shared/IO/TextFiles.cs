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
    /// file", "permission denied", or the system's message for anything else.
    /// </summary>
    public static bool TryRead(string path, out string text, out string reason)
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
            text = File.ReadAllText(path);
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
