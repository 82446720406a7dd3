using LiteDB;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>A rollout as stored: the plan, the strategy resolved to numbers, the waves and every node's state.</summary>
public sealed class RolloutRecord
{
    [BsonId] public string Id { get; set; } = "";
    public string PlanName { get; set; } = "";
    public long Generation { get; set; }
    /// <summary>The full plan (protobuf, generation and digest set).</summary>
    public byte[] Plan { get; set; } = [];
    public string Selector { get; set; } = "";
    public int Canary { get; set; }
    public string MaxUnavailableText { get; set; } = "";
    public string MaxFailuresText { get; set; } = "";
    public int MaxUnavailable { get; set; }
    public int MaxFailures { get; set; }
    public long PauseBetweenWavesMs { get; set; }
    public Dictionary<string, long> PhaseDeadlinesMs { get; set; } = new();
    public bool PrepareAhead { get; set; }
    public int PrepareConcurrency { get; set; }
    public List<string> IgnorePreflightErrors { get; set; } = [];

    public RolloutState State { get; set; }
    public string StateReason { get; set; } = "";
    /// <summary>The state a pause interrupted, to resume into.</summary>
    public RolloutState ResumeTo { get; set; }
    public int CurrentWave { get; set; } = -1;
    public int WaveCount { get; set; }
    public DateTime? WaveFinishedAt { get; set; }
    public int Failures { get; set; }
    public List<RolloutNodeRecord> Nodes { get; set; } = [];
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }

    public RolloutNodeRecord? Node(string name)
    {
        // By name, not by a scan: a pass applies thousands of reports to a 10,000-node record.
        if (!ReferenceEquals(_indexed, Nodes) || _byName!.Count != Nodes.Count)
        {
            _byName = new Dictionary<string, RolloutNodeRecord>(Nodes.Count, StringComparer.Ordinal);
            foreach (var n in Nodes) _byName.TryAdd(n.Name, n);
            _indexed = Nodes;
        }
        return _byName.GetValueOrDefault(name);
    }

    // Not mapped (LiteDB maps public properties only): an index of Nodes, rebuilt when the list is replaced or grows.
    private List<RolloutNodeRecord>? _indexed;
    private Dictionary<string, RolloutNodeRecord>? _byName;

    /// <summary>Longest a node may take before, if offline, it counts as failed.</summary>
    public TimeSpan NodeDeadline =>
        PhaseDeadlinesMs.Count > 0 ? TimeSpan.FromMilliseconds(PhaseDeadlinesMs.Values.Sum()) : TimeSpan.FromMinutes(30);
}

/// <summary>One node of a rollout.</summary>
public sealed class RolloutNodeRecord
{
    public string Name { get; set; } = "";
    public int Wave { get; set; }
    public RolloutNodeState State { get; set; }
    public string Phase { get; set; } = "";
    public string Message { get; set; } = "";
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public string RunId { get; set; } = "";
    public DateTime? DispatchedAt { get; set; }
}
