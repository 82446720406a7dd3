namespace NodeFleet.Net;

/// <summary>
/// What a coordinator understands beyond the first agent protocol, listed in its Welcome (Welcome.features). An agent
/// uses a feature only on a stream whose coordinator listed it, so agents and coordinators of different versions work
/// together (a fleet's coordinators are upgraded one at a time).
/// </summary>
public static class LinkFeatures
{
    /// <summary>AgentMessage.report_batch: several outbox reports in one message, acknowledged by one ReportAck.</summary>
    public const string ReportBatch = "report-batch";
}
