using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Messaging;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Security;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The per-node stream: hello, heartbeats, and (later) commands and reports.</summary>
public sealed class AgentLinkService(NodeRegistry registry, Presence presence, HeartbeatPacer pacer, PlanRecorder recorder, PlanService plans,
    NodeFleet.Coordinator.Rollouts.RolloutController rollouts, CoordinatorMetrics metrics, CertificateAuthority ca, TimeProvider time,
    ILogger<AgentLinkService> log, OutboxDelivery delivery, ICoordinatorDirectory coordinators, ReconnectWindow reconnectWindow,
    IOptions<CoordinatorOptions> options)
    : AgentLink.AgentLinkBase
{
    private readonly bool _reportBatches = options.Value.ReportBatches;

    public override async Task Connect(IAsyncStreamReader<AgentMessage> requestStream,
        IServerStreamWriter<CoordinatorMessage> responseStream, ServerCallContext context)
    {
        var caller = CallerIdentity.Require(context);
        // Every line logged for this stream, its refusal included, carries the node's name as a property.
        using var scope = log.BeginScope(new Dictionary<string, object> { ["Node"] = caller.Name });
        registry.Authenticate(caller.Name, caller.Certificate);
        var address = context.GetHttpContext().Connection.RemoteIpAddress?.ToString() ?? "";

        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.KindCase != AgentMessage.KindOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message on the stream must be hello"));

        var session = presence.Open(caller.Name, NodeFleet.Security.Pki.SerialOf(caller.Certificate));
        session.SetInterval(pacer.Current);
        session.IntervalAdopted();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, session.Closed.Token);
        var ct = linked.Token;
        var closeReason = "disconnected";
        Task? writer = null;
        Task? deliverer = null;
        using var deliveryStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task? trust = null;
        // The CA generation of the certificate the node holds: the stream's, until it renews on this stream.
        var generation = ca.GenerationOf(caller.Certificate);
        var renewNow = ca.Phase == "reissuing" && generation != ca.ActiveGeneration;
        try
        {
            await registry.MarkOnlineAsync(caller.Name, requestStream.Current.Hello.Facts, address);
            log.LogInformation("Node {Node} connected from {Address}", caller.Name, address);
            var told = coordinators.Addresses();
            var toldWindow = reconnectWindow.Current;
            var welcome = new Welcome
            {
                NodeName = caller.Name,
                HeartbeatInterval = Duration.FromTimeSpan(session.Interval),
                // How a node offline during a CA rotation catches up: the CAs first, then a certificate of the new one.
                TrustBundlePem = ca.TrustBundlePem,
                RenewCertificateNow = renewNow,
                ReconnectWindow = Duration.FromTimeSpan(toldWindow),
            };
            welcome.Coordinators.AddRange(told);
            if (_reportBatches) welcome.Features.Add(LinkFeatures.ReportBatch);
            await responseStream.WriteAsync(new CoordinatorMessage { Welcome = welcome }, ct);
            if (renewNow) log.LogInformation("Node {Node} holds a certificate of CA generation {Generation}: asked to renew from the new CA", caller.Name, generation);
            var sentBundle = ca.TrustBundleHash;
            trust = Task.Run(async () =>
            {
                // A CA rotation under way: what the node must know as each phase comes, on whichever coordinator made it.
                while (!ct.IsCancellationRequested)
                {
                    await ca.WhenChanged.WaitAsync(ct);
                    if (ca.TrustBundleHash != sentBundle)
                    {
                        sentBundle = ca.TrustBundleHash;
                        await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { TrustBundle = new TrustBundle { Pem = ca.TrustBundlePem } }, ct);
                    }
                    var held = Volatile.Read(ref generation);
                    if (!ca.All.Any(a => a.Generation == held))
                    {
                        // Its CA is no longer trusted (a rotation finished with --force): the node must join again.
                        log.LogWarning("Closing the stream of node {Node}: its certificate's CA (generation {Generation}) is no longer trusted", caller.Name, held);
                        session.Closed.Cancel();
                        return;
                    }
                    if (ca.Phase == "reissuing" && held != ca.ActiveGeneration)
                    {
                        await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage
                        {
                            RenewCertificateNow = new RenewCertificateNow { Reason = $"the fleet's CA is being rotated to generation {ca.ActiveGeneration}" },
                        }, ct);
                    }
                }
            }, ct);
            // One writer drains everything addressed to the node (acks, plans, dry runs) onto the stream.
            writer = Task.Run(async () =>
            {
                await foreach (var m in session.Outgoing.Reader.ReadAllAsync(ct)) await responseStream.WriteAsync(m, ct);
            }, ct);
            // Messages for the node from the fleet's outbox (plans, dry runs, cancels, undos), whoever enqueued them.
            deliverer = Task.Run(() => delivery.RunAsync(session, deliveryStop.Token), ct);

            // The next message, when it was already read: reports taken behind a report (see TakeReportsBehind).
            Task<bool>? next = null;
            while (await (next ?? requestStream.MoveNext(ct)))
            {
                next = null;
                var msg = requestStream.Current;
                session.Touch(time.GetUtcNow().UtcDateTime);
                if (session.Silent)
                {
                    // Heard from again after missing heartbeats on the same stream.
                    session.Silent = false;
                    await registry.MarkOnlineAsync(caller.Name, null, address);
                }
                switch (msg.KindCase)
                {
                    case AgentMessage.KindOneofCase.Heartbeat:
                        var ack = new HeartbeatAck { Sequence = msg.Heartbeat.Sequence };
                        // The fleet grew or shrank enough since the node was last told its period: tell it the new one.
                        if (pacer.Current is var period && period != session.Interval)
                        {
                            ack.HeartbeatInterval = Duration.FromTimeSpan(period);
                            session.SetInterval(period);
                        }
                        else session.IntervalAdopted();
                        // The window the node spreads its next reconnection over followed the fleet's size.
                        if (reconnectWindow.Current is var w && w != toldWindow)
                        {
                            ack.ReconnectWindow = Duration.FromTimeSpan(w);
                            toldWindow = w;
                        }
                        await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { HeartbeatAck = ack }, ct);
                        // The fleet's coordinators changed since the node was told: it learns the new list.
                        if (coordinators.Addresses() is var now && !ReferenceEquals(now, told) && !now.SequenceEqual(told, StringComparer.Ordinal))
                        {
                            told = now;
                            var list = new CoordinatorAddresses();
                            list.Addresses.AddRange(now);
                            await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { Coordinators = list }, ct);
                        }
                        break;
                    case AgentMessage.KindOneofCase.Delivered:
                        await delivery.AcknowledgeAsync(caller.Name, msg.Delivered.Id);
                        break;
                    case AgentMessage.KindOneofCase.Report or AgentMessage.KindOneofCase.ReportBatch:
                        var reports = new List<StepReport>();
                        AddReports(caller.Name, msg, reports);
                        next = TakeReportsBehind(requestStream, caller.Name, reports, session, ct);
                        await RecordReportsAsync(caller.Name, reports, session, ct);
                        break;
                    case AgentMessage.KindOneofCase.DryRunResult:
                        await plans.CompleteDryRunAsync(msg.DryRunResult);
                        break;
                    case AgentMessage.KindOneofCase.RenewCertificate:
                        var renewed = await RenewAsync(caller, msg.RenewCertificate);
                        if (renewed.CertificatePem.Length > 0)
                        {
                            using var issued = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(renewed.CertificatePem);
                            Volatile.Write(ref generation, ca.GenerationOf(issued));
                        }
                        await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { CertificateRenewed = renewed }, ct);
                        break;
                    case AgentMessage.KindOneofCase.TrustBundleStored:
                        await registry.RecordTrustBundleAsync(caller.Name, msg.TrustBundleStored.BundleHash);
                        break;
                    case AgentMessage.KindOneofCase.Hello:
                        await registry.MarkOnlineAsync(caller.Name, msg.Hello.Facts, address);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (session.Closed.IsCancellationRequested)
        {
            closeReason = "stream replaced or node deleted";
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            await deliveryStop.CancelAsync();
            session.Outgoing.Writer.TryComplete();
            if (deliverer is not null)
            {
                try { await deliverer; }
                catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException) { }
            }
            if (writer is not null)
            {
                try { await writer; }
                catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException) { }
            }
            if (trust is not null)
            {
                linked.Cancel();
                try { await trust; }
                catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or System.Threading.Channels.ChannelClosedException) { }
            }
            if (presence.Close(session))
            {
                log.LogInformation("Node {Node} disconnected", caller.Name);
                await registry.MarkOfflineAsync(caller.Name, closeReason, session.LastSeen);
            }
        }
        // A stream closed because the node was deleted or revoked ends with the reason, so the agent can log it.
        if (session.Closed.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            registry.Authenticate(caller.Name, caller.Certificate);
    }

    /// <summary>Reports taken into one store write at most, from the messages that were waiting behind each other.</summary>
    internal const int MaxReportsTakenTogether = NodeLimits.MaxReportsPerBatch;

    /// <summary>Adds the report or report batch of <paramref name="msg"/> to <paramref name="reports"/>, refusing an oversized batch.</summary>
    private void AddReports(string node, AgentMessage msg, List<StepReport> reports)
    {
        if (msg.KindCase == AgentMessage.KindOneofCase.Report)
        {
            reports.Add(msg.Report);
            return;
        }
        if (msg.ReportBatch.Reports.Count > NodeLimits.MaxReportsPerBatch)
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"report_batch of {msg.ReportBatch.Reports.Count} reports from node {node}; a batch may hold at most {NodeLimits.MaxReportsPerBatch}"));
        if (msg.ReportBatch.Reports.Count > 0) metrics.CountReportBatch();
        reports.AddRange(msg.ReportBatch.Reports);
    }

    /// <summary>The reports already waiting behind <paramref name="reports"/>' last on the stream, taken into them (see <see cref="ReportsBehind"/>).</summary>
    private Task<bool>? TakeReportsBehind(IAsyncStreamReader<AgentMessage> requestStream, string node, List<StepReport> reports,
        Presence.Session session, CancellationToken ct) =>
        ReportsBehind.Take(requestStream, reports, MaxReportsTakenTogether, msg =>
        {
            session.Touch(time.GetUtcNow().UtcDateTime);
            AddReports(node, msg, reports);
        }, ct);

    /// <summary>
    /// A report, or a batch of the node's reports: recorded in one store write (duplicates of reports sent again after a
    /// reconnection skipped) before any is acknowledged, by one ReportAck of the highest sequence recorded; each report
    /// recorded is handed to the rollouts here when this coordinator runs them, else queued in the store for the one that
    /// does, in the same write.
    /// </summary>
    private async Task RecordReportsAsync(string node, IReadOnlyList<StepReport> reports, Presence.Session session, CancellationToken ct)
    {
        if (reports.Count == 0) return;
        var arrived = time.GetTimestamp();
        var forwards = reports.Select(r => rollouts.ForwardFor(node, r)).ToList();
        var outcome = await recorder.RecordBatchAsync(node, reports, forwards);
        var handled = outcome.Recorded.Count;
        // Handed on before the acknowledgement, which fails once the stream is gone: a report recorded is not seen again
        // (its resend is a duplicate), so the rollouts must have it now.
        var elapsed = time.GetElapsedTime(arrived);
        for (var i = 0; i < handled; i++)
        {
            metrics.ObserveReportIngest(elapsed);
            metrics.CountReport(outcome.Recorded[i]);
            if (outcome.Recorded[i] && forwards[i] is null) rollouts.OnReport(node, reports[i]);
        }
        if (handled > 0)
        {
            // Every report up to this one is recorded (or was already): the agent drops them all from its outbox.
            var highest = reports.Take(handled).Max(r => r.Sequence);
            await session.Outgoing.Writer.WriteAsync(new CoordinatorMessage { ReportAck = new ReportAck { Sequence = highest } }, ct);
        }
        // The rest was not recorded and is not acknowledged: the stream ends, and the agent sends them again on its next.
        if (outcome.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>A renewal over the stream: persisted before it is answered; a refusal is answered, not thrown.</summary>
    private async Task<CertificateRenewed> RenewAsync(CallerIdentity caller, RenewCertificate request)
    {
        var answer = new CertificateRenewed { RequestId = request.RequestId };
        if (request.PreviousFailure.Length > 0)
            await registry.RecordRenewalFailureAsync(caller.Name, $"on the node: {request.PreviousFailure}");
        try
        {
            using var cert = await registry.RenewAsync(caller.Name, caller.Certificate, request.CsrPem);
            answer.CertificatePem = NodeFleet.Security.Pki.ToPem(cert);
        }
        catch (Exception e) when (e is Errors.DomainException)
        {
            log.LogWarning("Refused to renew the certificate of node {Node}: {Error}", caller.Name, e.Message);
            answer.Error = e.Message;
        }
        return answer;
    }
}
