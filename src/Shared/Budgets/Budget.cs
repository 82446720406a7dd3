using System.Globalization;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>A count given as a number ("2") or a percentage of the selected nodes ("10%"), as kubectl's maxUnavailable.</summary>
public readonly record struct Budget(int Value, bool IsPercent)
{
    public static Budget Parse(string text, string what)
    {
        var t = text.Trim();
        if (t.EndsWith('%'))
        {
            if (int.TryParse(t[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 100) return new Budget(p, true);
        }
        else if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return new Budget(n, false);
        throw new FormatException($"{what} '{text}' must be a whole number or a percentage from 0% to 100% (e.g. 2 or 10%)");
    }

    /// <summary>The count for <paramref name="total"/> nodes; a percentage rounds up and is at least <paramref name="minimum"/>.</summary>
    public int Resolve(int total, int minimum)
    {
        var v = IsPercent ? (int)Math.Ceiling(total * Value / 100.0) : Value;
        return Math.Max(v, minimum);
    }

    public override string ToString() => IsPercent ? $"{Value}%" : Value.ToString(CultureInfo.InvariantCulture);
}
