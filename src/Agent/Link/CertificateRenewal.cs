using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.IO;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Agent.Link;

/// <summary>
/// Renews the node's certificate over the established stream, as client-go's certificate manager does: at a random
/// point between 70 % and 90 % of the current certificate's lifetime, with a new key made here each time. The new key
/// and certificate are written to disk (key 0600) for the next handshake; the stream in use is not touched. A failure
/// is retried with jittered backoff, never later than a tenth of the time the certificate has left.
/// </summary>
public sealed class CertificateRenewal(HostRoot root, string nodeName, TimeProvider time, ILogger log,
    Action<DateTime?, string> status)
{
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(5);

    private readonly object _gate = new();
    private TaskCompletionSource _now = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Renews at once rather than at the planned time (a CA rotation's reissue phase).</summary>
    public void RenewNow(string reason)
    {
        log.LogInformation("Renewing the node certificate now: {Reason}", reason);
        lock (_gate) _now.TrySetResult();
    }
    private (string Id, TaskCompletionSource<CertificateRenewed> Answer)? _pending;

    /// <summary>Hands the coordinator's answer to the renewal waiting for it.</summary>
    public void Answer(CertificateRenewed answer)
    {
        lock (_gate)
        {
            if (_pending is { } p && p.Id == answer.RequestId) p.Answer.TrySetResult(answer);
        }
    }

    /// <summary>Renews each certificate in turn until <paramref name="ct"/> ends the stream.</summary>
    public async Task RunAsync(Func<AgentMessage, Task> send, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var (notBefore, notAfter) = CurrentValidity();
            var at = Pki.RenewalTime(notBefore, notAfter, Random.Shared.NextDouble());
            status(at.UtcDateTime, "");
            log.LogInformation("The node certificate (valid until {NotAfter:u}) is renewed at {At:u}", notAfter.UtcDateTime, at.UtcDateTime);
            Task now;
            lock (_gate) now = _now.Task;
            while (time.GetUtcNow() < at && !now.IsCompleted)
            {
                var wait = at - time.GetUtcNow();
                await Task.WhenAny(Task.Delay(wait < MaxWait ? wait : MaxWait, time, ct), now);
                ct.ThrowIfCancellationRequested();
            }
            lock (_gate)
            {
                if (_now.Task.IsCompleted) _now = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            var previousFailure = "";
            for (var failures = 1; ; failures++)
            {
                try
                {
                    await RenewOnceAsync(send, previousFailure, ct);
                    break;
                }
                catch (Exception e) when (e is RenewalException or IOException or UnauthorizedAccessException or CryptographicException or TimeoutException
                                          && !ct.IsCancellationRequested)
                {
                    var left = notAfter - time.GetUtcNow();
                    var cap = TimeSpan.FromTicks(Math.Clamp(left.Ticks / 10, TimeSpan.FromSeconds(1).Ticks, MaxRetryDelay.Ticks));
                    var backoff = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, failures - 1), cap.TotalSeconds));
                    var delay = backoff * (0.5 + Random.Shared.NextDouble() / 2);
                    log.LogWarning("Cannot renew the node certificate: {Error}; retrying in {Delay:0.0}s", e.Message, delay.TotalSeconds);
                    status(time.GetUtcNow().UtcDateTime + delay, e.Message);
                    // The coordinator records its own refusals; what failed here it learns with the next attempt.
                    previousFailure = e is RenewalRefusedException ? "" : e.Message;
                    await Task.Delay(delay, time, ct);
                }
            }
        }
    }

    private (DateTimeOffset NotBefore, DateTimeOffset NotAfter) CurrentValidity()
    {
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(root.Path(AgentPaths.NodeCert)));
        return (new DateTimeOffset(cert.NotBefore.ToUniversalTime(), TimeSpan.Zero), new DateTimeOffset(cert.NotAfter.ToUniversalTime(), TimeSpan.Zero));
    }

    private async Task RenewOnceAsync(Func<AgentMessage, Task> send, string previousFailure, CancellationToken ct)
    {
        using var key = Pki.NewKey();
        var id = Guid.NewGuid().ToString("N");
        var answer = new TaskCompletionSource<CertificateRenewed>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate) _pending = (id, answer);
        CertificateRenewed renewed;
        try
        {
            await send(new AgentMessage
            {
                RenewCertificate = new RenewCertificate { RequestId = id, CsrPem = Pki.CreateCsrPem(key, nodeName), PreviousFailure = previousFailure },
            });
            try { renewed = await answer.Task.WaitAsync(AnswerTimeout, time, ct); }
            catch (TimeoutException) { throw new TimeoutException($"no answer from the coordinator within {AnswerTimeout.TotalSeconds:0}s"); }
        }
        finally
        {
            lock (_gate) _pending = null;
        }
        if (renewed.Error.Length > 0) throw new RenewalRefusedException($"the coordinator refused: {renewed.Error}");

        using var cert = Check(renewed.CertificatePem, key);
        // The key beside the old one first, then the certificate, then the key into place: stopped at any point, the
        // files on disk are a matching pair, or are made one by NodeIdentity.FinishRenewal.
        AtomicFile.WriteAllText(root.Path(AgentPaths.NextNodeKey), Pki.KeyToPem(key), AtomicFile.Private);
        AtomicFile.WriteAllText(root.Path(AgentPaths.NodeCert), renewed.CertificatePem, AtomicFile.Public);
        File.Move(root.Path(AgentPaths.NextNodeKey), root.Path(AgentPaths.NodeKey), overwrite: true);
        log.LogInformation("Renewed the node certificate: serial {Serial}, valid until {NotAfter:u}; used from the next connection",
            Pki.SerialOf(cert), cert.NotAfter.ToUniversalTime());
    }

    /// <summary>The certificate must be for this node and for the key just made, and issued by the fleet CA.</summary>
    private X509Certificate2 Check(string pem, ECDsa key)
    {
        X509Certificate2 cert;
        try { cert = X509Certificate2.CreateFromPem(pem); }
        catch (CryptographicException e) { throw new RenewalException($"the coordinator sent no usable certificate ({e.Message})"); }
        try
        {
            // Every CA of ca.crt: during a CA rotation the renewed certificate comes from the new one.
            var cas = CaBundle.Parse(File.ReadAllText(root.Path(AgentPaths.CaCert)));
            var (cn, _) = Pki.ReadSubject(cert);
            if (cn != nodeName) throw new RenewalException($"the renewed certificate names {cn}, not {nodeName}");
            if (Pki.SpkiSha256(cert.PublicKey) != Pki.SpkiSha256(new PublicKey(key)))
                throw new RenewalException("the renewed certificate is not for the key this node just made");
            if (!CaBundle.ChainsToAny(cert, cas, CertificateUsage.Client, time.GetUtcNow()))
                throw new RenewalException("the renewed certificate is not issued by the fleet CA, or not valid now");
            return cert;
        }
        catch
        {
            cert.Dispose();
            throw;
        }
    }

    private class RenewalException(string message) : Exception(message);

    private sealed class RenewalRefusedException(string message) : RenewalException(message);
}
