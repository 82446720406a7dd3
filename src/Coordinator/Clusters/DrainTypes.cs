using System.Collections.Immutable;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>A pod as a drain names it: namespace, name and uid (a pod recreated under the same name is another pod).</summary>
public sealed record PodRef(string Namespace, string Name, string Uid)
{
    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>
/// A drain's persisted progress: when it started (the timeout runs from there, across a coordinator restart) and the
/// pods it has evicted or deleted. The caller stores the latest value it was given and passes it back to resume.
/// Evicting twice is prevented by the API server's own state as well: a pod already terminating is only waited for.
/// </summary>
public sealed record DrainProgress(string Node, DateTimeOffset StartedAt, ImmutableSortedSet<string> EvictedUids, ImmutableSortedSet<string> DeletedUids)
{
    public static DrainProgress Start(string node, DateTimeOffset at) => new(node, at, [], []);

    public bool Handled(PodRef pod) => EvictedUids.Contains(pod.Uid) || DeletedUids.Contains(pod.Uid);
}

/// <summary>Something a drain saw, told to the caller as it happens (for events and persisted progress).</summary>
public abstract record DrainObservation(string Node);

/// <summary>The API server accepted the eviction of <paramref name="Pod"/>; <paramref name="Progress"/> is what to persist.</summary>
public sealed record PodEvicted(string Node, PodRef Pod, DrainProgress Progress) : DrainObservation(Node);

/// <summary>
/// An eviction refused with 429: the pod's PodDisruptionBudget allows no disruption now. Told once per pod and
/// message change (retries continue with backoff): the makings of a DrainBlocked event.
/// </summary>
public sealed record EvictionBlocked(string Node, PodRef Pod, string? Budget, string Message, int Attempts) : DrainObservation(Node);

/// <summary>onTimeout: delete removed <paramref name="Pod"/> without its budget's consent.</summary>
public sealed record PodDeleted(string Node, PodRef Pod, DrainProgress Progress) : DrainObservation(Node);

/// <summary>A pod the drain was waiting for has left the node.</summary>
public sealed record PodGone(string Node, PodRef Pod) : DrainObservation(Node);

/// <summary>How a drain ended.</summary>
public enum DrainOutcome
{
    /// <summary>No pod the drain must remove is left on the node.</summary>
    Drained,

    /// <summary>Nothing was evicted: pods the spec does not allow to remove (unmanaged without force, emptyDir data).</summary>
    Refused,

    /// <summary>The timeout passed with pods left and onTimeout is fail.</summary>
    TimedOut,
}

/// <summary>A pod the drain leaves alone or refuses, with why.</summary>
public sealed record PodReason(PodRef Pod, string Reason)
{
    public override string ToString() => $"{Pod}: {Reason}";
}

/// <summary>The end of a drain: its outcome, the pods it evicted, deleted, skipped, refused, and what still blocks.</summary>
public sealed record DrainResult(
    DrainOutcome Outcome,
    DrainProgress Progress,
    IReadOnlyList<PodRef> Evicted,
    IReadOnlyList<PodRef> Deleted,
    IReadOnlyList<PodReason> Skipped,
    IReadOnlyList<PodReason> Refused,
    IReadOnlyList<PodRef> Remaining,
    IReadOnlyList<EvictionBlocked> Blocked)
{
    /// <summary>One line for a failed node: the pods left and, for each blocked one, its budget and message.</summary>
    public string Describe() => Outcome switch
    {
        DrainOutcome.Drained => $"drained: {Evicted.Count} evicted, {Deleted.Count} deleted, {Skipped.Count} left alone",
        DrainOutcome.Refused => "drain refused: " + string.Join("; ", Refused),
        _ => $"drain timed out with {Remaining.Count} pod(s) left: " + string.Join("; ", Remaining.Select(p =>
            Blocked.LastOrDefault(b => b.Pod == p) is { } b ? $"{p} blocked by budget {b.Budget ?? "?"}: {b.Message}" : $"{p} terminating")),
    };
}
