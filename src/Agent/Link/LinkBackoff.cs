using Polly;
using Polly.Retry;

namespace NodeFleet.Agent.Link;

/// <summary>
/// How the link retries: forever, with exponential backoff from <c>first</c> up to <c>max</c>, each delay drawn between
/// half and all of its step ("equal jitter"), the capped ones included, so that the agents of a coordinator that went
/// away do not all come back to the others at the same instants.
/// </summary>
public static class LinkBackoff
{
    public static ResiliencePipeline Pipeline(TimeSpan first, TimeSpan max, Func<Exception, bool> handle,
        Func<OnRetryArguments<object>, ValueTask> onRetry) =>
        new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle(handle),
            MaxRetryAttempts = int.MaxValue,
            DelayGenerator = args => new ValueTask<TimeSpan?>(Delay(args.AttemptNumber, first, max, Random.Shared.NextDouble())),
            OnRetry = onRetry,
        }).Build();

    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (0 first): the step first × 2^attempt, capped at
    /// <paramref name="max"/>, times a factor from ½ to 1 (<paramref name="random"/> in [0, 1)).
    /// </summary>
    public static TimeSpan Delay(int attempt, TimeSpan first, TimeSpan max, double random)
    {
        var step = Math.Min(max.Ticks, first.Ticks * Math.Pow(2, Math.Min(attempt, 62)));
        return TimeSpan.FromTicks((long)(step * (0.5 + 0.5 * random)));
    }

    /// <summary>The longest reconnect window the agent accepts from a coordinator (the one a coordinator tells at most).</summary>
    public static readonly TimeSpan MaxReconnectWindow = NodeFleet.Net.NodeLimits.MaxReconnectWindow;

    /// <summary>
    /// The wait before the first attempt after an established stream broke: a point of the coordinator's reconnect window
    /// (<paramref name="random"/> in [0, 1)), never shorter than <paramref name="first"/>, so that the agents of a
    /// restarted coordinator come back spread over the window rather than all at once. A window of
    /// <paramref name="first"/> or less (or none told) waits <paramref name="first"/>.
    /// </summary>
    public static TimeSpan AfterBreak(TimeSpan window, TimeSpan first, double random)
    {
        if (window > MaxReconnectWindow) window = MaxReconnectWindow;
        if (window <= first) return first;
        return first + TimeSpan.FromTicks((long)((window - first).Ticks * random));
    }

    /// <summary>The address attempt <paramref name="attempt"/> goes to: each attempt the next, round the list.</summary>
    public static int AddressIndex(int attempt, int count) => count <= 0
        ? throw new ArgumentOutOfRangeException(nameof(count), "no coordinator address to try")
        : (int)((uint)attempt % (uint)count);
}
