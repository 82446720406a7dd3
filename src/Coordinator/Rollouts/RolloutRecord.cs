using NodeFleet.Coordinator.Rollouts.Gates;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>A rollout as stored: the plan, the strategy resolved to numbers, the waves and every node's state.</summary>
public sealed class RolloutRecord
{
    public string Id { get; set; } = "";
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
    /// <summary>The gates checked after each wave and before each node starts, with where their check stands.</summary>
    public RolloutGates Gates { get; set; } = new();

    public RolloutState State { get; set; }
    public string StateReason { get; set; } = "";
    /// <summary>The state a pause interrupted, to resume into.</summary>
    public RolloutState ResumeTo { get; set; }
    public int CurrentWave { get; set; } = -1;
    public int WaveCount { get; set; }
    public DateTime? WaveFinishedAt { get; set; }
    /// <summary>Nodes failed, each counted once, whether or not the operator accepted the failure since.</summary>
    public int Failures { get; set; }
    /// <summary>
    /// Of <see cref="Failures"/>, those the operator accepted on resume (`resume --accept-failures`): they no longer
    /// count against the error budget, nor does a failed canary among them pause the rollout again.
    /// </summary>
    public int AcceptedFailures { get; set; }
    public List<RolloutNodeRecord> Nodes { get; set; } = [];
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    /// <summary>The revision of the rollout's own fields (compare-and-swap); its nodes are stored apart.</summary>
    public long Revision { get; set; }

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

    // Not stored (only public properties are): an index of Nodes, rebuilt when the list is replaced or grows.
    private List<RolloutNodeRecord>? _indexed;
    private Dictionary<string, RolloutNodeRecord>? _byName;

    /// <summary>The node deadline when no --phase-deadline is given.</summary>
    public static readonly TimeSpan DefaultNodeDeadline = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Longest a node may stay offline when the phase it is in has no deadline of its own (or is not known yet):
    /// the sum of the phase deadlines, else <see cref="DefaultNodeDeadline"/>.
    /// </summary>
    public TimeSpan NodeDeadline =>
        PhaseDeadlinesMs.Count > 0 ? TimeSpan.FromMilliseconds(PhaseDeadlinesMs.Values.Sum()) : DefaultNodeDeadline;

    /// <summary>The deadline of <paramref name="phase"/>, or null when it has none.</summary>
    public TimeSpan? PhaseDeadline(string phase) =>
        phase.Length > 0 && PhaseDeadlinesMs.TryGetValue(phase, out var ms) ? TimeSpan.FromMilliseconds(ms) : null;

    /// <summary>When the wave that just finished is followed by a pause (--pause-between-waves), when the next one starts.</summary>
    public DateTime? NextWaveAt => State == RolloutState.Rolling && WaveFinishedAt is { } finished && PauseBetweenWavesMs > 0
        ? finished + TimeSpan.FromMilliseconds(PauseBetweenWavesMs)
        : null;

    /// <summary>The rollout's own maintenance window (--window): every node starts only inside it; "" = the fleet's windows.</summary>
    public string Window { get; set; } = "";
    /// <summary>The window the current wave's held nodes wait for (the earliest to open); "" while none is held.</summary>
    public string WaitingForWindow { get; set; } = "";
    /// <summary>When <see cref="WaitingForWindow"/> opens; null when it does not exist.</summary>
    public DateTime? WindowOpensAt { get; set; }
    /// <summary>That opening in the window's own zone: "Sat 02:00 CET".</summary>
    public string WindowOpensLocal { get; set; } = "";
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
    /// <summary>
    /// When the coordinator learned the node entered <see cref="Phase"/> (its first report of a step of it), or was
    /// sent its request (Phase ""); null in records stored before it was kept.
    /// </summary>
    public DateTime? PhaseStartedAt { get; set; }
    /// <summary>Since when the coordinator has seen the node offline while it is in flight; null while it is online.</summary>
    public DateTime? OfflineSince { get; set; }
    /// <summary>Failed by the rollout (a deadline), not by its run: the agent may still finish the run later.</summary>
    public bool TimedOut { get; set; }
    /// <summary>
    /// Failed by a deadline while applying, its run not yet ended: the node may still be restarting its services, so it
    /// keeps its place in max-unavailable until its late result arrives (or the operator accepts its failure).
    /// </summary>
    public bool HoldsSlot { get; set; }
    /// <summary>The run's outcome reported after the node was failed by its deadline ("" until then); it stays failed.</summary>
    public string LateResult { get; set; } = "";
    /// <summary>The operator accepted this node's failure (resume --accept-failures): it no longer counts against the budget.</summary>
    public bool FailureAccepted { get; set; }

    /// <summary>The cluster the node belongs to (found at start); "" = none: the host-only upgrade of before.</summary>
    public string Cluster { get; set; } = "";
    /// <summary>The node's name in its cluster (the Kubernetes Node).</summary>
    public string KubeNodeName { get; set; } = "";
    /// <summary>A control-plane node of its cluster (found at start): upgraded before the workers, one at a time.</summary>
    public bool ControlPlane { get; set; }
    /// <summary>When the rollout started, a control-plane Node of the cluster outside it already ran the plan's version: no upgrade-apply.</summary>
    public bool ControlPlaneReached { get; set; }
    /// <summary>The Kubernetes step of a node in a cluster (<see cref="KubeSteps"/>); "" before its upgrade starts.</summary>
    public string KubeStep { get; set; } = "";
    /// <summary>When the node entered <see cref="KubeStep"/>.</summary>
    public DateTime? KubeStepStartedAt { get; set; }
    /// <summary>When NodeFleet cordoned the node (its cordon record); null before the cordon.</summary>
    public DateTime? CordonedAt { get; set; }
    /// <summary>The node was schedulable before the cordon, so the cordon is NodeFleet's and is undone; otherwise it stays.</summary>
    public bool WasSchedulable { get; set; }
    /// <summary>When the drain started (its timeout runs from there, across a coordinator restart); null before it.</summary>
    public DateTime? DrainStartedAt { get; set; }
    /// <summary>Uids of the pods the drain evicted, so a resumed drain evicts none twice.</summary>
    public List<string> DrainEvicted { get; set; } = [];
    /// <summary>Uids of the pods the drain deleted (onTimeout: delete).</summary>
    public List<string> DrainDeleted { get; set; } = [];
    /// <summary>The latest eviction a budget refused, while the drain goes on: "pod default/db-0, budget db-pdb: ..."; "" otherwise.</summary>
    public string DrainBlocked { get; set; } = "";
    /// <summary>Why the node is left cordoned, when it is (someone else's cordon, not Ready again after its undo); "" otherwise.</summary>
    public string CordonNote { get; set; } = "";
    /// <summary>Why the node is held back, not started (a blocking pod); "" when it is not.</summary>
    public string Held { get; set; } = "";
    /// <summary>The node's values of the rollout's --max-unavailable-per keys, found at start.</summary>
    public Dictionary<string, string> Topology { get; set; } = new();

    /// <summary>The fleet windows whose selector matched the node when the rollout started; empty = not restricted.</summary>
    public List<string> Windows { get; set; } = [];

    /// <summary>
    /// The store's memory of this node: a copy as it last read or wrote it (null: never stored). An update writes only
    /// the nodes that differ from it field by field (<see cref="SameFields"/>), which costs far less than serialising
    /// every node of a 10,000-node rollout each pass. Opaque to the domain; not stored.
    /// </summary>
    internal RolloutNodeRecord? Saved { get; set; }

    /// <summary>A copy of every stored field (lists and maps copied too).</summary>
    internal RolloutNodeRecord Copy()
    {
        var c = (RolloutNodeRecord)MemberwiseClone();
        c.DrainEvicted = [.. DrainEvicted];
        c.DrainDeleted = [.. DrainDeleted];
        c.Windows = [.. Windows];
        c.Topology = new Dictionary<string, string>(Topology);
        c.Saved = null;
        return c;
    }

    /// <summary>Whether every stored field equals <paramref name="o"/>'s (RolloutNodeRecordTests checks that none is left out).</summary>
    internal bool SameFields(RolloutNodeRecord o) =>
        Name == o.Name && Wave == o.Wave && State == o.State && Phase == o.Phase && Message == o.Message
        && StartedAt == o.StartedAt && FinishedAt == o.FinishedAt && RunId == o.RunId && DispatchedAt == o.DispatchedAt
        && PhaseStartedAt == o.PhaseStartedAt && OfflineSince == o.OfflineSince && TimedOut == o.TimedOut
        && HoldsSlot == o.HoldsSlot && LateResult == o.LateResult && FailureAccepted == o.FailureAccepted
        && Cluster == o.Cluster && KubeNodeName == o.KubeNodeName && ControlPlane == o.ControlPlane
        && ControlPlaneReached == o.ControlPlaneReached && KubeStep == o.KubeStep && KubeStepStartedAt == o.KubeStepStartedAt
        && CordonedAt == o.CordonedAt && WasSchedulable == o.WasSchedulable && DrainStartedAt == o.DrainStartedAt
        && DrainBlocked == o.DrainBlocked && CordonNote == o.CordonNote && Held == o.Held
        && DrainEvicted.SequenceEqual(o.DrainEvicted) && DrainDeleted.SequenceEqual(o.DrainDeleted)
        && Windows.SequenceEqual(o.Windows)
        && Topology.Count == o.Topology.Count && Topology.All(kv => o.Topology.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
