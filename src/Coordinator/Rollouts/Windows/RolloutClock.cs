using System.Globalization;

namespace NodeFleet.Coordinator.Rollouts.Windows;

/// <summary>
/// The clock rollouts decide by (maintenance windows, deadlines, waits), registered under <see cref="Key"/>. The
/// system clock, except in tests, where the hidden test-only `run --test-only-rollout-clock` sets a shifted and
/// faster one, so that a test can live through a Saturday night or a daylight-saving change in seconds. Only wall-clock
/// time moves; timers and timestamps stay real, and nothing else in the coordinator (certificates, leases) sees it.
/// </summary>
public static class RolloutClock
{
    public const string Key = "rollouts";

    /// <summary>
    /// Parses "FAKE_START,REAL_ANCHOR,SPEED" (two ISO-8601 UTC instants and a factor): the rollout clock reads
    /// FAKE_START at REAL_ANCHOR and runs SPEED times as fast as the real one. A restarted coordinator given the same
    /// value continues the same timeline.
    /// </summary>
    public static TimeProvider Parse(string text, TimeProvider real)
    {
        var parts = text.Split(',');
        if (parts.Length != 3
            || !DateTimeOffset.TryParse(parts[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var fake)
            || !DateTimeOffset.TryParse(parts[1], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var anchor)
            || !double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var speed) || speed <= 0)
            throw new FormatException($"--test-only-rollout-clock '{text}': expected FAKE_START,REAL_ANCHOR,SPEED (e.g. 2026-03-28T23:00:00Z,2026-12-07T10:00:00Z,60)");
        return new Shifted(real, fake, anchor, speed);
    }

    private sealed class Shifted(TimeProvider real, DateTimeOffset fake, DateTimeOffset anchor, double speed) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => fake + (real.GetUtcNow() - anchor) * speed;
        public override long GetTimestamp() => real.GetTimestamp();
        public override long TimestampFrequency => real.TimestampFrequency;
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            real.CreateTimer(callback, state, dueTime, period);
    }
}
