using Grpc.Core;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>
/// Events for on-call: the recent ones from the database, and with Watch every new one as soon as it is committed,
/// from the <see cref="EventBus"/>.
/// </summary>
public sealed partial class EventsService(ICoordinatorStore store, EventBus bus, IHostApplicationLifetime lifetime,
    TimeProvider time, ILogger<EventsService> log) : Protocol.V1.Events.EventsBase
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 1000;

    public override Task<ListEventsResponse> List(WatchEventsRequest request, ServerCallContext context)
    {
        var filter = Filter.From(request);
        var before = Paging.DecodeToken(request.PageToken);
        if (before.Length > 0 && !IsEventId(before))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token is not one this coordinator made"));
        var events = store.Events.Newest(new EventQuery(filter.Limit, filter.Node, filter.Rollout, before));
        var response = new ListEventsResponse();
        response.Events.AddRange(events.Select(FactsMapping.ToMessage));
        // A full page: older events may remain, listed before the oldest of this one.
        if (events.Count > 0 && events.Count == filter.Limit) response.NextPageToken = Paging.EncodeToken(events[0].Id);
        return Task.FromResult(response);
    }

    public override async Task Watch(WatchEventsRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        var filter = Filter.From(request);
        // Subscribe before reading the backlog, so nothing committed in between is missed; what arrives twice
        // (committed after the subscription, before the read) is skipped by id.
        using var subscription = bus.Subscribe();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var ct = linked.Token;
        var sent = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var e in Recent(filter))
            {
                sent.Add(e.Id);
                await responseStream.WriteAsync(FactsMapping.ToMessage(e), ct);
            }
            long reportedDrops = 0;
            await foreach (var e in subscription.Reader.ReadAllAsync(ct))
            {
                if (subscription.Dropped > reportedDrops)
                {
                    var dropped = subscription.Dropped - reportedDrops;
                    reportedDrops += dropped;
                    LogDropped(log, dropped);
                    await responseStream.WriteAsync(DroppedNotice(dropped, time.GetUtcNow().UtcDateTime), ct);
                }
                if (!filter.Matches(e) || sent.Contains(e.Id)) continue;
                await responseStream.WriteAsync(FactsMapping.ToMessage(e), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away or the coordinator is stopping: the watch simply ends.
        }
    }

    // Event ids are what the store made them: 24 hex digits (LiteDB's ObjectId) or decimal digits (PostgreSQL's sequence).
    private static bool IsEventId(string id) => id.Length <= 32 && id.All(char.IsAsciiHexDigit);

    /// <summary>The newest <see cref="Filter.Limit"/> matching events, oldest first.</summary>
    private IReadOnlyList<EventRecord> Recent(Filter filter) =>
        store.Events.Newest(new EventQuery(filter.Limit, filter.Node, filter.Rollout));

    /// <summary>
    /// Told to a watcher that fell so far behind that the bus dropped events for it (they are in the database;
    /// `nodefleet events` without -f lists them).
    /// </summary>
    private static Event DroppedNotice(long dropped, DateTime now) => FactsMapping.ToMessage(new EventRecord
    {
        Time = now, Type = "Warning", Reason = "EventsDropped",
        Message = $"this watch fell behind and missed {dropped} event(s); list them with `nodefleet events`",
    });

    /// <summary>Which events a request asks for.</summary>
    private sealed record Filter(string Node, string Rollout, int Limit)
    {
        public static Filter From(WatchEventsRequest r)
        {
            var limit = r.HasLimit ? r.Limit : DefaultLimit;
            if (limit is < 0 or > MaxLimit)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit {limit} must be between 0 and {MaxLimit}"));
            return new Filter(r.Node.Trim(), r.Rollout.Trim(), limit);
        }

        public bool Matches(EventRecord e) =>
            (Node.Length == 0 || e.Node == Node) && (Rollout.Length == 0 || e.Rollout == Rollout);
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning,
        Message = "An events watcher fell behind; {Count} event(s) were dropped for it")]
    private static partial void LogDropped(ILogger log, long count);
}
