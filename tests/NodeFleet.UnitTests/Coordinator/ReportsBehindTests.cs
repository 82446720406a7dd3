using Grpc.Core;
using NodeFleet.Coordinator.Services;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// Reports that queued on a node's stream behind the one being handled are taken together, up to the first message
/// that is not a report, the first not yet arrived, or the limit; nothing is read past them.
/// </summary>
public class ReportsBehindTests
{
    /// <summary>A stream whose first messages have arrived and whose next read waits until <see cref="Arrive"/>.</summary>
    private sealed class Stream(params AgentMessage[] arrived) : IAsyncStreamReader<AgentMessage>
    {
        private readonly Queue<AgentMessage> _arrived = new(arrived);
        private TaskCompletionSource<bool>? _waiting;
        public AgentMessage Current { get; private set; } = null!;
        public int Reads { get; private set; }

        public Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            Reads++;
            if (_arrived.TryDequeue(out var m))
            {
                Current = m;
                return Task.FromResult(true);
            }
            _waiting = new TaskCompletionSource<bool>();
            return _waiting.Task;
        }

        public void Arrive(AgentMessage m)
        {
            Current = m;
            _waiting!.SetResult(true);
        }
    }

    private static AgentMessage Report(ulong sequence) => new() { Report = new StepReport { Sequence = sequence } };

    private static AgentMessage Batch(params ulong[] sequences)
    {
        var batch = new ReportBatch();
        batch.Reports.AddRange(sequences.Select(s => new StepReport { Sequence = s }));
        return new AgentMessage { ReportBatch = batch };
    }

    private static void Add(List<StepReport> reports, AgentMessage m)
    {
        if (m.KindCase == AgentMessage.KindOneofCase.Report) reports.Add(m.Report);
        else reports.AddRange(m.ReportBatch.Reports);
    }

    [Fact]
    public async Task Reports_and_batches_already_arrived_are_taken_up_to_the_first_other_message_which_is_handled_next()
    {
        var stream = new Stream(Report(2), Batch(3, 4), Report(5), new AgentMessage { Heartbeat = new Heartbeat { Sequence = 9 } }, Report(6));
        var reports = new List<StepReport> { new() { Sequence = 1 } };
        var next = ReportsBehind.Take(stream, reports, 128, m => Add(reports, m), CancellationToken.None);

        Assert.Equal([1ul, 2, 3, 4, 5], reports.Select(r => r.Sequence));
        Assert.NotNull(next);
        Assert.True(await next);
        Assert.Equal(9ul, stream.Current.Heartbeat.Sequence);
        Assert.Equal(4, stream.Reads);
    }

    [Fact]
    public async Task Nothing_is_waited_for_the_read_of_a_message_not_yet_arrived_is_handed_back()
    {
        var stream = new Stream(Report(2));
        var reports = new List<StepReport> { new() { Sequence = 1 } };
        var next = ReportsBehind.Take(stream, reports, 128, m => Add(reports, m), CancellationToken.None);

        Assert.Equal([1ul, 2], reports.Select(r => r.Sequence));
        Assert.NotNull(next);
        Assert.False(next.IsCompleted);
        stream.Arrive(Report(3));
        Assert.True(await next);
        Assert.Equal(3ul, stream.Current.Report.Sequence);
        Assert.Equal([1ul, 2], reports.Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_batch_that_would_pass_the_limit_is_left_for_next_and_at_the_limit_nothing_more_is_read()
    {
        var stream = new Stream(Report(2), Batch(3, 4, 5), Report(6));
        var reports = new List<StepReport> { new() { Sequence = 1 } };
        var next = ReportsBehind.Take(stream, reports, 3, m => Add(reports, m), CancellationToken.None);
        Assert.Equal([1ul, 2], reports.Select(r => r.Sequence));
        Assert.True(await next!);
        Assert.Equal(3, stream.Current.ReportBatch.Reports.Count);

        var full = new List<StepReport> { new() { Sequence = 1 } };
        var reads = stream.Reads;
        var atLimit = ReportsBehind.Take(new Stream(Report(2), Report(3), Report(4)), full, 3, m => Add(full, m), CancellationToken.None);
        Assert.Null(atLimit);
        Assert.Equal([1ul, 2, 3], full.Select(r => r.Sequence));
        Assert.Equal(reads, stream.Reads);
    }
}
