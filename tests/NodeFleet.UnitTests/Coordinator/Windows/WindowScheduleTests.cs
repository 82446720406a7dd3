using NodeFleet.Coordinator.Rollouts.Windows;

namespace NodeFleet.Tests.Coordinator.Windows;

/// <summary>The window schedule grammar, and its windows as instants across midnight and daylight-saving changes.</summary>
public class WindowScheduleTests
{
    private static DateTime Utc(int y, int mo, int d, int h, int mi = 0) => new(y, mo, d, h, mi, 0, DateTimeKind.Utc);

    private static (DateTime Open, DateTime Close) OnDay(WindowSchedule s, DateTime dayUtc) =>
        s.Occurrences(dayUtc).First(w => w.Open >= dayUtc.Date.AddHours(-14) && w.Open < dayUtc.Date.AddHours(24));

    [Fact]
    public void Day_lists_ranges_wrapping_ranges_and_several_parts_parse()
    {
        var s = WindowSchedule.Parse("Mon-Fri 22:00-04:00; Sat,sunday 00:00-24:00 ;Fri-Mon 12:00-13:00", "UTC");
        Assert.Equal(3, s.Parts.Count);
        Assert.Equal([DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday], s.Parts[0].Days.OrderBy(d => d));
        Assert.True(s.Parts[0].CrossesMidnight);
        Assert.Equal([DayOfWeek.Sunday, DayOfWeek.Saturday], s.Parts[1].Days.OrderBy(d => d));
        Assert.False(s.Parts[1].CrossesMidnight);
        Assert.Equal([DayOfWeek.Sunday, DayOfWeek.Monday, DayOfWeek.Friday, DayOfWeek.Saturday], s.Parts[2].Days.OrderBy(d => d));
        Assert.Equal(7, WindowSchedule.Parse("02:00-03:00", "UTC").Parts[0].Days.Count);
        Assert.Equal(7, WindowSchedule.Parse("daily 02:00-03:00", "UTC").Parts[0].Days.Count);
    }

    [Theory]
    [InlineData("", "schedule is empty")]
    [InlineData("Sat,Sun 02:00-26:00", "schedule 'Sat,Sun 02:00-26:00': '26:00' is not a time of day (00:00 to 23:59, or 24:00 as an end)")]
    [InlineData("Sat 2:00", "schedule 'Sat 2:00': '2:00' is not a time range HH:MM-HH:MM")]
    [InlineData("Sat 02:00-02:00", "the window opens and closes at 02:00; for a whole day write 00:00-24:00")]
    [InlineData("Sta 02:00-03:00", "schedule 'Sta 02:00-03:00': 'Sta' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or 'daily')")]
    [InlineData("Sat 02:00-03:00;", "part 2 is empty")]
    [InlineData("Sat 02:00-03:00; Sun 24:00-03:00", "schedule part 2 'Sun 24:00-03:00': '24:00' is not a time of day (00:00 to 23:59)")]
    [InlineData("Sat 02:00 - 03:00", "expected DAYS HH:MM-HH:MM")]
    [InlineData("Sat 02:61-03:00", "'02:61' is not a time of day")]
    public void Bad_schedules_are_refused_saying_what_and_where(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => WindowSchedule.Parse(text, "UTC"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void An_unknown_time_zone_is_refused_by_name()
    {
        var e = Assert.Throws<FormatException>(() => WindowSchedule.Parse("Sat 02:00-03:00", "Europe/Atlantis"));
        Assert.StartsWith("unknown time zone 'Europe/Atlantis': give an IANA name", e.Message);
        Assert.Equal("America/New_York", WindowSchedule.Parse("Sat 02:00-03:00", "America/New_York").Zone.Id);
    }

    [Fact]
    public void A_window_crossing_midnight_closes_the_next_day_and_is_open_after_midnight()
    {
        var s = WindowSchedule.Parse("Fri 22:00-02:00", "UTC");
        // 2030-01-04 is a Friday.
        var w = OnDay(s, Utc(2030, 1, 4, 0));
        Assert.Equal((Utc(2030, 1, 4, 22), Utc(2030, 1, 5, 2)), w);
        Assert.True(s.IsOpen(Utc(2030, 1, 5, 1, 59)));
        Assert.Equal(Utc(2030, 1, 5, 2), s.OpenUntil(Utc(2030, 1, 5, 1)));
        Assert.False(s.IsOpen(Utc(2030, 1, 5, 2)));
        Assert.False(s.IsOpen(Utc(2030, 1, 4, 21, 59)));
        // Saturday night is not in it: the days name the day a window opens.
        Assert.False(s.IsOpen(Utc(2030, 1, 5, 23)));
    }

    [Fact]
    public void The_next_opening_is_the_first_start_after_now_even_while_a_window_is_open()
    {
        var s = WindowSchedule.Parse("Sat,Sun 02:00-06:00", "Europe/Berlin");
        // Friday 2030-01-04 12:00 UTC (13:00 CET): next is Saturday 02:00 CET = 01:00 UTC.
        var friday = Utc(2030, 1, 4, 12);
        Assert.False(s.IsOpen(friday));
        Assert.Equal(Utc(2030, 1, 5, 1), s.NextOpening(friday));
        Assert.Equal("Sat 02:00 CET", s.Local(s.NextOpening(friday), friday));
        // Inside Saturday's window: open until 06:00 CET, and the next opening is Sunday's.
        var saturday = Utc(2030, 1, 5, 3);
        Assert.Equal(Utc(2030, 1, 5, 5), s.OpenUntil(saturday));
        Assert.Equal(Utc(2030, 1, 6, 1), s.NextOpening(saturday));
        // After Sunday's: next Saturday, within the week, said by its day.
        var sunday = Utc(2030, 1, 6, 6);
        Assert.Equal(Utc(2030, 1, 12, 1), s.NextOpening(sunday));
        Assert.Equal("Sat 02:00 CET", s.Local(s.NextOpening(sunday), sunday));
        // Six days or more away, its date is said too: the day alone could read as today's.
        var weekly = WindowSchedule.Parse("Sun 02:00-06:00", "Europe/Berlin");
        Assert.Equal("Sun 2030-01-13 02:00 CET", weekly.Local(weekly.NextOpening(sunday), sunday));
        // Overlapping parts make one window.
        var joined = WindowSchedule.Parse("Mon 01:00-03:00; Mon 02:00-05:00", "UTC");
        Assert.Equal(Utc(2030, 1, 7, 5), joined.OpenUntil(Utc(2030, 1, 7, 1, 30)));
    }

    [Fact]
    public void Berlin_spring_forward_opens_at_the_first_instant_after_the_skipped_hour()
    {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        var s = WindowSchedule.Parse("Sun 02:00-06:00", "Europe/Berlin");
        Assert.Equal((Utc(2026, 3, 29, 1), Utc(2026, 3, 29, 4)), OnDay(s, Utc(2026, 3, 29, 0)));
        Assert.False(s.IsOpen(Utc(2026, 3, 29, 0, 59)));
        Assert.True(s.IsOpen(Utc(2026, 3, 29, 1)));
        Assert.Equal("Sun 03:00 CEST", s.Local(Utc(2026, 3, 29, 1), Utc(2026, 3, 28, 12)));
        Assert.Equal(Utc(2026, 3, 29, 1), s.NextOpening(Utc(2026, 3, 28, 12)));
        // A window wholly inside the skipped hour does not happen that day.
        var skipped = WindowSchedule.Parse("Sun 02:15-02:45", "Europe/Berlin");
        Assert.DoesNotContain(skipped.Occurrences(Utc(2026, 3, 28, 0)), w => w.Open.Date == new DateTime(2026, 3, 29));
        Assert.Equal(Utc(2026, 4, 5, 0, 15), skipped.NextOpening(Utc(2026, 3, 28, 12)));
        // The week before and after keep their offsets: 02:00 CET = 01:00 UTC, 02:00 CEST = 00:00 UTC.
        Assert.Equal(Utc(2026, 3, 22, 1), OnDay(s, Utc(2026, 3, 22, 0)).Open);
        Assert.Equal(Utc(2026, 4, 5, 0), OnDay(s, Utc(2026, 4, 5, 0)).Open);
    }

    [Fact]
    public void Berlin_fall_back_opens_at_the_first_02_00_and_closes_at_06_00_CET_five_hours_later()
    {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00-03:00 happens twice.
        var s = WindowSchedule.Parse("Sun 02:00-06:00", "Europe/Berlin");
        Assert.Equal((Utc(2026, 10, 25, 0), Utc(2026, 10, 25, 5)), OnDay(s, Utc(2026, 10, 25, 0)));
        Assert.Equal("Sun 02:00 CEST", s.Local(Utc(2026, 10, 25, 0), Utc(2026, 10, 24, 12)));
        Assert.Equal("Sun 06:00 CET", s.Local(Utc(2026, 10, 25, 5), Utc(2026, 10, 24, 12)));
        // A window that ends inside the repeated hour closes at its second pass.
        var inRepeat = WindowSchedule.Parse("Sun 01:00-02:30", "Europe/Berlin");
        Assert.Equal((Utc(2026, 10, 24, 23), Utc(2026, 10, 25, 1, 30)), OnDay(inRepeat, Utc(2026, 10, 25, 0)));
        Assert.True(inRepeat.IsOpen(Utc(2026, 10, 25, 1, 15)));
    }

    [Fact]
    public void New_York_spring_forward_and_fall_back()
    {
        var s = WindowSchedule.Parse("Sun 01:30-02:30", "America/New_York");
        // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC); 02:30 does not exist, the window closes at the jump.
        Assert.Equal((Utc(2026, 3, 8, 6, 30), Utc(2026, 3, 8, 7)), OnDay(s, Utc(2026, 3, 8, 12)));
        Assert.Equal("Sun 01:30 EST", s.Local(Utc(2026, 3, 8, 6, 30), Utc(2026, 3, 7, 12)));
        // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens twice: the first opens, 02:30 EST closes.
        Assert.Equal((Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 1, 7, 30)), OnDay(s, Utc(2026, 11, 1, 12)));
        Assert.Equal("Sun 01:30 EDT", s.Local(Utc(2026, 11, 1, 5, 30), Utc(2026, 10, 31, 12)));
        // Crossing midnight on the fall-back night: Sat 22:00 EDT to Sun 03:00 EST is six hours.
        var night = WindowSchedule.Parse("Sat 22:00-03:00", "America/New_York");
        Assert.Equal((Utc(2026, 11, 1, 2), Utc(2026, 11, 1, 8)), OnDay(night, Utc(2026, 11, 1, 2)));
    }
}
