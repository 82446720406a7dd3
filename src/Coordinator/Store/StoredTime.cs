namespace NodeFleet.Coordinator.Store;

/// <summary>
/// LiteDB keeps times to the millisecond. A time that is both answered at once (token create, an event streamed to
/// `events -f`) and read back later (token list, events) is cut to the millisecond first, so that both show the same
/// value and scripts can match them.
/// </summary>
public static class StoredTime
{
    public static DateTime Of(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerMillisecond, t.Kind);
}
