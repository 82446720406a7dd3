using System.Globalization;
using System.Text.RegularExpressions;

namespace NodeFleet.Coordinator.Rollouts.Windows;

/// <summary>
/// A maintenance window's schedule in one time zone: "Sat,Sun 02:00-06:00", "Mon-Fri 22:00-04:00; Sun 00:00-24:00".
/// Parts are separated by ';'. A part is an optional day list (days or ranges such as Mon-Fri or Fri-Mon, comma-joined;
/// "daily" or nothing = every day) and a time range HH:MM-HH:MM in the zone's wall-clock time. The days name the day a
/// window opens: an end at or before the start crosses midnight (Fri 22:00-02:00 closes on Saturday). Across a
/// daylight-saving change a window opens at the first instant the wall clock reads its start (or later, when that time
/// is skipped) and closes at the last instant it reads its end: a Sunday 02:00-06:00 window in Europe/Berlin opens at
/// 03:00 CEST on the day clocks spring forward, and lasts five hours on the day they fall back.
/// </summary>
public sealed partial class WindowSchedule
{
    /// <summary>One part: the days it opens on, and its start and end as offsets from local midnight.</summary>
    public sealed record Part(IReadOnlySet<DayOfWeek> Days, TimeSpan Start, TimeSpan End)
    {
        /// <summary>Ends the next day (end at or before start).</summary>
        public bool CrossesMidnight => End <= Start;
    }

    public IReadOnlyList<Part> Parts { get; }
    public TimeZoneInfo Zone { get; }
    /// <summary>The schedule as the operator wrote it, trimmed.</summary>
    public string Text { get; }

    private WindowSchedule(IReadOnlyList<Part> parts, TimeZoneInfo zone, string text)
    {
        Parts = parts;
        Zone = zone;
        Text = text;
    }

    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    /// <summary>Parses <paramref name="text"/> in <paramref name="timeZone"/> (an IANA id); FormatException names what is wrong and where.</summary>
    public static WindowSchedule Parse(string text, string timeZone)
    {
        var zone = FindZone(timeZone);
        var whole = (text ?? "").Trim();
        if (whole.Length == 0) throw new FormatException("schedule is empty: write days and hours, e.g. 'Sat,Sun 02:00-06:00'");
        var parts = new List<Part>();
        var pieces = whole.Split(';');
        for (var i = 0; i < pieces.Length; i++)
        {
            var piece = pieces[i].Trim();
            var where = pieces.Length > 1 ? $"schedule part {i + 1} '{piece}'" : $"schedule '{piece}'";
            if (piece.Length == 0) throw new FormatException($"schedule '{whole}': part {i + 1} is empty (a stray ';'?)");
            parts.Add(ParsePart(piece, where));
        }
        return new WindowSchedule(parts, zone, whole);
    }

    /// <summary>The IANA time zone <paramref name="id"/>; FormatException naming it when the system's tzdata has no such zone.</summary>
    public static TimeZoneInfo FindZone(string id)
    {
        var name = (id ?? "").Trim();
        if (name.Length == 0) throw new FormatException("time zone is empty: give an IANA name such as Europe/Berlin or UTC");
        try { return TimeZoneInfo.FindSystemTimeZoneById(name); }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new FormatException($"unknown time zone '{name}': give an IANA name such as Europe/Berlin, America/New_York or UTC " +
                "(the coordinator reads them from the system's tzdata, /usr/share/zoneinfo)");
        }
    }

    private static Part ParsePart(string piece, string where)
    {
        var tokens = piece.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        string daysText, rangeText;
        if (tokens.Length == 1) (daysText, rangeText) = ("daily", tokens[0]);
        else if (tokens.Length == 2) (daysText, rangeText) = (tokens[0], tokens[1]);
        else throw new FormatException($"{where}: expected DAYS HH:MM-HH:MM, e.g. 'Mon-Fri 22:00-04:00'");
        var days = ParseDays(daysText, where);
        var range = rangeText.Split('-');
        if (range.Length != 2) throw new FormatException($"{where}: '{rangeText}' is not a time range HH:MM-HH:MM");
        var start = ParseTime(range[0], where, allow24: false);
        var end = ParseTime(range[1], where, allow24: true);
        if (start == end) throw new FormatException($"{where}: the window opens and closes at {range[0]}; for a whole day write 00:00-24:00");
        if (end == TimeSpan.FromHours(24) && start == TimeSpan.Zero) return new Part(days, start, end);
        return new Part(days, start, end == TimeSpan.FromHours(24) ? TimeSpan.Zero : end);
    }

    private static HashSet<DayOfWeek> ParseDays(string text, string where)
    {
        var days = new HashSet<DayOfWeek>();
        if (text.Equals("daily", StringComparison.OrdinalIgnoreCase) || text == "*")
        {
            foreach (var d in Enum.GetValues<DayOfWeek>()) days.Add(d);
            return days;
        }
        foreach (var item in text.Split(','))
        {
            if (item.Length == 0) throw new FormatException($"{where}: empty day in '{text}'");
            var ends = item.Split('-');
            if (ends.Length > 2) throw new FormatException($"{where}: '{item}' is not a day or a day range such as Mon-Fri");
            var first = ParseDay(ends[0], where);
            var last = ends.Length == 2 ? ParseDay(ends[1], where) : first;
            // A range wraps around the week: Fri-Mon is Fri, Sat, Sun, Mon.
            for (var d = first; ; d = (DayOfWeek)(((int)d + 1) % 7))
            {
                days.Add(d);
                if (d == last) break;
            }
        }
        return days;
    }

    private static DayOfWeek ParseDay(string text, string where)
    {
        var t = text.Trim().ToLowerInvariant();
        for (var i = 0; i < DayNames.Length; i++)
        {
            var full = ((DayOfWeek)i).ToString().ToLowerInvariant();
            if (t == DayNames[i] || t == full) return (DayOfWeek)i;
        }
        throw new FormatException($"{where}: '{text}' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or 'daily')");
    }

    private static TimeSpan ParseTime(string text, string where, bool allow24)
    {
        var m = TimePattern().Match(text);
        if (!m.Success) throw new FormatException($"{where}: '{text}' is not a time HH:MM");
        var h = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var min = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        if (min > 59 || h > 24 || (h == 24 && (min != 0 || !allow24)))
            throw new FormatException($"{where}: '{text}' is not a time of day (00:00 to 23:59{(allow24 ? ", or 24:00 as an end" : "")})");
        return new TimeSpan(h, min, 0);
    }

    [GeneratedRegex(@"^([0-9]{1,2}):([0-9]{2})$")]
    private static partial Regex TimePattern();

    /// <summary>
    /// The windows (UTC, [open, close)) that open on the local days from two days before <paramref name="fromUtc"/>'s
    /// local date to <paramref name="days"/> days after it, in order of opening. Empty ones (a window that falls in a
    /// skipped hour) are left out.
    /// </summary>
    public IEnumerable<(DateTime Open, DateTime Close)> Occurrences(DateTime fromUtc, int days = 9)
    {
        var localDate = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(fromUtc, DateTimeKind.Utc), Zone).Date;
        var found = new List<(DateTime, DateTime)>();
        for (var d = localDate.AddDays(-2); d <= localDate.AddDays(days); d = d.AddDays(1))
        {
            foreach (var p in Parts)
            {
                if (!p.Days.Contains(d.DayOfWeek)) continue;
                var open = ToUtc(d + p.Start, earliest: true);
                var close = ToUtc(d.AddDays(p.CrossesMidnight ? 1 : 0) + p.End, earliest: false);
                if (close > open) found.Add((open, close));
            }
        }
        return found.OrderBy(w => w.Item1);
    }

    /// <summary>The window open at <paramref name="nowUtc"/> (when it closes), or null when none is.</summary>
    public DateTime? OpenUntil(DateTime nowUtc)
    {
        DateTime? until = null;
        foreach (var (open, close) in Occurrences(nowUtc, 2))
        {
            // Overlapping or touching parts make one longer window.
            if (open <= (until ?? nowUtc) && close > (until ?? nowUtc)) until = close;
        }
        return until;
    }

    public bool IsOpen(DateTime nowUtc) => OpenUntil(nowUtc) is not null;

    /// <summary>When the next window opens after <paramref name="nowUtc"/> (its start is after now, even while one is open).</summary>
    public DateTime NextOpening(DateTime nowUtc) =>
        Occurrences(nowUtc).Select(w => w.Open).Where(o => o > nowUtc).DefaultIfEmpty(DateTime.MaxValue).First();

    /// <summary>
    /// The instant a wall-clock time means: a time that happens twice (clocks fall back) is its first occurrence for an
    /// opening, its second for a close; a skipped time (clocks spring forward) is the first instant after the gap.
    /// </summary>
    private DateTime ToUtc(DateTime local, bool earliest)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (Zone.IsAmbiguousTime(local))
        {
            var offsets = Zone.GetAmbiguousTimeOffsets(local);
            return DateTime.SpecifyKind(local - (earliest ? offsets.Max() : offsets.Min()), DateTimeKind.Utc);
        }
        if (Zone.IsInvalidTime(local))
        {
            // The first instant whose wall clock reads at or after it: where the clocks jump. No zone changes its offset
            // twice within these 30 hours, so the wall clock only moves forward across them.
            var lo = DateTime.SpecifyKind(local, DateTimeKind.Utc).AddHours(-15);
            var hi = lo.AddHours(30);
            while (hi - lo > TimeSpan.FromSeconds(1))
            {
                var mid = lo + (hi - lo) / 2;
                if (mid + Zone.GetUtcOffset(mid) >= DateTime.SpecifyKind(local, DateTimeKind.Utc)) hi = mid; else lo = mid;
            }
            return new DateTime(hi.Ticks - hi.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        }
        return DateTime.SpecifyKind(local - Zone.GetUtcOffset(local), DateTimeKind.Utc);
    }

    /// <summary>An instant as the window's zone reads it: "Sat 02:00 CET" (with the date when it is a week or more away).</summary>
    public string Local(DateTime utc, DateTime nowUtc)
    {
        var u = DateTime.SpecifyKind(utc, DateTimeKind.Utc);
        var local = TimeZoneInfo.ConvertTimeFromUtc(u, Zone);
        var abbreviation = Zone.IsDaylightSavingTime(u) ? Zone.DaylightName : Zone.StandardName;
        var format = utc - nowUtc >= TimeSpan.FromDays(6) ? "ddd yyyy-MM-dd HH:mm" : "ddd HH:mm";
        return $"{local.ToString(format, CultureInfo.InvariantCulture)} {abbreviation}";
    }
}
