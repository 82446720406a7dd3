using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Config;

namespace NodeFleet.Cli.Output;

/// <summary>Times as the tables and describe views print them: RFC 3339 UTC, or short relative ages.</summary>
public static class TimeText
{
    public const string None = "-";

    /// <summary>
    /// The time a timestamp holds, or null when it is unset. A timestamp before 1970 is treated as unset too:
    /// the coordinator maps a never-assigned DateTime to year 1, which is no real time.
    /// </summary>
    public static DateTimeOffset? Value(Timestamp? t) => t is null || t.Seconds <= 0 ? null : t.ToDateTimeOffset();

    public static string Rfc3339(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>How long ago <paramref name="since"/> was, whole seconds at least: "0s", "45s", "3m20s", "5d2h".</summary>
    public static string Age(DateTimeOffset since, DateTimeOffset now)
    {
        var elapsed = now - since;
        // Clock skew between coordinator and operator can put a fresh time slightly in the future.
        if (elapsed < TimeSpan.FromSeconds(1)) return "0s";
        return Durations.Format(TimeSpan.FromSeconds(Math.Floor(elapsed.TotalSeconds)));
    }

    /// <summary>Age of a timestamp, or "-" when unset.</summary>
    public static string Age(Timestamp? t, DateTimeOffset now) => Value(t) is { } v ? Age(v, now) : None;

    /// <summary>"3s ago", or "-" when unset.</summary>
    public static string Ago(Timestamp? t, DateTimeOffset now) => Value(t) is { } v ? $"{Age(v, now)} ago" : None;

    /// <summary>"2025-01-02T03:04:05Z (3m ago)" or "(in 364d)" for a future time; "&lt;none&gt;" when unset.</summary>
    public static string Moment(Timestamp? t, DateTimeOffset now)
    {
        if (Value(t) is not { } v) return "<none>";
        var relative = v > now + TimeSpan.FromSeconds(1) ? $"in {Age(now, v)}" : $"{Age(v, now)} ago";
        return $"{Rfc3339(v)} ({relative})";
    }
}
