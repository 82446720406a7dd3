using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// Whole-number options that parse (and range-check) their value themselves, so that a bad value reads
/// "--usages: expected a whole number ≥ 0, got '-3'" rather than the library's conversion message, which names .NET
/// types ('System.UInt32', 'System.Nullable`1[System.Int32]'). The range is checked while parsing, never in a
/// validator: a validator that reads the value of an option that failed to convert throws instead of reporting.
/// </summary>
public static class NumberOptions
{
    /// <summary>Makes <paramref name="option"/> take a whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Option<int> WholeNumber(this Option<int> option, int min, int max = int.MaxValue)
    {
        option.CustomParser = r => (int)(Parse(r, option.Name, min, max) ?? 0);
        return option;
    }

    /// <summary>The same for an option that may be left out (null when it is).</summary>
    public static Option<int?> WholeNumber(this Option<int?> option, int min, int max = int.MaxValue)
    {
        option.CustomParser = r => Parse(r, option.Name, min, max) is { } n ? (int)n : null;
        return option;
    }

    /// <summary>The same for an unsigned option (0 to <paramref name="max"/>).</summary>
    public static Option<uint> WholeNumber(this Option<uint> option, uint max = uint.MaxValue)
    {
        option.CustomParser = r => (uint)(Parse(r, option.Name, 0, max) ?? 0);
        return option;
    }

    /// <summary>
    /// The option's one token as a whole number in [<paramref name="min"/>, <paramref name="max"/>], or null after
    /// adding an error that names the option, says what it takes and quotes what was given.
    /// </summary>
    public static long? Parse(ArgumentResult result, string option, long min, long max)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        var error = Check(text, option, min, max, out var value);
        if (error is null) return value;
        result.AddError(error);
        return null;
    }

    /// <summary>The error for <paramref name="text"/> as a value of <paramref name="option"/>, or null when it is one.</summary>
    public static string? Check(string text, string option, long min, long max, out long value)
    {
        var t = text.Trim();
        if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
            return null;
        // An open-ended range reads "≥ 0"; a number above it (or above what the type holds) gets the upper bound too.
        var tooBig = BigInteger.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n > max;
        var expected = tooBig || max is not (int.MaxValue or uint.MaxValue or long.MaxValue)
            ? $"a whole number from {Text(min)} to {Text(max)}"
            : $"a whole number ≥ {Text(min)}";
        return $"{option}: expected {expected}, got '{text}'";
    }

    private static string Text(long n) => n.ToString(CultureInfo.InvariantCulture);
}
