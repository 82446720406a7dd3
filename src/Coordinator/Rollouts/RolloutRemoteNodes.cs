using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Rollouts;

// Nodes whose stream another coordinator holds. The rollout controller runs on the holder of the singleton lease, but
// agents are spread over every coordinator of the store: a node online elsewhere takes part in the rollout like one
// connected here, its requests delivered through the outbox by the coordinator that holds its stream.
public sealed partial class RolloutController
{
    /// <summary>The "stream" a request sent through another coordinator was sent on: the outbox keeps it until delivered.</summary>
    private const long SentThroughAnother = -1;
    private static readonly TimeSpan RemoteRefresh = TimeSpan.FromSeconds(2);

    private HashSet<string> _remoteOnline = new(StringComparer.Ordinal);
    private DateTime _remoteReadAt;
    // Another live coordinator shares the store: reports may be queued there for this one, with nothing to wake it.
    private volatile bool _othersAlive;

    /// <summary>
    /// Reads, at most every <see cref="RemoteRefresh"/>, the online nodes whose stream another live coordinator holds. With
    /// one coordinator on the store nothing is read: its own presence is the whole truth.
    /// </summary>
    private void RefreshRemoteOnline(DateTime now)
    {
        if (me is null || now - _remoteReadAt < RemoteRefresh) return;
        _remoteReadAt = now;
        try
        {
            var others = store.Coordinators.List()
                .Where(c => c.Id != me.Id && singleton is not null && Coordinators.CoordinatorHeartbeat.IsAlive(c, now, singleton.Ttl))
                .Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
            _othersAlive = others.Count > 0;
            _remoteOnline = others.Count == 0
                ? new HashSet<string>(StringComparer.Ordinal)
                : store.Nodes.OnlineElsewhere(me.Id)
                    .Where(n => others.Contains(n.Coordinator)).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        }
        catch (IOException)
        {
            // The store is unreachable: the pass's own write fails the same way; the set read last stays until then.
        }
    }

    /// <summary>Whether a request recorded as sent on <paramref name="sentOn"/> still stands for the node's current stream.</summary>
    private bool SentOnCurrentStream(string node, long sentOn) =>
        sentOn == SentThroughAnother ? presence.Get(node) is null : presence.Get(node)?.Id == sentOn;
}
