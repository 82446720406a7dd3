using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Link;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;
using RunState = NodeFleet.Protocol.V1.RunState;
using StepState = NodeFleet.Protocol.V1.StepState;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The agent's reports on their way out: the outbox's pending reports cut into batches (by count and bytes) for a
/// coordinator that takes them, one message each for one that does not; and a transition's report committed with it.
/// </summary>
public sealed class ReportBatchesTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static List<StepReport> Reports(int count, int outputTail = 0) =>
        Enumerable.Range(1, count).Select(i => new StepReport
        {
            Sequence = (ulong)i, RunId = "preflight-20301201-a1b2c3", PlanName = "preflight", Phase = "preflight", Step = $"check-{i}",
            State = StepState.Succeeded, RunState = RunState.Running, OutputTail = new string('x', outputTail), JournalEpoch = "0123456789abcdef",
        }).ToList();

    private static List<ulong> Sequences(IEnumerable<AgentMessage> messages) =>
        messages.SelectMany(m => m.KindCase == AgentMessage.KindOneofCase.Report ? [m.Report] : m.ReportBatch.Reports.ToList())
            .Select(r => r.Sequence).ToList();

    [Fact]
    public void Pending_reports_go_in_one_batch_to_a_coordinator_that_takes_batches()
    {
        var messages = ReportBatches.Messages(Reports(10), batches: true).ToList();
        var batch = Assert.Single(messages);
        Assert.Equal(AgentMessage.KindOneofCase.ReportBatch, batch.KindCase);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), batch.ReportBatch.Reports.Select(r => r.Sequence));
        Assert.Equal(10ul, ReportBatches.LastSequence(batch));
    }

    [Fact]
    public void A_report_alone_goes_as_a_single_report()
    {
        var message = Assert.Single(ReportBatches.Messages(Reports(1), batches: true));
        Assert.Equal(AgentMessage.KindOneofCase.Report, message.KindCase);
        Assert.Equal(1ul, ReportBatches.LastSequence(message));
        Assert.Empty(ReportBatches.Messages([], batches: true));
    }

    [Fact]
    public void A_coordinator_that_does_not_take_batches_gets_one_message_per_report_in_order()
    {
        var messages = ReportBatches.Messages(Reports(5), batches: false).ToList();
        Assert.Equal(5, messages.Count);
        Assert.All(messages, m => Assert.Equal(AgentMessage.KindOneofCase.Report, m.KindCase));
        Assert.Equal([1ul, 2, 3, 4, 5], Sequences(messages));
    }

    [Fact]
    public void A_long_backlog_goes_in_batches_of_at_most_the_limit_in_sequence_order()
    {
        var messages = ReportBatches.Messages(Reports(300), batches: true).ToList();
        Assert.Equal([NodeLimits.MaxReportsPerBatch, NodeLimits.MaxReportsPerBatch, 300 - 2 * NodeLimits.MaxReportsPerBatch],
            messages.Select(m => m.ReportBatch.Reports.Count));
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (ulong)i), Sequences(messages));
    }

    [Fact]
    public void Reports_with_long_output_are_cut_into_batches_under_the_byte_limit()
    {
        // 100 reports of 16 KiB of output each: about 1.6 MiB in all, more than one batch may carry.
        var reports = Reports(100, 2 * NodeLimits.MaxOutputTail);
        var messages = ReportBatches.Messages(reports, batches: true).ToList();
        Assert.True(messages.Count >= 2, $"{messages.Count} message(s)");
        Assert.All(messages, m => Assert.InRange(m.ReportBatch.CalculateSize(), 1, NodeLimits.MaxReportBatchBytes));
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (ulong)i), Sequences(messages));
        // A report larger than the byte limit by itself still goes, alone.
        var single = Assert.Single(ReportBatches.Messages(Reports(1, 100), batches: true, maxBytes: 10));
        Assert.Equal(AgentMessage.KindOneofCase.Report, single.KindCase);
    }

    [Fact]
    public void A_transition_and_its_report_are_committed_together_and_the_link_is_told_once_they_are()
    {
        using var journal = new Journal(new HostRoot(_dir.File("root")));
        var outbox = new OutboxObserver(journal);
        var visibleWhenTold = new List<int>();
        // The link reads the outbox from its own thread when told: the report must be committed by then.
        outbox.Enqueued += () => visibleWhenTold.Add(Task.Run(() => outbox.Pending(0).Count).GetAwaiter().GetResult());
        var run = new RunRecord { Id = "r1", PlanName = "p", State = NodeFleet.Agent.Execution.RunState.Running, StartedAt = DateTime.UtcNow };

        journal.Write(j =>
        {
            j.Runs.Insert(run);
            outbox.RunChanged(run);
            // Not yet told: the transaction is still open.
            Assert.Empty(visibleWhenTold);
        });
        Assert.Equal([1], visibleWhenTold);

        // A transition that fails after its report was queued leaves neither behind.
        var failed = new RunRecord { Id = "r2", PlanName = "p", State = NodeFleet.Agent.Execution.RunState.Running, StartedAt = DateTime.UtcNow };
        Assert.Throws<InvalidOperationException>(() => journal.Write(j =>
        {
            j.Runs.Insert(failed);
            outbox.RunChanged(failed);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Null(journal.Runs.FindById("r2"));
        Assert.Single(outbox.Pending(0));
        Assert.Equal([1], visibleWhenTold);

        // Outside a transaction a report is committed and told at once, with the next sequence.
        outbox.RunChanged(run);
        Assert.Equal([1, 2], visibleWhenTold);
        Assert.Equal([1ul, 2], outbox.Pending(0).Select(r => r.Sequence));
    }
}
