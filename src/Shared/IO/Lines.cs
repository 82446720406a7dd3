namespace NodeFleet.IO;

/// <summary>Messages from other programs and .NET, made to fit the one-line errors every NodeFleet binary prints.</summary>
public static class Lines
{
    /// <summary>The non-empty lines of <paramref name="text"/>, trimmed and joined by spaces.</summary>
    public static string OneLine(string text) =>
        string.Join(' ', text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
