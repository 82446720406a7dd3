using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.IO;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Agent.Link;

/// <summary>
/// Holds the one stream to a coordinator: hello with facts, then heartbeats at the period the coordinator sets.
/// After an established stream breaks, the first attempt waits a random delay within the coordinator's reconnect window
/// (<see cref="Welcome.ReconnectWindow"/>), so that a restarted coordinator's agents come back spread over it; then
/// it reconnects forever with jittered exponential backoff (1 s doubling to 60 s), each attempt to the next of the fleet's
/// coordinators (<see cref="AgentConfig.Addresses"/>), so that one that is gone is passed over at the next attempt;
/// waits quietly until joined.
/// </summary>
public sealed class CoordinatorLink(HostRoot root, FactsCollector facts, PlanWorker worker, PlanExecutor executor,
    OutboxObserver outbox, TimeProvider time, ILogger<CoordinatorLink> log)
    : BackgroundService
{
    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan NotJoinedPoll = TimeSpan.FromSeconds(5);
    // The longest new reports wait for the acknowledgement of those sent before them (see the flusher).
    private static readonly TimeSpan MaxAckWait = TimeSpan.FromSeconds(1);

    private readonly LinkStatus _status = new() { Pid = Environment.ProcessId };
    private readonly TaskCompletionSource _firstConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DeliveredIds _delivered = new();
    // The attempt count: attempt n goes to address n modulo their number.
    private int _attempt;
    private string _address = "";
    // The reconnect window the coordinator last told (0: none yet): kept across sessions, used when one breaks.
    private long _reconnectWindowTicks;

    /// <summary>Completes when the coordinator welcomes this node for the first time (the first established stream).</summary>
    public Task FirstConnected => _firstConnected.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var config = await WaitUntilJoinedAsync(stoppingToken);
        if (config is null) return;
        _status.Coordinator = config.Addresses()[0];
        _status.NodeName = config.NodeName;

        var pipeline = LinkBackoff.Pipeline(FirstRetryDelay, MaxRetryDelay,
            e => e is not OperationCanceledException || !stoppingToken.IsCancellationRequested,
            args =>
            {
                var error = args.Outcome.Exception is RpcException r ? r.Status.Detail : args.Outcome.Exception?.Message ?? "";
                // A problem on this node (its identity files) is not the coordinator's: said as such, and as an error.
                if (args.Outcome.Exception is RpcException { StatusCode: StatusCode.PermissionDenied })
                {
                    // Refused for good (expired, revoked, deleted): only a new join helps, which the message says.
                    log.LogError("The coordinator {Address} refused this node: {Error}; retrying in {Delay:0.0}s",
                        _address, error, args.RetryDelay.TotalSeconds);
                    SetState("refused", error);
                    return ValueTask.CompletedTask;
                }
                if (args.Outcome.Exception is AgentException)
                    log.LogError("Cannot connect to the coordinator: {Error}; retrying in {Delay:0.0}s", error, args.RetryDelay.TotalSeconds);
                else
                    log.LogWarning("Coordinator {Address} unreachable or refused ({Error}); retrying in {Delay:0.0}s",
                        _address, error, args.RetryDelay.TotalSeconds);
                SetState("connecting", error);
                return ValueTask.CompletedTask;
            });

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // A session that was established and then ended returns normally: the backoff starts over.
                await pipeline.ExecuteAsync(ct => new ValueTask(SessionAsync(config, ct)), stoppingToken);
                SetState("connecting", "stream closed");
                var delay = LinkBackoff.AfterBreak(ReconnectWindow, FirstRetryDelay, Random.Shared.NextDouble());
                if (delay > FirstRetryDelay)
                    log.LogInformation("Reconnecting in {Delay:0.0}s (a random point of the coordinator's {Window:0}s reconnect window)",
                        delay.TotalSeconds, ReconnectWindow.TotalSeconds);
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
        SetState("stopped", "");
    }

    private async Task<AgentConfig?> WaitUntilJoinedAsync(CancellationToken ct)
    {
        var logged = false;
        while (!ct.IsCancellationRequested)
        {
            var config = AgentConfig.Load(root);
            if (config is not null) return config;
            if (!logged)
            {
                log.LogInformation("Not joined yet; waiting for `nodefleet-agent join` to write {Path}", root.Path(AgentPaths.ConfigFile));
                SetState("not-joined", "");
                logged = true;
            }
            try { await Task.Delay(NotJoinedPoll, time, ct); }
            catch (OperationCanceledException) { return null; }
        }
        return null;
    }

    /// <summary>One stream: throws when it could not be established, returns when an established stream ends.</summary>
    private async Task SessionAsync(AgentConfig config, CancellationToken stoppingToken)
    {
        // Read afresh: a coordinator may have told a new list of the fleet's coordinators since.
        var addresses = (AgentConfig.Load(root) ?? config).Addresses();
        var index = LinkBackoff.AddressIndex(_attempt++, addresses.Count);
        var address = addresses[index];
        _address = address;
        lock (_status) _status.Coordinator = address;
        var (ca, cert) = LoadCredentials();
        // Disposed with the session (after the channel that uses them): each attempt loads them afresh, and their native
        // handles would otherwise pile up until a GC happened to finalize them.
        using var caCertificate = ca;
        using var clientCertificate = cert;
        // Every CA of ca.crt: two during a CA rotation, and the coordinator's certificate may come from either.
        var trust = TrustedCas(ca);
        using var channel = GrpcChannels.CreateTrusting(address, trust, cert, time, keepAlivePings: false);
        var client = new AgentLink.AgentLinkClient(channel);
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var ct = sessionCts.Token;
        using var call = client.Connect(cancellationToken: ct);

        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = await facts.CollectAsync(ct) } }, ct);
        using (var helloTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            helloTimeout.CancelAfter(TimeSpan.FromSeconds(30));
            if (!await call.ResponseStream.MoveNext(helloTimeout.Token) ||
                call.ResponseStream.Current.KindCase != CoordinatorMessage.KindOneofCase.Welcome)
                throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator closed the stream before welcoming the node"));
        }
        var welcome = call.ResponseStream.Current.Welcome;
        var interval = welcome.HeartbeatInterval?.ToTimeSpan() is { } i && i > TimeSpan.Zero ? i : TimeSpan.FromSeconds(10);
        KeepReconnectWindow(welcome.ReconnectWindow);
        log.LogInformation("Connected to the coordinator at {Address} as {Node}; heartbeat every {Interval}s, reconnect window {Window:0}s",
            address, welcome.NodeName, interval.TotalSeconds, ReconnectWindow.TotalSeconds);
        RememberCoordinators(welcome.Coordinators);
        // Attempts after this session ends start from the next coordinator.
        _attempt = index + 1;
        SetState("connected", "");
        _firstConnected.TrySetResult();

        var lastAck = time.GetUtcNow();
        using var writeLock = new SemaphoreSlim(1, 1);
        async Task Send(AgentMessage m)
        {
            await writeLock.WaitAsync(ct);
            try { await call.RequestStream.WriteAsync(m, ct); }
            finally { writeLock.Release(); }
        }

        // Reports made while disconnected go first; the coordinator drops any it already has (by sequence). Several at
        // a time to a coordinator that says it takes batches (one store write and one acknowledgement for them all).
        var batches = welcome.Features.Contains(LinkFeatures.ReportBatch);
        long sent = 0;
        long acked = 0;
        using var flushSignal = new SemaphoreSlim(1, int.MaxValue);
        using var ackSignal = new SemaphoreSlim(0, int.MaxValue);
        void Signal() { try { flushSignal.Release(); } catch (SemaphoreFullException) { } }
        outbox.Enqueued += Signal;
        var flusher = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                await flushSignal.WaitAsync(ct);
                // As Nagle's algorithm does: while what was sent awaits its acknowledgement (one store commit away), the
                // reports made meanwhile wait to go together; the steps themselves never wait for it.
                while (batches && Interlocked.Read(ref acked) < sent && await ackSignal.WaitAsync(MaxAckWait, ct)) { }
                // What has piled up since the last pass goes together when the coordinator takes batches.
                foreach (var message in ReportBatches.Messages(outbox.Pending(sent), batches))
                {
                    await Send(message);
                    sent = (long)ReportBatches.LastSequence(message);
                }
            }
        }, ct);

        // The certificate is renewed over this stream; the next session connects with the new one.
        var renewal = new CertificateRenewal(root, welcome.NodeName, time, log, SetRenewal);
        // A CA rotation: the CAs to trust first (before the coordinator's certificate moves to the new one), then a
        // certificate from the new CA.
        if (welcome.TrustBundlePem.Length > 0) await StoreTrustBundleAsync(welcome.TrustBundlePem, Send);
        if (welcome.RenewCertificateNow) renewal.RenewNow("the fleet's CA is being rotated");
        var renewer = Task.Run(() => renewal.RunAsync(Send, ct), ct);

        // The coordinator may change the period later (it lengthens it as the fleet grows): the reader updates both.
        using var timer = new PeriodicTimer(interval, time);
        var intervalTicks = interval.Ticks;
        TimeSpan Interval() => new(Interlocked.Read(ref intervalTicks));

        // A request of the coordinator's, sent directly or (from the fleet's outbox) in a Delivery.
        void Handle(CoordinatorMessage msg)
        {
            switch (msg.KindCase)
            {
                case CoordinatorMessage.KindOneofCase.ApplyPlan:
                    log.LogInformation("Coordinator asks to apply plan {Plan} generation {Generation}",
                        msg.ApplyPlan.Plan?.Metadata?.Name, msg.ApplyPlan.Plan?.Metadata?.Generation);
                    worker.Enqueue(msg);
                    break;
                case CoordinatorMessage.KindOneofCase.UndoRun:
                    log.LogInformation("Coordinator asks to undo run {Run}", msg.UndoRun.RunId);
                    worker.Enqueue(msg);
                    break;
                case CoordinatorMessage.KindOneofCase.CancelRun:
                    // Not queued: it is about the run the worker is busy with.
                    if (executor.CancelRun(msg.CancelRun.RunId, msg.CancelRun.Reason))
                        log.LogWarning("Coordinator asks to cancel run {Run}: stopping it at its current step", msg.CancelRun.RunId);
                    else
                        log.LogInformation("Coordinator asks to cancel run {Run}, which is not running here (it ended meanwhile)", msg.CancelRun.RunId);
                    break;
                case CoordinatorMessage.KindOneofCase.DryRun:
                    _ = Task.Run(async () => await Send(new AgentMessage { DryRunResult = await DryRunAsync(msg.DryRun, ct) }), ct);
                    break;
            }
        }

        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var msg = call.ResponseStream.Current;
                switch (msg.KindCase)
                {
                    case CoordinatorMessage.KindOneofCase.HeartbeatAck:
                        lastAck = time.GetUtcNow();
                        if (msg.HeartbeatAck.HeartbeatInterval?.ToTimeSpan() is { } next && next > TimeSpan.Zero && next != Interval())
                        {
                            Interlocked.Exchange(ref intervalTicks, next.Ticks);
                            timer.Period = next;
                            log.LogInformation("The coordinator sets the heartbeat period to {Interval}s", next.TotalSeconds);
                        }
                        if (msg.HeartbeatAck.ReconnectWindow is { } window && KeepReconnectWindow(window))
                            log.LogInformation("The coordinator sets the reconnect window to {Window:0}s", ReconnectWindow.TotalSeconds);
                        break;
                    case CoordinatorMessage.KindOneofCase.ReportAck:
                        outbox.Acknowledge((long)msg.ReportAck.Sequence);
                        Interlocked.Exchange(ref acked, (long)msg.ReportAck.Sequence);
                        ackSignal.Release();
                        break;
                    case CoordinatorMessage.KindOneofCase.TrustBundle:
                        await StoreTrustBundleAsync(msg.TrustBundle.Pem, Send);
                        break;
                    case CoordinatorMessage.KindOneofCase.RenewCertificateNow:
                        renewal.RenewNow(msg.RenewCertificateNow.Reason);
                        break;
                    case CoordinatorMessage.KindOneofCase.CertificateRenewed:
                        renewal.Answer(msg.CertificateRenewed);
                        break;
                    case CoordinatorMessage.KindOneofCase.Delivery:
                        // From the fleet's outbox: handled once (a failover may bring it again), acknowledged every time.
                        if (_delivered.FirstTime(msg.Delivery.Id) && msg.Delivery.Message is { } inner) Handle(inner);
                        else log.LogInformation("Message {Id} from the coordinator was handled already; acknowledging it again", msg.Delivery.Id);
                        await Send(new AgentMessage { Delivered = new Delivered { Id = msg.Delivery.Id } });
                        break;
                    case CoordinatorMessage.KindOneofCase.Coordinators:
                        RememberCoordinators(msg.Coordinators.Addresses);
                        break;
                    default:
                        Handle(msg);
                        break;
                }
            }
        }, ct);

        ulong sequence = 0;
        try
        {
            while (!reader.IsCompleted && await WaitTickOrEnd(timer, reader, ct))
            {
                // A stream that acknowledges nothing for three periods is dead even if TCP has not noticed.
                if (time.GetUtcNow() - lastAck > Interval() * 3)
                {
                    log.LogWarning("No heartbeat acknowledged for {Seconds:0}s; reconnecting", (Interval() * 3).TotalSeconds);
                    break;
                }
                await Send(new AgentMessage
                {
                    Heartbeat = new Heartbeat { Sequence = ++sequence, SentAt = Timestamp.FromDateTimeOffset(time.GetUtcNow()) },
                });
            }
        }
        catch (Exception e) when (e is RpcException or IOException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
        {
            log.LogWarning("Stream to the coordinator broke: {Error}", e is RpcException r ? r.Status.Detail : e.Message);
        }
        finally
        {
            outbox.Enqueued -= Signal;
            await sessionCts.CancelAsync();
            try { await flusher; }
            catch (Exception e) when (e is RpcException or OperationCanceledException or IOException or InvalidOperationException) { }
            try { await renewer; }
            catch (Exception e) when (e is RpcException or OperationCanceledException or IOException or InvalidOperationException) { }
            try { await reader; }
            catch (Exception e) when (e is RpcException or OperationCanceledException or IOException)
            {
                if (e is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.Unauthenticated } denied)
                    log.LogError("The coordinator refused this node: {Reason}", denied.Status.Detail);
            }
        }
        stoppingToken.ThrowIfCancellationRequested();
        if (reader.Exception?.InnerException is RpcException { StatusCode: StatusCode.PermissionDenied } pd) throw pd;
        log.LogWarning("Disconnected from the coordinator at {Address}", address);
    }

    /// <summary>The reconnect window last told (zero: none).</summary>
    private TimeSpan ReconnectWindow => new(Interlocked.Read(ref _reconnectWindowTicks));

    /// <summary>Keeps a window the coordinator told (in link.yaml too, for `status`); true when it changed.</summary>
    private bool KeepReconnectWindow(Duration? told)
    {
        if (told?.ToTimeSpan() is not { } w || w <= TimeSpan.Zero) return false;
        if (w > LinkBackoff.MaxReconnectWindow) w = LinkBackoff.MaxReconnectWindow;
        if (Interlocked.Exchange(ref _reconnectWindowTicks, w.Ticks) == w.Ticks) return false;
        lock (_status)
        {
            _status.ReconnectWindowSeconds = (int)Math.Ceiling(w.TotalSeconds);
            SaveStatus();
        }
        return true;
    }

    /// <summary>Keeps the fleet's coordinators as a coordinator tells them, in agent.yaml; an empty list changes nothing.</summary>
    private void RememberCoordinators(IReadOnlyCollection<string> told)
    {
        if (told.Count == 0) return;
        try
        {
            var list = CoordinatorAddressList.Parse(CoordinatorAddressList.Format(told));
            var config = AgentConfig.Settings(root);
            if (config.Coordinators.SequenceEqual(list, StringComparer.OrdinalIgnoreCase)) return;
            config.Coordinators = list.ToList();
            config.Save(root);
            log.LogInformation("The fleet's coordinators are {Coordinators}", CoordinatorAddressList.Format(list));
        }
        catch (Exception e) when (e is FormatException or AgentException or IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Cannot keep the coordinators' list the coordinator sent: {Error}", e.Message);
        }
    }

    private async Task<DryRunResult> DryRunAsync(DryRunRequest request, CancellationToken ct)
    {
        var result = new DryRunResult { RequestId = request.RequestId };
        try
        {
            foreach (var e in await executor.DryRunAsync(request.Plan, new PlanExecutor.Options(request.IgnorePreflightErrors.ToList(), KubeadmAction: request.KubeadmAction), ct))
            {
                var step = new DryRunStep { Phase = e.Phase, Step = e.Step, Outcome = e.Outcome };
                step.Actions.AddRange(e.Actions);
                result.Steps.Add(step);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result.Error = e.Message;
        }
        return result;
    }

    private static async Task<bool> WaitTickOrEnd(PeriodicTimer timer, Task reader, CancellationToken ct)
    {
        var tick = timer.WaitForNextTickAsync(ct).AsTask();
        await Task.WhenAny(tick, reader);
        return tick.IsCompletedSuccessfully && tick.Result;
    }

    private (X509Certificate2 Ca, X509Certificate2 Cert) LoadCredentials() => NodeIdentity.Load(root);

    /// <summary>The CAs of ca.crt; just <paramref name="first"/> when the file changed under us.</summary>
    private X509Certificate2Collection TrustedCas(X509Certificate2 first)
    {
        try { return CaBundle.Parse(File.ReadAllText(root.Path(AgentPaths.CaCert))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            return new X509Certificate2Collection(first);
        }
    }

    /// <summary>
    /// Replaces ca.crt with the CAs the coordinator says to trust, when they differ, and says so: the coordinator moves its
    /// own certificate to a new CA only once its nodes trust it. Sent over the node's authenticated stream.
    /// </summary>
    private async Task StoreTrustBundleAsync(string pem, Func<AgentMessage, Task> send)
    {
        try
        {
            foreach (var c in CaBundle.Parse(pem)) c.Dispose();
        }
        catch (CryptographicException e)
        {
            log.LogWarning("Ignored the trust bundle the coordinator sent: {Error}", e.Message);
            return;
        }
        var path = root.Path(AgentPaths.CaCert);
        var current = File.Exists(path) ? await File.ReadAllTextAsync(path) : "";
        if (current != pem)
        {
            AtomicFile.WriteAllText(path, pem, AtomicFile.Public);
            log.LogInformation("Trusting the fleet CAs the coordinator sent ({Count} in {Path})", CaBundle.Parse(pem).Count, path);
        }
        await send(new AgentMessage { TrustBundleStored = new TrustBundleStored { BundleHash = CaBundle.Hash(pem) } });
    }

    private void SetRenewal(DateTime? renewAt, string error)
    {
        lock (_status)
        {
            _status.CertificateRenewAt = renewAt;
            _status.CertificateRenewalError = error;
            SaveStatus();
        }
    }

    private void SaveStatus()
    {
        try { _status.Save(root); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogDebug("Cannot write link status: {Error}", e.Message);
        }
    }

    private void SetState(string state, string error)
    {
        if (_status.State == state && _status.LastError == error) return;
        lock (_status)
        {
            _status.State = state;
            _status.LastError = error;
            _status.Since = time.GetUtcNow().UtcDateTime;
            SaveStatus();
        }
    }
}
