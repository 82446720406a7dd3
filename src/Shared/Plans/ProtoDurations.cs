using Google.Protobuf.WellKnownTypes;

namespace NodeFleet.Plans;

/// <summary>Durations of the wire model read without throwing: one off the wire may be malformed.</summary>
public static class ProtoDurations
{
    // google.protobuf.Duration's documented range: ±10,000 years, nanos of the same sign as the seconds.
    private const long MaxSeconds = 315_576_000_000L;

    /// <summary>Whether <paramref name="d"/> is a Duration as protobuf defines one (ToTimeSpan would throw otherwise).</summary>
    public static bool IsValid(Duration d) =>
        d.Seconds is >= -MaxSeconds and <= MaxSeconds
        && d.Nanos is > -Duration.NanosecondsPerSecond and < Duration.NanosecondsPerSecond
        && (d.Seconds == 0 || d.Nanos == 0 || (d.Seconds < 0) == (d.Nanos < 0));

    /// <summary>The span of <paramref name="d"/>, or null when it is unset or malformed.</summary>
    public static TimeSpan? ToSpan(Duration? d) => d is not null && IsValid(d) ? d.ToTimeSpan() : null;
}
