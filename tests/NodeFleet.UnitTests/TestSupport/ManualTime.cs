namespace NodeFleet.Tests.TestSupport;

/// <summary>A clock that only moves when a test moves it.</summary>
public sealed class ManualTime : TimeProvider
{
    public ManualTime(DateTimeOffset? start = null) => Now = start ?? new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public DateTimeOffset Now { get; set; }

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
