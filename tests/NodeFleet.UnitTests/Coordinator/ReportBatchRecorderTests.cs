using System.Reflection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;
using Prometheus;
using RunState = NodeFleet.Protocol.V1.RunState;
using StepState = NodeFleet.Protocol.V1.StepState;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// A batch of an agent's reports as the coordinator records it: one store write for the batch, each report exactly once
/// (a batch sent again after a reconnection records only what it did not have), forwards only for what is recorded.
/// </summary>
public class ReportBatchRecorderTests : IAsyncLifetime
{
    private const string Node = "w1";
    private const string RunId = "preflight-20301201120000-a1b2c3";

    private readonly CoordinatorRig _rig = new();
    private ICoordinatorStore _real = null!;
    private CountingStore _counted = null!;
    private ICoordinatorStore _store = null!;
    private PlanRecorder _recorder = null!;

    /// <summary>The store the reports are recorded in: the rig's LiteDB file here.</summary>
    protected virtual Task<ICoordinatorStore> OpenAsync(TimeProvider time) => Task.FromResult(_rig.Store);

    public async Task InitializeAsync()
    {
        _real = await OpenAsync(_rig.Time);
        await _real.WriteAsync(s => s.Nodes.Insert(new NodeRecord { Name = Node, Phase = "" }));
        _store = DispatchProxy.Create<ICoordinatorStore, CountingStore>();
        _counted = (CountingStore)(object)_store;
        _counted.Inner = _real;
        _recorder = new PlanRecorder(_store, _rig.Events, new CoordinatorMetrics(Metrics.NewCustomRegistry()), _rig.Time,
            NullLogger<PlanRecorder>.Instance);
    }

    public async Task DisposeAsync()
    {
        if (!ReferenceEquals(_real, _rig.Store)) await _real.DisposeAsync();
        await _rig.DisposeAsync();
    }

    /// <summary>The reports a preflight-only plan makes, as the agent numbers them: run started, two steps, run succeeded.</summary>
    private List<StepReport> Preflight()
    {
        var now = Timestamp.FromDateTimeOffset(_rig.Time.Now);
        StepReport R(ulong seq, RunState run, string step = "", StepState state = StepState.Unspecified) => new()
        {
            Sequence = seq, RunId = RunId, PlanName = "preflight", Generation = 1, RunState = run, Time = now, StartedAt = now,
            Phase = step.Length > 0 ? "preflight" : "", Step = step, State = state, Message = step.Length > 0 ? "satisfied" : "",
            JournalEpoch = "0123456789abcdef",
        };
        return
        [
            R(1, RunState.Running), R(2, RunState.Running, "swap", StepState.Running), R(3, RunState.Running, "swap", StepState.Succeeded),
            R(4, RunState.Running, "ip-forward", StepState.Running), R(5, RunState.Running, "ip-forward", StepState.Succeeded),
            R(6, RunState.Succeeded),
        ];
    }

    private static List<Action<IStoreWriter>?> NoForwards(int n) => Enumerable.Repeat<Action<IStoreWriter>?>(null, n).ToList();

    private List<string> EventReasons() =>
        _real.Events.Newest(new EventQuery(1000, Node: Node)).Select(e => e.Reason).OrderBy(r => r, StringComparer.Ordinal).ToList();

    [Fact]
    public async Task A_batch_is_recorded_in_one_store_write_each_report_once()
    {
        var reports = Preflight();
        var outcome = await _recorder.RecordBatchAsync(Node, reports, NoForwards(reports.Count));

        Assert.Equal(1, _counted.Writes);
        Assert.Null(outcome.Error);
        Assert.Equal(Enumerable.Repeat(true, 6), outcome.Recorded);
        var run = Assert.Single(_recorder.History(Node, 5));
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(["preflight/swap", "preflight/ip-forward"], run.Steps.Select(s => $"{s.Phase}/{s.Step}"));
        Assert.All(run.Steps, s => Assert.Equal(StepState.Succeeded, s.State));
        Assert.Equal(["PlanApplied", "PlanStarted"], EventReasons());
        Assert.Equal(6, _real.Nodes.Get(Node)!.LastReportSequence);
    }

    [Fact]
    public async Task A_batch_sent_again_with_more_reports_records_only_the_new_ones()
    {
        var reports = Preflight();
        await _recorder.RecordBatchAsync(Node, reports.Take(4).ToList(), NoForwards(4));
        // The acknowledgement was lost with the stream: the agent sends everything not acknowledged, and what came since.
        var again = Preflight();
        var outcome = await _recorder.RecordBatchAsync(Node, again, NoForwards(again.Count));

        Assert.Equal(2, _counted.Writes);
        Assert.Equal([false, false, false, false, true, true], outcome.Recorded);
        Assert.Equal(["PlanApplied", "PlanStarted"], EventReasons());
        var run = Assert.Single(_recorder.History(Node, 5));
        Assert.Equal(2, run.Steps.Count);

        // The same batch a third time: nothing more is recorded.
        var third = await _recorder.RecordBatchAsync(Node, Preflight(), NoForwards(6));
        Assert.All(third.Recorded, Assert.False);
        Assert.Equal(["PlanApplied", "PlanStarted"], EventReasons());
    }

    [Fact]
    public async Task Forwards_are_written_with_the_reports_recorded_and_only_with_them()
    {
        await _recorder.RecordAsync(Node, Preflight()[0]);
        var reports = Preflight().Take(3).ToList();
        var forwarded = new List<ulong>();
        var forwards = reports.Select(r => (Action<IStoreWriter>?)(_ => forwarded.Add(r.Sequence))).ToList();
        var outcome = await _recorder.RecordBatchAsync(Node, reports, forwards);
        Assert.Equal([false, true, true], outcome.Recorded);
        Assert.Equal([2ul, 3], forwarded);
    }

    [Fact]
    public async Task A_batch_of_a_node_not_known_records_nothing()
    {
        var reports = Preflight();
        var outcome = await _recorder.RecordBatchAsync("ghost", reports, NoForwards(reports.Count));
        Assert.All(outcome.Recorded, Assert.False);
        Assert.Equal(6, outcome.Recorded.Count);
        Assert.Empty(_real.Runs.ListByNode("ghost", 5));
    }

    /// <summary>A run that changed files, failed restarting the kubelet and was undone, reported as the agent does.</summary>
    private List<StepReport> FailedAndUndone()
    {
        var now = Timestamp.FromDateTimeOffset(_rig.Time.Now);
        ulong seq = 0;
        StepReport R(RunState run, string phase = "", string step = "", StepState state = StepState.Unspecified, bool changed = false,
            string message = "") => new()
        {
            Sequence = ++seq, RunId = RunId, PlanName = "upgrade", Generation = 2, RunState = run, Time = now, StartedAt = now,
            Phase = phase, Step = step, State = state, Changed = changed, Message = message, RolloutId = "r1", Stage = "apply",
        };
        const string failed = "error execution phase restart-services/restart-kubelet: systemctl restart kubelet exited 1";
        return
        [
            R(RunState.Running),
            R(RunState.Running, "containerd-config", "config-toml", StepState.Running),
            R(RunState.Running, "containerd-config", "config-toml", StepState.Succeeded, changed: true, message: "applied"),
            R(RunState.Running, "kubelet-config", "drop-in", StepState.Running),
            R(RunState.Running, "kubelet-config", "drop-in", StepState.Succeeded, changed: true, message: "applied"),
            R(RunState.Running, "restart-services", "restart-kubelet", StepState.Running),
            R(RunState.UndoRunning, "restart-services", "restart-kubelet", StepState.Failed, message: failed),
            R(RunState.Failed, message: failed),
        ];
    }

    [Fact]
    public async Task A_batch_records_what_the_same_reports_record_one_at_a_time()
    {
        await _real.WriteAsync(s => s.Nodes.Insert(new NodeRecord { Name = "w2", Phase = "" }));
        foreach (var report in FailedAndUndone()) await _recorder.RecordAsync(Node, report);
        var batch = FailedAndUndone();
        var outcome = await _recorder.RecordBatchAsync("w2", batch, NoForwards(batch.Count));
        Assert.All(outcome.Recorded, Assert.True);

        static string Shape(RunHistory run) =>
            $"{run.State} {run.Error} | " + string.Join("; ", run.Steps.Select(s => $"{s.Phase}/{s.Step} {s.State} {s.Changed} {s.Message}"));
        var one = Assert.Single(_recorder.History(Node, 5));
        var batched = Assert.Single(_recorder.History("w2", 5));
        Assert.Equal(RunState.Undone, one.State);
        Assert.Equal(Shape(one), Shape(batched));
        Assert.Equal(_real.Nodes.Get(Node)!.Phase, _real.Nodes.Get("w2")!.Phase);
        string Events(string node) => string.Join("\n", _real.Events.Newest(new EventQuery(1000, Node: node))
            .OrderBy(e => e.Id).Select(e => $"{e.Type} {e.Reason} {e.Message}"));
        Assert.Equal(Events(Node), Events("w2"));
        Assert.Contains("PlanUndone", Events("w2"));
    }

    [Fact]
    public async Task Reports_another_coordinator_recorded_meanwhile_are_not_recorded_again_from_what_this_one_remembered()
    {
        var reports = Preflight();
        await _recorder.RecordBatchAsync(Node, reports[..2], NoForwards(2));
        // The node's stream moved to another coordinator on the same store, which recorded two more.
        var other = new PlanRecorder(_real, _rig.Events, new CoordinatorMetrics(Metrics.NewCustomRegistry()), _rig.Time,
            NullLogger<PlanRecorder>.Instance);
        Assert.All((await other.RecordBatchAsync(Node, reports[2..4], NoForwards(2))).Recorded, Assert.True);

        // Back here, the agent sends what it has not seen acknowledged: this recorder remembers the node at report 2,
        // the store has it at 4. The write made from memory conflicts and is made again from the store.
        var outcome = await _recorder.RecordBatchAsync(Node, reports[2..], NoForwards(4));
        Assert.Null(outcome.Error);
        Assert.Equal([false, false, true, true], outcome.Recorded);
        Assert.Equal(["PlanApplied", "PlanStarted"], EventReasons());
        var run = Assert.Single(_recorder.History(Node, 5));
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(["preflight/swap", "preflight/ip-forward"], run.Steps.Select(x => $"{x.Phase}/{x.Step}"));
        Assert.Equal(6, _real.Nodes.Get(Node)!.LastReportSequence);
    }

    [Fact]
    public async Task A_report_this_coordinator_remembers_as_recorded_is_checked_against_the_store_before_it_is_dropped()
    {
        var reports = Preflight();
        await _recorder.RecordBatchAsync(Node, reports[..4], NoForwards(4));
        // The stored progress went back (written by another coordinator's store copy, say): report 4 is not recorded there.
        await _real.WriteAsync(s => s.Nodes.SetProgress(Node, new NodeProgress(3, "preflight", "0123456789abcdef")));

        var outcome = await _recorder.RecordBatchAsync(Node, reports[3..4], NoForwards(1));
        Assert.Equal([true], outcome.Recorded);
        Assert.Equal(4, _real.Nodes.Get(Node)!.LastReportSequence);
    }

    /// <summary>The real store, with its writes counted.</summary>
    public class CountingStore : DispatchProxy
    {
        public ICoordinatorStore Inner { get; set; } = null!;
        public int Writes;

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(ICoordinatorStore.WriteAsync)) Interlocked.Increment(ref Writes);
            try { return targetMethod.Invoke(Inner, args); }
            catch (TargetInvocationException e) when (e.InnerException is { } inner)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
                throw;
            }
        }
    }
}

/// <summary>The same on PostgreSQL, where a batch is one transaction of its own.</summary>
[Collection(PostgresServer.Collection)]
public sealed class PostgresReportBatchRecorderTests(PostgresServer server) : ReportBatchRecorderTests
{
    protected override async Task<ICoordinatorStore> OpenAsync(TimeProvider time) =>
        await NodeFleet.Coordinator.Store.Postgres.PostgresStore.OpenAsync((await server.CreateDatabaseAsync()).Setting, time);
}
