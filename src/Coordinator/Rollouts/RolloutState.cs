namespace NodeFleet.Coordinator.Rollouts;

/// <summary>The states of a rollout.</summary>
public enum RolloutState
{
    Pending,
    Preparing,
    Rolling,
    Paused,
    Succeeded,
    Failed,
    Aborted,
    RollingBack,
    RolledBack,
}

/// <summary>Where one node of a rollout stands.</summary>
public enum RolloutNodeState
{
    Pending,
    Preparing,
    Prepared,
    Running,
    Succeeded,
    Failed,
    RollingBack,
    RolledBack,
    Skipped,
}

/// <summary>The one table of allowed rollout transitions; everything else is refused.</summary>
public static class RolloutTransitions
{
    private static readonly Dictionary<RolloutState, RolloutState[]> Allowed = new()
    {
        [RolloutState.Pending] = [RolloutState.Preparing, RolloutState.Rolling, RolloutState.Aborted],
        [RolloutState.Preparing] = [RolloutState.Rolling, RolloutState.Paused, RolloutState.Aborted, RolloutState.Failed],
        [RolloutState.Rolling] = [RolloutState.Paused, RolloutState.Succeeded, RolloutState.Failed, RolloutState.Aborted],
        [RolloutState.Paused] = [RolloutState.Rolling, RolloutState.Preparing, RolloutState.Aborted, RolloutState.RollingBack],
        [RolloutState.Succeeded] = [RolloutState.RollingBack],
        [RolloutState.Failed] = [RolloutState.RollingBack],
        [RolloutState.Aborted] = [RolloutState.RollingBack],
        [RolloutState.RollingBack] = [RolloutState.RolledBack, RolloutState.Failed],
        [RolloutState.RolledBack] = [],
    };

    public static bool IsAllowed(RolloutState from, RolloutState to) => Allowed[from].Contains(to);

    public static bool IsActive(RolloutState s) => s is RolloutState.Pending or RolloutState.Preparing or RolloutState.Rolling
        or RolloutState.Paused or RolloutState.RollingBack;

    public static bool IsFinal(RolloutState s) => !IsActive(s);

    /// <summary>Why <paramref name="from"/> cannot become <paramref name="to"/>: "rollout r1 is ABORTED; it cannot become ROLLING".</summary>
    public static string Refusal(string id, RolloutState from, RolloutState to) => from == to
        ? $"rollout {id} is already {Name(from)}"
        : $"rollout {id} is {Name(from)}; it cannot become {Name(to)}";

    /// <summary>A state as operators see it everywhere (CLI, API, messages): PREPARING, ROLLING_BACK.</summary>
    public static string Name(RolloutState s) => s switch
    {
        RolloutState.RollingBack => "ROLLING_BACK",
        RolloutState.RolledBack => "ROLLED_BACK",
        _ => s.ToString().ToUpperInvariant(),
    };
}
