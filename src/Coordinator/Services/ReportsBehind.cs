using Grpc.Core;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>
/// A node's reports that queued on its stream while its last ones were being recorded: taken together, so that they are
/// recorded in one store write and acknowledged by one ReportAck. Under load that makes fewer, larger transactions, as
/// the agent's own report batches do; when reports come one at a time nothing waits for more.
/// </summary>
internal static class ReportsBehind
{
    /// <summary>
    /// Reads the messages that already arrived on <paramref name="stream"/> (without waiting for any) and hands each
    /// report or report batch to <paramref name="take"/>. Stops at a message that is not a report (it is then the
    /// stream's current message, to be handled next), at one that has not arrived, or before <paramref name="reports"/>
    /// would hold more than <paramref name="max"/>. Returns the read it stopped at, which the caller awaits next; null
    /// when it stopped at the limit.
    /// </summary>
    public static Task<bool>? Take(IAsyncStreamReader<AgentMessage> stream, List<StepReport> reports, int max,
        Action<AgentMessage> take, CancellationToken ct)
    {
        while (reports.Count < max)
        {
            var next = stream.MoveNext(ct);
            if (!next.IsCompletedSuccessfully || !next.Result) return next;
            var msg = stream.Current;
            var count = msg.KindCase switch
            {
                AgentMessage.KindOneofCase.Report => 1,
                AgentMessage.KindOneofCase.ReportBatch => msg.ReportBatch.Reports.Count,
                _ => -1,
            };
            if (count < 0 || reports.Count + count > max) return next;
            take(msg);
        }
        return null;
    }
}
