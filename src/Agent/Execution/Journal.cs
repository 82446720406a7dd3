using System.Diagnostics.CodeAnalysis;
using LiteDB;
using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Execution;

public enum StepState { Pending, Running, Succeeded, Failed, Skipped, Undone }

/// <summary>One attempt to apply a plan on this node.</summary>
public sealed class RunRecord
{
    [BsonId] public string Id { get; set; } = "";
    public string PlanName { get; set; } = "";
    public long Generation { get; set; }
    public string Digest { get; set; } = "";
    /// <summary>The plan as protobuf bytes, so a resumed run executes exactly what was started.</summary>
    public byte[] Plan { get; set; } = [];
    public RunState State { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public string Error { get; set; } = "";
    public List<string> IgnorePreflightErrors { get; set; } = [];
    /// <summary>Units whose configuration this run changed; restart-services restarts them.</summary>
    public List<string> ChangedUnits { get; set; } = [];
    /// <summary>Set when a systemd unit file or drop-in changed and daemon-reload has not run yet.</summary>
    public bool DaemonReloadNeeded { get; set; }
    public List<string> RestartedUnits { get; set; } = [];
    /// <summary>The rollout that sent the plan, if any, and its stage (prepare | apply).</summary>
    public string RolloutId { get; set; } = "";
    public string Stage { get; set; } = "";
    /// <summary>What the kubeadm phase runs (ApplyPlan.kubeadm_action); "" skips it.</summary>
    public string KubeadmAction { get; set; } = "";

    /// <summary>A copy reporting this run to another requester (not stored).</summary>
    public RunRecord AskedBy(string rolloutId, string stage)
    {
        var copy = (RunRecord)MemberwiseClone();
        copy.RolloutId = rolloutId;
        copy.Stage = stage;
        return copy;
    }
}

/// <summary>A step of a run, written before the agent acts on it.</summary>
public sealed class StepRecord
{
    [BsonId] public string Id { get; set; } = "";
    public string RunId { get; set; } = "";
    public int Index { get; set; }
    public string Phase { get; set; } = "";
    public string Step { get; set; } = "";
    public StepState State { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public bool Changed { get; set; }
    public string Message { get; set; } = "";
    public string OutputTail { get; set; } = "";
    /// <summary>Why undo cannot revert this step's change (<see cref="IStep.UndoNote"/>); empty when it can.</summary>
    public string UndoNote { get; set; } = "";
}

/// <summary>What a file was before a step replaced it; the content lives in the content-addressed backup store.</summary>
public sealed class BackupRecord
{
    [BsonId] public string Id { get; set; } = "";
    public string RunId { get; set; } = "";
    public string StepId { get; set; } = "";
    public int Order { get; set; }
    public string Path { get; set; } = "";
    public bool Existed { get; set; }
    public string ContentSha256 { get; set; } = "";
    public int Mode { get; set; }
    /// <summary>Set when the path was a symbolic link: its target, which undo links to again (nothing was copied).
    /// Empty for a regular file, as in journals written before links were recorded.</summary>
    public string LinkTarget { get; set; } = "";
    public bool Restored { get; set; }
}

/// <summary>Every host path NodeFleet ever wrote, with what was there before the first write (for reset).</summary>
public sealed class InventoryRecord
{
    [BsonId] public string Path { get; set; } = "";
    public bool OriginalExisted { get; set; }
    public string OriginalSha256 { get; set; } = "";
    public int OriginalMode { get; set; }
    /// <summary>Set when the original was a symbolic link: its target, which reset links to again (see <see cref="BackupRecord.LinkTarget"/>).</summary>
    public string OriginalLinkTarget { get; set; } = "";
    public DateTime FirstWrittenAt { get; set; }
    public string FirstRunId { get; set; } = "";
}

/// <summary>A step report waiting to be delivered to the coordinator, in sequence order.</summary>
public sealed class OutboxRecord
{
    [BsonId] public long Sequence { get; set; }
    public byte[] Report { get; set; } = [];
}

/// <summary>
/// The agent's own LiteDB journal (/var/lib/nodefleet-agent/journal.db). Every transition is committed before
/// the agent acts on it, so a crash or reboot resumes at the first unfinished step.
/// </summary>
public sealed class Journal : IDisposable
{
    public const string FileName = "journal.db";
    private readonly Lazy<LiteDatabase> _lazy;
    private readonly object _gate = new();
    // fsync of the write-ahead log after each commit (LiteDB does not), so "journaled before acting" holds through a
    // power cut; none for a journal held in a stream.
    private NodeFleet.IO.LiteDbLogSync? _sync;

    /// <summary>Opens the database on first use only, so a dry run never creates it.</summary>
    public Journal(HostRoot root) : this(() =>
    {
        var dir = StateDirectory.Ensure(root);
        var file = Path.Combine(dir, FileName);
        var db = NodeFleet.IO.LiteDbFiles.Open(file, "the agent's journal", () =>
        {
            var opened = new LiteDatabase(new ConnectionString { Filename = file, Connection = ConnectionType.Direct }, Mapper());
            try { return Prepare(opened); }
            catch
            {
                opened.Dispose();
                throw;
            }
        });
        File.SetUnixFileMode(file, NodeFleet.IO.AtomicFile.Private);
        return db;
    }, file: Path.Combine(root.Path(AgentPaths.StateDir), FileName))
    {
    }

    /// <summary>
    /// A journal held in <paramref name="stream"/> instead of journal.db (same schema, same transactions): the fleet
    /// simulator runs thousands of agents in one process, more than its file descriptors allow with one file each.
    /// <paramref name="mapper"/> (from <see cref="Mapper"/>) may be shared by such journals: it is fully built before use.
    /// </summary>
    public Journal(Stream stream, BsonMapper mapper) : this(() =>
    {
        var db = Prepare(new LiteDatabase(stream, mapper));
        // Pages are copied from the write-ahead log into the stream every 50 pages instead of 1,000, so that thousands
        // of journals in memory do not each hold up to 8 MB of log.
        db.CheckpointSize = 50;
        return db;
    })
    {
    }

    private Journal(Func<LiteDatabase> open, string? file = null)
    {
        _lazy = new Lazy<LiteDatabase>(open, LazyThreadSafetyMode.ExecutionAndPublication);
        if (file is not null) _sync = new NodeFleet.IO.LiteDbLogSync(file);
    }

    /// <summary>The journal's record mapping, built once on the calling thread (see LiteDbMapping).</summary>
    /// <remarks>
    /// BsonMapper reads and writes the records by reflection (their constructors and properties, and the names of the
    /// enums they hold): these dependencies keep exactly that in the trimmed Native AOT agent.
    /// </remarks>
    [DynamicDependency(RecordMembers, typeof(RunRecord))]
    [DynamicDependency(RecordMembers, typeof(StepRecord))]
    [DynamicDependency(RecordMembers, typeof(BackupRecord))]
    [DynamicDependency(RecordMembers, typeof(InventoryRecord))]
    [DynamicDependency(RecordMembers, typeof(OutboxRecord))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicFields, typeof(RunState))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicFields, typeof(StepState))]
    public static BsonMapper Mapper() => NodeFleet.IO.LiteDbMapping.Create(
        new RunRecord { ChangedUnits = { "u" } }, new StepRecord(), new BackupRecord(), new InventoryRecord(), new OutboxRecord());

    private const DynamicallyAccessedMemberTypes RecordMembers =
        DynamicallyAccessedMemberTypes.PublicParameterlessConstructor | DynamicallyAccessedMemberTypes.PublicProperties;

    private static LiteDatabase Prepare(LiteDatabase db)
    {
        db.UtcDate = true;
        db.GetCollection<StepRecord>("steps").EnsureIndex(x => x.RunId);
        db.GetCollection<BackupRecord>("backups").EnsureIndex(x => x.RunId);
        return db;
    }

    private LiteDatabase Db => _lazy.Value;

    /// <summary>Opens the database now (it is otherwise opened on first use): a damaged journal stops a command at once.</summary>
    public void Open() => _ = _lazy.Value;

    public ILiteCollection<RunRecord> Runs => Db.GetCollection<RunRecord>("runs");
    public ILiteCollection<StepRecord> Steps => Db.GetCollection<StepRecord>("steps");
    public ILiteCollection<BackupRecord> Backups => Db.GetCollection<BackupRecord>("backups");
    public ILiteCollection<InventoryRecord> Inventory => Db.GetCollection<InventoryRecord>("inventory");
    public ILiteCollection<OutboxRecord> Outbox => Db.GetCollection<OutboxRecord>("outbox");

    /// <summary>
    /// Runs <paramref name="change"/> in one committed transaction. Called from inside another change (on the same
    /// thread), it is part of that one: a step's transition and its report to the coordinator are committed (and
    /// flushed to the disk) together.
    /// </summary>
    public T Write<T>(Func<Journal, T> change)
    {
        List<Action> committed;
        T result;
        lock (_gate)
        {
            if (_afterCommit is not null) return change(this);
            committed = _afterCommit = [];
            Db.BeginTrans();
            try
            {
                result = change(this);
                Db.Commit();
                _sync?.Flush();
            }
            catch
            {
                Db.Rollback();
                throw;
            }
            finally
            {
                _afterCommit = null;
            }
        }
        foreach (var action in committed) action();
        return result;
    }

    /// <summary>Runs <paramref name="action"/> once the transaction under way has committed; at once outside one.</summary>
    public void AfterCommit(Action action)
    {
        lock (_gate)
        {
            if (_afterCommit is { } pending)
            {
                pending.Add(action);
                return;
            }
        }
        action();
    }

    // Set while a transaction is open (on the thread holding _gate): what runs once it has committed.
    private List<Action>? _afterCommit;

    public void Write(Action<Journal> change) => Write(j => { change(j); return true; });

    public IReadOnlyList<StepRecord> StepsOf(string runId) =>
        Steps.Find(s => s.RunId == runId).OrderBy(s => s.Index).ToList();

    public RunRecord? LatestRun(string planName) =>
        Runs.Find(r => r.PlanName == planName).OrderByDescending(r => r.StartedAt).FirstOrDefault();

    /// <summary>The newest run still to be carried on (<see cref="RunTransitions.Unfinished"/>), if any.</summary>
    public RunRecord? Unfinished() =>
        Runs.Find(Query.In(nameof(RunRecord.State), RunTransitions.Unfinished.Select(s => Db.Mapper.Serialize(s)).ToArray()))
            .OrderByDescending(r => r.StartedAt).FirstOrDefault();

    /// <summary>
    /// This journal's identity: 16 random hex digits made when the journal is first used, carried by every report it
    /// sends. A journal moved aside and started again numbers its reports from 1; the epoch tells the coordinator that
    /// these are new reports, not duplicates of the old journal's.
    /// </summary>
    public string Epoch
    {
        get
        {
            if (_epoch is { } known) return known;
            return _epoch = Write(j =>
            {
                var meta = j.Db.GetCollection("meta");
                if (meta.FindById("epoch") is { } doc) return doc["value"].AsString;
                var made = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
                meta.Insert(new BsonDocument { ["_id"] = "epoch", ["value"] = made });
                return made;
            });
        }
    }

    private string? _epoch;

    /// <summary>Appends a report to the outbox with the next sequence number.</summary>
    public long Enqueue(byte[] report) => Write(j =>
    {
        // A counter that never goes back, even when the outbox is empty after deliveries.
        var seqDoc = j.Db.GetCollection("meta").FindById("outbox-seq");
        var next = (seqDoc?["value"].AsInt64 ?? 0) + 1;
        j.Db.GetCollection("meta").Upsert(new BsonDocument { ["_id"] = "outbox-seq", ["value"] = next });
        j.Outbox.Insert(new OutboxRecord { Sequence = next, Report = report });
        return next;
    });

    public void Dispose()
    {
        if (_lazy.IsValueCreated) _lazy.Value.Dispose();
        _sync?.Dispose();
    }
}
