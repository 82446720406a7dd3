using NodeFleet.Config;

namespace NodeFleet.Tests.Shared;

public class DurationsTests
{
    public static TheoryData<string, TimeSpan> Valid => new()
    {
        { "24h", TimeSpan.FromHours(24) },
        { "1h30m", TimeSpan.FromMinutes(90) },
        { "90s", TimeSpan.FromSeconds(90) },
        { "500ms", TimeSpan.FromMilliseconds(500) },
        { "2d", TimeSpan.FromDays(2) },
        { "0", TimeSpan.Zero },
        { "0s", TimeSpan.Zero },
        { "1m30s", TimeSpan.FromSeconds(90) },
        { "1.5h", TimeSpan.FromMinutes(90) },
        { "1d2h3m4s5ms", new TimeSpan(1, 2, 3, 4, 5) },
        { " 10s ", TimeSpan.FromSeconds(10) },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses(string text, TimeSpan expected) => Assert.Equal(expected, Durations.Parse(text));

    [Theory]
    [InlineData("10")]
    [InlineData("h")]
    [InlineData("5x")]
    [InlineData("-5s")]
    [InlineData("1h 30m")]
    [InlineData("1h30")]
    [InlineData("ten seconds")]
    [InlineData("1w")]
    public void Refuses_non_durations_with_examples(string text)
    {
        var e = Assert.Throws<FormatException>(() => Durations.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
        Assert.Contains("24h", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Refuses_empty(string text)
    {
        var e = Assert.Throws<FormatException>(() => Durations.Parse(text));
        Assert.Contains("empty", e.Message);
    }

    // Durations too long for a TimeSpan (about 29,000 years) used to escape as OverflowException; anything longer
    // than Durations.Max (100 years) is refused with the same kind of error as a malformed duration.
    [Theory]
    [InlineData("99999999d")]
    [InlineData("99999999999d")]
    [InlineData("36501d")]
    [InlineData("876001h")]
    [InlineData("36500d1ms")]
    [InlineData("20000d20000d")]
    [InlineData("99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999ms")]
    public void Refuses_durations_longer_than_100_years(string text)
    {
        var e = Assert.Throws<FormatException>(() => Durations.Parse(text));
        Assert.StartsWith($"'{text}' is too long", e.Message);
        Assert.Contains("36500d", e.Message);
    }

    [Theory]
    [InlineData("0.00001ms")]
    [InlineData("0.00000001s")]
    public void Refuses_a_duration_that_would_round_to_zero(string text)
    {
        var e = Assert.Throws<FormatException>(() => Durations.Parse(text));
        Assert.StartsWith($"'{text}' is too short", e.Message);
    }

    [Fact]
    public void Accepts_exactly_the_maximum() => Assert.Equal(Durations.Max, Durations.Parse("36500d"));

    public static TheoryData<TimeSpan, string> Formats => new()
    {
        { new TimeSpan(23, 59, 0), "23h59m" },
        { TimeSpan.FromSeconds(45), "45s" },
        { new TimeSpan(3, 4, 0, 0), "3d4h" },
        { TimeSpan.FromMilliseconds(500), "500ms" },
        { TimeSpan.FromSeconds(90), "1m30s" },
        { TimeSpan.FromMinutes(5), "5m" },
        { TimeSpan.FromHours(1), "1h" },
        { new TimeSpan(1, 30, 45), "1h30m" },
        { new TimeSpan(1, 2, 30, 0), "1d2h" },
        { TimeSpan.FromDays(1), "1d" },
        { TimeSpan.FromSeconds(-45), "45s" },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Formats_short(TimeSpan t, string expected) => Assert.Equal(expected, Durations.Format(t));

    // The CLI shows ages and time left with Format (floored/ceiled to whole seconds), so a zero shows up for a
    // node that joined less than a second ago. The method's own fallback says zero is "0s".
    [Fact]
    public void Formats_zero_as_0s() => Assert.Equal("0s", Durations.Format(TimeSpan.Zero));

    [Theory]
    [InlineData("24h")]
    [InlineData("1h30m")]
    [InlineData("90s")]
    [InlineData("3d4h")]
    public void Format_output_parses_back_to_the_same_duration(string text)
    {
        var t = Durations.Parse(text);
        Assert.Equal(t, Durations.Parse(Durations.Format(t)));
    }
}
