namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// A rollout's gates as stored: what the operator asked for (soak, Prometheus query, blocking pods, per-label budgets)
/// and where the check of the wave last finished stands, so a coordinator restart resumes it (a soak keeps its start).
/// Records stored before gates existed load with none.
/// </summary>
public sealed class RolloutGates
{
    public long SoakMs { get; set; }
    public string PrometheusUrl { get; set; } = "";
    public string PrometheusQuery { get; set; } = "";
    /// <summary>A label selector of pods; a node of a cluster running one is held back.</summary>
    public string BlockingPods { get; set; } = "";
    /// <summary>Label key → most nodes in flight per value of it.</summary>
    public Dictionary<string, int> MaxUnavailablePer { get; set; } = new();

    /// <summary>The wave whose gates are being checked or last passed; -1 before any.</summary>
    public int Wave { get; set; } = -1;
    /// <summary>When the check of <see cref="Wave"/> began: Prometheus answers older than this do not count.</summary>
    public DateTime? CheckedSince { get; set; }
    /// <summary>When the soak of <see cref="Wave"/> began; null before it (or after it was broken, until the rollout goes on).</summary>
    public DateTime? SoakStartedAt { get; set; }
    /// <summary>The gates of <see cref="Wave"/> all passed: the next wave may start.</summary>
    public bool Passed { get; set; }
    /// <summary>The gate that paused the rollout and resumes it once it clears ("prometheus"); "" when none did.</summary>
    public string PausedBy { get; set; } = "";
    /// <summary>When <see cref="PausedBy"/> paused it: only a later answer may resume it.</summary>
    public DateTime? PausedAt { get; set; }
    /// <summary>Each gate's state as last checked, shown by `rollout status`.</summary>
    public List<GateStatus> Status { get; set; } = [];

    public bool Any => SoakMs > 0 || PrometheusUrl.Length > 0;

    public GateStatus StatusOf(string name)
    {
        var s = Status.FirstOrDefault(x => x.Name == name);
        if (s is null)
        {
            s = new GateStatus { Name = name };
            Status.Add(s);
        }
        return s;
    }
}

/// <summary>One gate's state: waiting, passed, holding (cannot tell) or paused (it paused the rollout).</summary>
public sealed class GateStatus
{
    public const string Waiting = "waiting";
    public const string PassedState = "passed";
    public const string Holding = "holding";
    public const string Paused = "paused";

    public string Name { get; set; } = "";
    public string State { get; set; } = Waiting;
    public string Message { get; set; } = "";
    public DateTime? Since { get; set; }
}
