namespace NodeFleet.Net;

/// <summary>
/// The largest gRPC messages, set explicitly on both ends of every connection (the coordinator's server options,
/// the CLI's and the agent's channels), so that an oversized message is refused by the side that sends it, with
/// gRPC's ResourceExhausted naming the size, before it crosses the network.
/// </summary>
public static class MessageLimits
{
    /// <summary>
    /// What a client may send the coordinator, 4 MiB: the largest request is one that carries a plan (at most
    /// <see cref="Plans.PlanLimits.MaxPlanBytes"/>, 1 MiB, plus a node name or selector and preflight check ids);
    /// an agent's largest message (its facts, a step's last output lines, a dry run's diffs of rendered config
    /// files) is far smaller. An oversized plan still reaches the plan checks, which name the limit it passes.
    /// </summary>
    public const int MaxRequestBytes = 4 * 1024 * 1024;

    /// <summary>
    /// What the coordinator may answer or send, 64 MiB: a plan sent to a node (1 MiB at most) and, the largest,
    /// lists over the whole fleet — 10,000 nodes with their labels and facts are about 7 MiB, a rollout over them
    /// about 2 MiB, and `rollout list --all` lists every rollout kept.
    /// </summary>
    public const int MaxResponseBytes = 64 * 1024 * 1024;
}
