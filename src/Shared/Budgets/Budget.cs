using System.Globalization;

namespace NodeFleet.Budgets;

/// <summary>
/// A rollout budget (max unavailable, max failures): a count ("2") or a percentage of the selected nodes ("10%"),
/// as kubectl's maxUnavailable. The one grammar, parsed the same way by the CLI (to refuse a bad flag before anything
/// is sent) and by the coordinator (which owns the rule).
/// </summary>
public readonly record struct Budget(int Value, bool IsPercent)
{
    /// <summary>
    /// <paramref name="text"/> as a budget: a whole number from 1, or a percentage from 1% to 100%. Zero is refused:
    /// with max unavailable 0 no node could ever start, and with max failures 0 the rollout would be paused before
    /// its first node ran. <paramref name="what"/> names the setting in the error ("--max-unavailable").
    /// </summary>
    /// <exception cref="FormatException">The text is not a budget; the message says why and what is accepted.</exception>
    public static Budget Parse(string text, string what)
    {
        var t = text.Trim();
        var percent = t.EndsWith('%');
        var digits = percent ? t[..^1] : t;
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || (percent && n > 100))
            throw new FormatException($"{what} '{text}' must be a whole number more than 0 or a percentage of the nodes from 1% to 100% (e.g. 2 or 10%)");
        if (n == 0)
            throw new FormatException($"{what} '{text}' must be more than 0: with 0 the rollout could never go on (use 1 or more, or a percentage from 1% to 100%)");
        return new Budget(n, percent);
    }

    /// <summary>The count for <paramref name="total"/> nodes; a percentage rounds up and is at least <paramref name="minimum"/>.</summary>
    public int Resolve(int total, int minimum = 1) =>
        Math.Max(minimum, IsPercent ? (int)Math.Ceiling(total * (long)Value / 100.0) : Value);

    public override string ToString() => IsPercent ? $"{Value}%" : Value.ToString(CultureInfo.InvariantCulture);
}
