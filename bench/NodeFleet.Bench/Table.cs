using System.Globalization;
using System.Text;

namespace NodeFleet.Bench;

/// <summary>
/// A small table printed as aligned text on the console and as Markdown for BENCHMARKS.md: the first
/// <see cref="TextColumns"/> columns are text (left-aligned), the others figures (right-aligned).
/// </summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public int TextColumns { get; init; } = 1;

    public Table Add(params string[] cells)
    {
        if (cells.Length != headers.Length) throw new ArgumentException($"{cells.Length} cells for {headers.Length} columns");
        _rows.Add(cells);
        return this;
    }

    public string ToText()
    {
        var widths = headers.Select((h, i) => _rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells) =>
            sb.AppendLine(string.Join("  ", cells.Select((c, i) => i < TextColumns ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd());
        Line(headers);
        sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var r in _rows) Line(r);
        return sb.ToString();
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", headers) + " |");
        sb.AppendLine("|" + string.Join("|", headers.Select((_, i) => i < TextColumns ? "---" : "---:")) + "|");
        foreach (var r in _rows) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        return sb.ToString();
    }
}

/// <summary>Medians, minima and how they are printed.</summary>
public static class Stats
{
    public static TimeSpan Median(IEnumerable<TimeSpan> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        if (sorted.Count == 0) return TimeSpan.Zero;
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public static TimeSpan Min(IEnumerable<TimeSpan> values) => values.DefaultIfEmpty().Min();

    /// <summary>"1.234 s" or "56.7 ms".</summary>
    public static string Format(TimeSpan t) => t.TotalSeconds >= 1
        ? t.TotalSeconds.ToString("0.000 's'", CultureInfo.InvariantCulture)
        : t.TotalMilliseconds.ToString("0.0 'ms'", CultureInfo.InvariantCulture);

    /// <summary>"1.234 s (1.201 s)": median and, in parentheses, minimum.</summary>
    public static string MedianMin(IReadOnlyCollection<TimeSpan> values) => $"{Format(Median(values))} ({Format(Min(values))})";

    public static string Ratio(TimeSpan a, TimeSpan b) =>
        b == TimeSpan.Zero ? "-" : (a / b).ToString("0.00'×'", CultureInfo.InvariantCulture);

    /// <summary>"20.0 MiB", or "3.1 KiB" below one MiB.</summary>
    public static string MiB(long bytes) => bytes >= 1024 * 1024
        ? (bytes / 1024.0 / 1024.0).ToString("0.0 'MiB'", CultureInfo.InvariantCulture)
        : (bytes / 1024.0).ToString("0.0 'KiB'", CultureInfo.InvariantCulture);
}
