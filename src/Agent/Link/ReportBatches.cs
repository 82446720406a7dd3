using Google.Protobuf;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Link;

/// <summary>
/// Cuts the outbox's pending reports into the messages the link sends: consecutive reports in one ReportBatch (at most
/// <see cref="NodeLimits.MaxReportsPerBatch"/> reports and <see cref="NodeLimits.MaxReportBatchBytes"/> bytes) when the
/// coordinator understands batches, else one message per report as before. A report alone still goes as a single
/// report.
/// </summary>
public static class ReportBatches
{
    /// <summary>The messages for <paramref name="pending"/> (oldest first), in order.</summary>
    public static IEnumerable<AgentMessage> Messages(IReadOnlyList<StepReport> pending, bool batches,
        int maxReports = NodeLimits.MaxReportsPerBatch, int maxBytes = NodeLimits.MaxReportBatchBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxReports, 1);
        if (!batches)
        {
            foreach (var report in pending) yield return new AgentMessage { Report = report };
            yield break;
        }
        var group = new List<StepReport>();
        var bytes = 0;
        foreach (var report in pending)
        {
            // Its size inside the batch: the field's tag, the length, the report.
            var size = 1 + CodedOutputStream.ComputeMessageSize(report);
            if (group.Count > 0 && (group.Count == maxReports || bytes + size > maxBytes))
            {
                yield return Message(group);
                group = [];
                bytes = 0;
            }
            group.Add(report);
            bytes += size;
        }
        if (group.Count > 0) yield return Message(group);
    }

    /// <summary>The highest sequence a message of <see cref="Messages"/> carries.</summary>
    public static ulong LastSequence(AgentMessage message) => message.KindCase switch
    {
        AgentMessage.KindOneofCase.Report => message.Report.Sequence,
        AgentMessage.KindOneofCase.ReportBatch => message.ReportBatch.Reports[^1].Sequence,
        _ => throw new ArgumentException($"not a report message: {message.KindCase}", nameof(message)),
    };

    private static AgentMessage Message(List<StepReport> group)
    {
        if (group.Count == 1) return new AgentMessage { Report = group[0] };
        var batch = new ReportBatch();
        batch.Reports.AddRange(group);
        return new AgentMessage { ReportBatch = batch };
    }
}
