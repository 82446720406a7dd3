using System.Text;

namespace NodeFleet.Rendering;

/// <summary>Strict UTF-8 decoding of existing files and encoding of rendered ones (no BOM unless the file had one).</summary>
internal static class FileText
{
    public const string Header = "# Written by NodeFleet; changes are overwritten.";

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly byte[] Bom = [0xEF, 0xBB, 0xBF];

    public static (string Text, bool HadBom) Decode(byte[] bytes, string what)
    {
        var hadBom = bytes.AsSpan().StartsWith(Bom);
        try
        {
            return (Strict.GetString(bytes, hadBom ? Bom.Length : 0, bytes.Length - (hadBom ? Bom.Length : 0)), hadBom);
        }
        catch (DecoderFallbackException ex)
        {
            throw new RenderException($"{what} is not valid UTF-8 (byte {ex.Index})", ex);
        }
    }

    public static byte[] Encode(string text, bool withBom = false)
    {
        var body = Strict.GetBytes(text);
        return withBom ? [.. Bom, .. body] : body;
    }

    /// <summary>The line ending a file already uses, so that inserted lines match it.</summary>
    public static string NewLineOf(string text) => text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";

    /// <summary>Refuses values that would break out of the line or quoting they are written into.</summary>
    public static string RequireSingleToken(string value, string what)
    {
        if (string.IsNullOrEmpty(value))
            throw new RenderException($"{what} is empty");
        foreach (var c in value)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '"' or '\'' or '\\')
                throw new RenderException($"{what} '{value}' contains whitespace, a quote, a backslash or a control character");
        }
        return value;
    }
}
