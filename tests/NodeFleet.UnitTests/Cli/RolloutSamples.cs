using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

/// <summary>Rollouts as the coordinator answers them, around <see cref="CliSamples.Now"/>.</summary>
internal static class RolloutSamples
{
    public const string Id = "upgrade-1.31-20300101-114000-ab12";

    public static RolloutNode Node(string name, int wave, RolloutNodeState state, string phase = "", string message = "",
        double? startedSecondsAgo = null, double? finishedSecondsAgo = null, double? phaseSecondsAgo = null)
    {
        var n = new RolloutNode { Name = name, Wave = wave, State = state, Phase = phase, Message = message };
        if (startedSecondsAgo is { } s) n.StartedAt = SecondsAgo(s);
        if (finishedSecondsAgo is { } f) n.FinishedAt = SecondsAgo(f);
        if (phaseSecondsAgo is { } p) n.PhaseStartedAt = SecondsAgo(p);
        return n;
    }

    /// <summary>
    /// Ten nodes w01..w10 with canary 1 and max unavailable 30% (3): what a dry run answers, every node pending.
    /// </summary>
    public static Rollout DryRun()
    {
        var r = new Rollout
        {
            Id = Id, PlanName = "upgrade-1.31", Selector = "role=worker", State = RolloutState.Pending, CurrentWave = -1, WaveCount = 4,
            MaxUnavailable = 3, MaxFailures = 1, CreatedAt = Ago(TimeSpan.Zero), UpdatedAt = Ago(TimeSpan.Zero),
            Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "30%", MaxFailures = "1", PrepareConcurrency = 50,
                PauseBetweenWaves = Duration.FromTimeSpan(TimeSpan.Zero) },
        };
        for (var i = 1; i <= 10; i++)
        {
            var wave = i == 1 ? 0 : 1 + (i - 2) / 3;
            r.Nodes.Add(Node($"w{i:00}", wave, RolloutNodeState.Pending));
        }
        return r;
    }

    /// <summary>
    /// The same rollout 20 minutes in, rolling wave 2: the canary and wave 1 done but for w03, which failed in
    /// kubelet-config; w05 and w06 pulling images (for 1m3s and 40s), w07 writing the kubelet config (for 5s);
    /// wave 3 pending.
    /// </summary>
    public static Rollout Rolling()
    {
        var r = DryRun();
        r.Generation = 3;
        r.State = RolloutState.Rolling;
        r.StateReason = "wave 0 (canary)";
        r.CurrentWave = 2;
        r.MaxFailures = 2;
        r.Strategy.MaxFailures = "2";
        r.Failures = 1;
        r.CreatedAt = Ago(TimeSpan.FromMinutes(20));
        r.UpdatedAt = SecondsAgo(3);
        r.Eta = Duration.FromTimeSpan(TimeSpan.FromMinutes(6));
        r.Nodes.Clear();
        r.Nodes.Add(Node("w01", 0, RolloutNodeState.Succeeded, startedSecondsAgo: 1100, finishedSecondsAgo: 1000));
        r.Nodes.Add(Node("w02", 1, RolloutNodeState.Succeeded, startedSecondsAgo: 900, finishedSecondsAgo: 800));
        r.Nodes.Add(Node("w03", 1, RolloutNodeState.Failed, "kubelet-config",
            "error execution phase kubelet-config/write-dropin: kubelet rejected --max-pods=abc", 900, 700));
        r.Nodes.Add(Node("w04", 1, RolloutNodeState.Succeeded, startedSecondsAgo: 900, finishedSecondsAgo: 790));
        r.Nodes.Add(Node("w05", 2, RolloutNodeState.Running, "prepull-images", startedSecondsAgo: 60, phaseSecondsAgo: 63));
        r.Nodes.Add(Node("w06", 2, RolloutNodeState.Running, "prepull-images", startedSecondsAgo: 60, phaseSecondsAgo: 40));
        r.Nodes.Add(Node("w07", 2, RolloutNodeState.Running, "kubelet-config", startedSecondsAgo: 65, phaseSecondsAgo: 5));
        for (var i = 8; i <= 10; i++) r.Nodes.Add(Node($"w{i:00}", 3, RolloutNodeState.Pending));
        return r;
    }
}
