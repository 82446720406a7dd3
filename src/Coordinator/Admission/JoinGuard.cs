using System.Net;
using Microsoft.Extensions.Logging;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Admission;

/// <summary>
/// Slows down guessing at the calls a node makes before it has a certificate (discovery, join): every refusal is logged
/// with its source and counted, and a source address with <see cref="MaxFailures"/> refusals within
/// <see cref="Window"/> is refused at once until the oldest of them leaves the window. Token ids are locked by the
/// token service after repeated wrong secrets.
/// </summary>
public sealed partial class JoinGuard(ILogger<JoinGuard> log, TimeProvider time, Action<string>? counted = null)
{
    public const int MaxFailures = 10;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly Dictionary<IPAddress, Queue<DateTimeOffset>> _failures = [];

    /// <summary>Refuses a source that failed too often lately, saying when it may try again.</summary>
    /// <exception cref="TooManyAttemptsException">The source is waiting out its failures.</exception>
    public void Check(IPAddress source)
    {
        var now = time.GetUtcNow();
        lock (_failures)
        {
            if (!_failures.TryGetValue(source, out var q)) return;
            Expire(q, now);
            if (q.Count == 0) _failures.Remove(source);
            else if (q.Count >= MaxFailures)
            {
                var wait = q.Peek() + Window - now;
                counted?.Invoke("throttled");
                throw new TooManyAttemptsException(
                    $"too many refused join attempts from {source} ({q.Count} in the last {Window.TotalMinutes:0} minute); try again in {Math.Ceiling(wait.TotalSeconds):0}s");
            }
        }
    }

    /// <summary>Records a refusal (<paramref name="call"/>: discovery or join) from <paramref name="source"/>.</summary>
    public void Failed(IPAddress source, string call, string tokenId, string why)
    {
        var now = time.GetUtcNow();
        lock (_failures)
        {
            if (!_failures.TryGetValue(source, out var q)) _failures[source] = q = new();
            Expire(q, now);
            q.Enqueue(now);
            // Many sources: forget the quiet ones rather than grow without bound.
            if (_failures.Count > 100_000) _failures.Clear();
        }
        counted?.Invoke(call);
        LogRefused(log, call, source, tokenId, why);
    }

    private static void Expire(Queue<DateTimeOffset> q, DateTimeOffset now)
    {
        while (q.Count > 0 && now - q.Peek() >= Window) q.Dequeue();
    }

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Refused {Call} from {Source} (token {TokenId}): {Why}")]
    private static partial void LogRefused(ILogger logger, string call, IPAddress source, string tokenId, string why);
}
